# The hand-written PyTorch anchor of `npm run bench`: the benchmark programs as a person writes them
# in Python (float32), timed in-process with warm-up and medians. Same programs, ranges and output
# as native/tools/bench_eager.cpp.
#
# Usage: python torch_anchor.py MIN_MS THREADS PROGRAM:BATCH[:params]...
# (":params": only the params require a gradient, not the inputs.)
import json
import math
import statistics
import sys
import time

import torch


def chain(n):
    def fn(i, p):
        v = i[0]
        for k in range(n):
            if k % 4 == 0:
                v = torch.sin(v)
            elif k % 4 == 1:
                v = p[0] * v
            elif k % 4 == 2:
                v = v + i[0]
            else:
                v = v * v
        return v

    return [((), 0, 1, True)], [1.1], fn


def composition(i, p):
    v = torch.sin((i[0] + 1) * (i[0] + 1))
    v = 0 - torch.exp(2 * v)
    return v * (v * v)


S = lambda lo, hi: ((), lo, hi, True)  # noqa: E731
PROGRAMS = {
    "gravity": ([S(1e3, 1e6), S(1e3, 1e6), S(1, 100)], [6.674e-11], lambda i, p: p[0] * (i[0] * i[1]) / torch.pow(i[2], 2)),
    "relativistic_energy": ([S(1, 10), S(1e7, 2e8)], [2.99792458e8],
                            lambda i, p: i[0] * torch.pow(p[0], 2) / torch.sqrt(1 - torch.pow(i[1] / p[0], 2))),
    "barometric": ([S(0, 1e4), S(200, 300)], [2.5e25, 4.8e-26, 9.81, 1.380649e-23],
                   lambda i, p: p[0] * torch.exp((0 - p[1]) * (p[2] * i[0]) / (p[3] * i[1]))),
    "gaussian": ([S(-3, 3)], [1.0],
                 lambda i, p: torch.exp(0 - torch.pow(i[0], 2) / (2 * torch.pow(p[0], 2))) / (math.sqrt(2 * math.pi) * p[0])),
    "harmonic_oscillator": ([S(0, 10)], [1.5, 2.0, 0.3], lambda i, p: p[0] * torch.sin(p[1] * i[0] + p[2])),
    "composition": ([S(-1, 1)], [], composition),
    "heat_step": ([((8,), 0, 1, True), ((8, 8), -1, 1, False), ((), 1e-3, 1e-2, False)], [0.5],
                  lambda i, p: i[0] + (i[2] * p[0]) * torch.matmul(i[1], i[0].unsqueeze(-1)).squeeze(-1)),
    "gravity_3d": ([((3,), 1, 10, True), S(1e3, 1e6), S(1e3, 1e6)], [6.674e-11],
                   lambda i, p: (0 - p[0] * (i[1] * i[2]) / torch.pow(torch.linalg.vector_norm(i[0], 2, -1), 3)).unsqueeze(-1) * i[0]),
}


def time_us(f, min_ms):
    for _ in range(3):
        f()
    samples = []
    start = time.perf_counter()
    while len(samples) < 5 or ((time.perf_counter() - start) * 1e3 < min_ms and len(samples) < 100000):
        t0 = time.perf_counter()
        f()
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples), len(samples)


def run(name, batch, grad, min_ms):
    inputs, params, fn = chain(int(name[5:])) if name.startswith("chain") else PROGRAMS[name]
    torch.manual_seed(1)
    xs = []
    for shape, lo, hi, batched in inputs:
        size = ((batch,) if batched else ()) + tuple(shape)
        xs.append((torch.rand(size) * (hi - lo) + lo).requires_grad_(grad == "all"))
    ps = [torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in params]

    def forward():
        with torch.no_grad():
            fn(xs, ps)

    fwd = time_us(forward, min_ms)
    bwd = time_us(lambda: fn(xs, ps).sum().backward(), min_ms)
    print(json.dumps({"program": name, "batch": batch, "grad": grad, "forward": fwd[0], "backward": bwd[0], "reps": [fwd[1], bwd[1]]}), flush=True)


def main():
    min_ms = float(sys.argv[1])
    torch.set_num_threads(int(sys.argv[2]))
    for job in sys.argv[3:]:
        name, batch, *grad = job.split(":")
        run(name, int(batch), grad[0] if grad else "all", min_ms)


if __name__ == "__main__":
    main()
