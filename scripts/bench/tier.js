// The small-program tier (native/tape.cpp) as users reach it: module.valueAndGrad at batch 1 (the
// parameters' gradients, and with every input's too) and at batch 1,000, forward + backward through
// Tensors with compile option tier: true, and the tier's cost per op along generated chains.
'use strict';
const { timeUs, timeUsBatched } = require('./measure');

const mid = (prog) => Object.fromEntries(Object.entries(prog.inputs).map(([name, i]) => [name, (i.lo + i.hi) / 2]));
const declared = (prog) => Object.fromEntries(Object.keys(prog.inputs).map((name) => [name, 'scalar']));

/** Per program: valueAndGrad at batch 1 (params; every input too) and at 1,000; forward+backward through Tensors. */
function tierRows(api, programs, minMs) {
  const rows = [];
  for (const [program, prog] of Object.entries(programs)) {
    if (prog.composition || Object.values(prog.inputs).some((i) => i.shape.length > 0)) continue;
    // fuse: false keeps batches of 1,000 on the tier (a fused result takes valueAndGrad's one pass there).
    const m = api.compile(prog.source, { inputs: declared(prog), params: prog.params, fuse: false });
    if (!m.singleSampleTier()) continue;
    const one = mid(prog);
    const names = Object.keys(prog.inputs);
    const batch = Object.fromEntries(
      names.map((n) => [n, Float32Array.from({ length: 1000 }, (_, k) => one[n] * (1 + k / 1e4))]),
    );
    const onTier = api.compile(prog.source, { inputs: declared(prog), params: prog.params, tier: true });
    const leaves = Object.fromEntries(names.map((n) => [n, api.tensor([one[n]], { requiresGrad: true })]));
    const throughTensors = () => {
      const y = onTier.forward(leaves);
      const s = y.sum();
      s.backward();
      y.dispose();
      s.dispose();
    };
    rows.push({
      program,
      params: timeUsBatched(() => m.valueAndGrad(one), minMs, 200),
      all: timeUsBatched(() => m.valueAndGrad(one, { wrt: names }), minMs, 200),
      batch1000: timeUs(() => m.valueAndGrad(batch, { batch: true, wrt: names }), minMs),
      tensors: timeUs(throughTensors, minMs),
    });
    for (const t of Object.values(leaves)) t.dispose();
    m.dispose();
    onTier.dispose();
  }
  return rows;
}

/** The tier's cost per op: valueAndGrad of chains of n ops at batch 1 and per element at batch 1,000. */
function tierPerOp(api, chainSource, ns, minMs) {
  return ns.map((n) => {
    const m = api.compile(chainSource(n), { inputs: { x: 'scalar' }, params: { a: 0.5 }, fuse: false });
    const xs = Float32Array.from({ length: 1000 }, (_, k) => 0.1 + k / 2000);
    const single = timeUsBatched(() => m.valueAndGrad({ x: 0.3 }), minMs, 50);
    const batched = timeUs(() => m.valueAndGrad({ x: xs }, { batch: true }), minMs);
    const ops = m.singleSampleTier() ? n : NaN;
    m.dispose();
    return { n, perOpNs: (single * 1e3) / ops, perElementOpNs: (batched * 1e3) / (1000 * ops) };
  });
}

module.exports = { tierRows, tierPerOp };
