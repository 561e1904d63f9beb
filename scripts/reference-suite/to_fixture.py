"""Turns the records of conftest.py into tests/fixtures/reference-suite.json: one case per distinct
(program, inputs, batch, limit, outcome), scalars as numbers, tensors as {shape, data}, batches cut to
their first 64 samples, non-finite numbers as strings (JSON has none)."""
import json, math, sys

SAMPLES = 64


def value(v):
    if isinstance(v, dict):
        return v["data"][0] if v["shape"] == [] else {"shape": v["shape"], "data": v["data"]}
    return v


def first_samples(v):
    if isinstance(v, dict) and v["shape"][0] > SAMPLES:
        per = len(v["data"]) // v["shape"][0]
        return {"shape": [SAMPLES] + v["shape"][1:], "data": v["data"][: SAMPLES * per]}
    return v


def finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: finite(w) for k, w in v.items()}
    if isinstance(v, list):
        return [finite(w) for w in v]
    return v


def main(records, out):
    cases, seen = [], set()
    for r in json.load(open(records)):
        case = {"test": r["test"], "source": r["source"].strip(), "inputs": {k: value(v) for k, v in r["inputs"].items()}}
        if r["via"] == "DirectModule.forward_batch":
            case["batch"] = True
            case["inputs"] = {k: first_samples(v) for k, v in case["inputs"].items()}
        if "limit" in r:
            case["limit"] = r["limit"]
        if "error" in r:
            case["error"] = r["error"]
        else:
            case["result"] = first_samples(value(r["result"])) if case.get("batch") else value(r["result"])
        case = finite(case)
        key = json.dumps({k: v for k, v in case.items() if k != "test"}, sort_keys=True)
        if key not in seen:
            seen.add(key)
            cases.append(case)
    with open(out, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases) + "\n]\n")
    print(f"{len(cases)} cases -> {out}")


main(*sys.argv[1:])
