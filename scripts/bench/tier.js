// The small-program tier (native/tape.cpp) as users reach it: module.valueAndGrad at batch 1 (the
// parameters' gradients, and with every input's too) and at batch 1,000, forward + backward through
// Tensors (the tier is forward's default on small CPU batches), the batch where forward should leave
// it for libtorch, the tier's cost per op along generated chains, and programs with loops and MLPs.
'use strict';
const { timeUs, timeUsBatched } = require('./measure');
const { build, makeInputs } = require('./runtime');
const report = require('./report');

/** The programs of the crossover table, and its batches. */
const CROSSOVER_PROGRAMS = ['gravity', 'harmonic_oscillator'];
const CROSSOVER_BATCHES = [1, 16, 64, 256, 512, 1024, 2048, 4096];

/** One sample of an input of this shape: its elements spread over [lo, hi] (nested arrays for vectors and matrices). */
function sample(shape, lo, hi) {
  if (shape.length === 0) return (lo + hi) / 2;
  const size = shape.reduce((a, b) => a * b, 1);
  const flat = Array.from({ length: size }, (_, k) => lo + ((hi - lo) * (k + 1)) / (size + 1));
  return shape.length === 1
    ? flat
    : Array.from({ length: shape[0] }, (_, i) => flat.slice(i * shape[1], (i + 1) * shape[1]));
}
const mid = (prog) =>
  Object.fromEntries(Object.entries(prog.inputs).map(([name, i]) => [name, sample(i.shape, i.lo, i.hi)]));
/** A batch of n samples near `one`: scalars as typed arrays, vectors and matrices as nested arrays; shared inputs once. */
function batchOf(prog, one, n) {
  const scaled = (v, k) => (typeof v === 'number' ? v * (1 + k / 1e4) : v.map((x) => scaled(x, k)));
  return Object.fromEntries(
    Object.entries(prog.inputs).map(([name, i]) => {
      if (i.shape.length > 0 && !i.batched) return [name, one[name]];
      const samples = Array.from({ length: n }, (_, k) => scaled(one[name], k));
      return [name, i.shape.length === 0 ? Float32Array.from(samples) : samples];
    }),
  );
}

/** Per program: valueAndGrad at batch 1 (params; every input too) and at 1,000; forward+backward through Tensors. */
function tierRows(api, programs, minMs) {
  const rows = [];
  for (const [program, prog] of Object.entries(programs)) {
    if (prog.composition) continue;
    // fuse: false keeps batches of 1,000 on the tier (a fused result takes valueAndGrad's one pass there).
    const m = build(api, prog, { fuse: false });
    if (!m.singleSampleTier()) continue;
    const one = mid(prog);
    const names = Object.keys(prog.inputs);
    const batch = batchOf(prog, one, 1000);
    const onTier = build(api, prog);
    // a batch of one sample (runtime.js's seeded inputs; shared values, dt included, as tensors of their own
    // shape), every leaf requiring a gradient
    const leaves = makeInputs(api, prog, 1);
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

/**
 * forward through Tensors on the tier (its program called directly, whatever the batch) and on
 * libtorch (tier: false), without a gradient and with forward + sum + backward (every input and
 * param requiring one), per batch: where forward's thresholds (TIER_MAX_BATCH, src/api/module.ts) belong.
 */
function tierCrossover(api, programs, minMs) {
  const rows = [];
  for (const program of CROSSOVER_PROGRAMS) {
    const prog = programs[program];
    const names = Object.keys(prog.inputs);
    const onTier = build(api, prog);
    const off = build(api, prog, { tier: false });
    const tape = onTier.tier(names.map(() => true)).tape;
    for (const batch of CROSSOVER_BATCHES) {
      const inputs = makeInputs(api, prog, batch);
      const handles = names.map((n) => inputs[n].handle);
      const tierForward = (record) => new api.Tensor(tape.forward(handles, record));
      const both = (forward) => () => {
        const y = forward();
        const s = y.sum();
        s.backward();
        s.dispose();
        y.dispose();
      };
      rows.push({
        program,
        batch,
        tierValue: timeUs(() => tierForward(false).dispose(), minMs),
        libtorchValue: timeUs(() => off.forward(inputs, { grad: false }).dispose(), minMs),
        tierGrad: timeUs(
          both(() => tierForward(true)),
          minMs,
        ),
        libtorchGrad: timeUs(
          both(() => off.forward(inputs)),
          minMs,
        ),
      });
      for (const t of Object.values(inputs)) t.dispose();
    }
    onTier.dispose();
    off.dispose();
  }
  return rows;
}

/** Programs with control flow and learned components: the loop and recursion examples and a hybrid right-hand side. */
const CONTROL_PROGRAMS = {
  'sum_to_n (n = 10)': { file: 'loops/sum_to_n.neural', inputs: { n: 10 } },
  'gcd (35, 14)': { file: 'loops/gcd.neural', inputs: { a: 35, b: 14 } },
  'newton_sqrt (20 iterations)': { file: 'loops/newton_sqrt.neural', inputs: { a: 2 } },
  'factorial (n = 10, recursion)': { file: 'loops/factorial.neural', inputs: { n: 10 } },
  'even_odd (n = 10, mutual recursion)': { file: 'loops/even_odd.neural', inputs: { n: 10 } },
  'Lotka-Volterra hybrid (two 1-32-32-1 MLPs)': {
    source: '(let ((p (* x y))) (+ (- (growth x) (* beta p)) (- (* delta p) (death y))))',
    inputs: { x: 1.5, y: 0.8 },
    params: { beta: 0.5, delta: 0.25 },
    mlps: { growth: [1, 32, 32, 1], death: [1, 32, 32, 1] },
  },
};

/** Per control program at batch 1: valueAndGrad and forward + sum + backward, on the tier and with tier: false. */
function tierControlRows(api, minMs) {
  const fs = require('fs');
  const path = require('path');
  return Object.entries(CONTROL_PROGRAMS).map(([program, p]) => {
    const source = p.source ?? fs.readFileSync(path.join(__dirname, '..', '..', 'examples', p.file), 'utf8');
    const names = Object.keys(p.inputs);
    const make = (tier) =>
      api.compile(source, {
        inputs: Object.fromEntries(names.map((n) => [n, 'scalar'])),
        params: p.params ?? {},
        functions: Object.fromEntries(
          Object.entries(p.mlps ?? {}).map(([f, sizes], i) => [f, api.nn.mlp(sizes, { seed: i })]),
        ),
        tier,
      });
    const [on, off] = [make(true), make(false)];
    const leaves = Object.fromEntries(names.map((n) => [n, api.tensor([p.inputs[n]], { requiresGrad: true })]));
    const through = (m) => () => {
      const y = m.forward(leaves);
      const s = y.sum();
      if (s.requiresGrad) s.backward(); // sum_to_n, gcd, even_odd: nothing differentiable reaches the result
      y.dispose();
      s.dispose();
    };
    const row = {
      program,
      onTier: on.singleSampleTier() !== undefined,
      tierVag: timeUsBatched(() => on.valueAndGrad(p.inputs, { wrt: names }), minMs, 50),
      libtorchVag: timeUs(() => off.valueAndGrad(p.inputs, { wrt: names }), minMs),
      tierTensors: timeUs(through(on), minMs),
      libtorchTensors: timeUs(through(off), minMs),
    };
    for (const t of Object.values(leaves)) t.dispose();
    on.dispose();
    off.dispose();
    return row;
  });
}

/** The target: forward + backward through Tensors at batch 1 at most 0.15x PyTorch eager's. */
function tierTarget(rows, runtime) {
  const withTorch = rows
    .map((r) => ({ r, torch: runtime.find((x) => x.program === r.program && x.batch === 1 && !x.ops)?.torch }))
    .filter((x) => x.torch);
  if (withTorch.length === 0) return [];
  const worst = withTorch.reduce((w, x) => (x.r.tensors / x.torch.backward > w.r.tensors / w.torch.backward ? x : w));
  const met = withTorch.every((x) => x.r.tensors <= 0.15 * x.torch.backward);
  return [
    `- batch 1 forward + backward through Tensors (on the small-program tier), at most 0.15x PyTorch eager's: **${met ? 'met' : 'not met'}** (worst ${worst.r.program} ${report.ratio(worst.r.tensors, worst.torch.backward)})`,
  ];
}

/** A time, its anchor's, and their ratio: three table cells. */
const against = (ours, anchor) => [report.fmt(ours), report.fmt(anchor), report.ratio(ours, anchor)];

/** The section's text: the table of the tier's rows, the crossover table, then loops and MLPs. */
function tierReport(rows, runtime, crossover, control) {
  const cross = report.table(
    [
      'program',
      'batch',
      'forward: tier',
      'forward: libtorch',
      'tier / libtorch',
      'fwd+bwd: tier',
      'fwd+bwd: libtorch',
      'tier / libtorch',
    ],
    crossover.map((c) => [
      c.program,
      c.batch.toLocaleString('en-US'),
      ...against(c.tierValue, c.libtorchValue),
      ...against(c.tierGrad, c.libtorchGrad),
    ]),
  );
  return [
    "module.valueAndGrad (native/tape.cpp, no ATen on its path) at batch 1: the parameters' gradients, and every",
    "input's too; at batch 1,000 with every input's; and forward + sum + backward through Tensors, which take the",
    "tier by default (backward runs the reverse program straight into the leaves' .grad, without libtorch's",
    'engine). Anchors: forward + backward at batch 1 (every input and param requiring a gradient), and the',
    'unfused graph as straight-line JS.',
    '',
    report.tierTable(rows, runtime),
    '',
    'Where forward() leaves the tier for libtorch (TIER_MAX_BATCH in src/api/module.ts): forward through Tensors',
    'on the tier (its program called directly, whatever the batch) and with compile option tier: false, without a',
    'gradient and with forward + sum + backward (every input and param requiring one).',
    '',
    cross,
    '',
    'Loops, recursion and learned components at batch 1 (every input and param requiring a gradient): valueAndGrad,',
    'and forward + sum + backward through Tensors (forward + sum for sum_to_n, gcd and even_odd, whose results no gradient',
    'reaches), on the tier and with compile option tier: false (libtorch).',
    '',
    report.table(
      [
        'program',
        'on the tier',
        'valueAndGrad: tier',
        'libtorch',
        'tier / libtorch',
        'Tensors: tier',
        'libtorch',
        'tier / libtorch',
      ],
      control.map((c) => [
        c.program,
        c.onTier ? 'yes' : 'no',
        ...against(c.tierVag, c.libtorchVag),
        ...against(c.tierTensors, c.libtorchTensors),
      ]),
    ),
  ].join('\n');
}

module.exports = { tierRows, tierPerOp, tierCrossover, tierControlRows, tierTarget, tierReport };
