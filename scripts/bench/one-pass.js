// valueAndGrad at large batches (issue 13, "large batches too"): forward and the backward of the sum
// in one pass over the data (native/fused.cpp, GraphModule::value_and_sum_grad) beside the anchors'
// forward + sum + backward with only the params requiring a gradient; and the batch from which the
// pass beats the small-program tier (valueAndGrad's ONE_PASS_MIN_BATCH).
'use strict';
const { timeUs } = require('./measure');
const { eagerAnchor, torchAnchor, jobKey } = require('./anchors');
const { uniform } = require('./runtime');
const { PROGRAMS } = require('./programs');
const report = require('./report');

const PROGRAM = 'gravity';
const CROSSOVER_BATCHES = [64, 128, 256, 512, 1024, 2048, 4096];

/** The program's inputs as Float32Arrays of `batch` samples (the ranges of the other sections). */
function arrays(prog, batch) {
  return Object.fromEntries(
    Object.entries(prog.inputs).map(([name, i], k) => [name, uniform(batch, i.lo, i.hi, k + 1)]),
  );
}

const compileScalar = (api, prog, options = {}) =>
  api.compile(prog.source, {
    inputs: Object.fromEntries(Object.keys(prog.inputs).map((n) => [n, 'scalar'])),
    params: prog.params,
    ...options,
  });

/** Forward, sum and backward through Tensors with only the params requiring a gradient (as the anchors). */
function throughTensors(api, m, inputs, minMs) {
  const leaves = Object.fromEntries(Object.entries(inputs).map(([n, v]) => [n, api.tensor(v)]));
  const us = timeUs(() => {
    const out = m.forward(leaves, { batch: true });
    const total = out.sum();
    total.backward();
    total.dispose();
    out.dispose();
  }, minMs);
  for (const t of Object.values(leaves)) t.dispose();
  for (const p of m.parameters()) p.zeroGrad();
  return us;
}

/** valueAndGrad on the tier (fuse: false leaves no fused node) and the one pass called directly, per batch. */
function crossover(api, prog, minMs) {
  const names = Object.keys(prog.inputs);
  const onTier = compileScalar(api, prog, { fuse: false });
  const fused = compileScalar(api, prog);
  const graph = fused.nativeGraph(names.map((name) => ({ name, shape: [], batched: true })));
  const rows = CROSSOVER_BATCHES.map((batch) => {
    const inputs = arrays(prog, batch);
    const data = names.map((n) => inputs[n]);
    const out = new Float32Array(batch);
    const batched = names.map(() => true);
    const wanted = names.map(() => false);
    const pass = () => {
      for (const h of graph.valueAndSumGrad(data, batched, batch, out, wanted).params) {
        h.item();
        h.dispose();
      }
    };
    return {
      batch,
      tier: timeUs(() => onTier.valueAndGrad(inputs, { batch: true }), minMs),
      pass: timeUs(pass, minMs),
    };
  });
  onTier.dispose();
  fused.dispose();
  return rows;
}

/** valueAndGrad writing into one reused array (option out): no new array at all. */
function withOut(m, inputs, batch, minMs) {
  const out = new Float32Array(batch);
  return { oursOut: timeUs(() => m.valueAndGrad(inputs, { batch: true, out }), minMs) };
}

/**
 * fit() steps at batch 100,000 (full batch, Adam, each loss): the loss fused into the one pass
 * (the default, the result a fused node) against compile option fuse: false (forward, at::*_loss and
 * autograd's backward). Per added step: fits of 20 and 220 epochs, the call's fixed cost left out.
 */
async function fitSteps(api, prog) {
  const batch = 1e5;
  const inputs = Object.fromEntries(
    Object.entries(arrays(prog, batch)).map(([name, v]) => [name, Float32Array.from(v)]),
  );
  const target = Float32Array.from({ length: batch }, (_, i) => Math.sin(i));
  const rows = [];
  for (const loss of ['mse', 'mae', 'huber']) {
    const perStep = async (fuse) => {
      const m = compileScalar(api, prog, { fuse, tier: false });
      const run = async (epochs) => {
        const t0 = process.hrtime.bigint();
        await api.fit(m, { inputs, target }, { optimizer: 'adam', lr: 1e-3, epochs, batchSize: batch, loss });
        return Number(process.hrtime.bigint() - t0) / 1e3;
      };
      await run(5);
      const us = ((await run(220)) - (await run(20))) / 200;
      m.dispose();
      return us;
    };
    rows.push({ loss, fused: await perStep(true), unfused: await perStep(false) });
  }
  return rows;
}

async function onePassSection(api, cfg, python) {
  const prog = PROGRAMS[PROGRAM];
  const jobs = [1e5, 1e6].map((batch) => ({ program: PROGRAM, batch, grad: 'params' }));
  const eager = eagerAnchor(jobs, cfg.minMs, cfg.threads);
  const torch = python.python ? torchAnchor(python.python, jobs, cfg.minMs, cfg.threads) : undefined;
  const rows = jobs.map((j) => {
    const m = compileScalar(api, prog);
    const inputs = arrays(prog, j.batch);
    const row = {
      program: j.program,
      batch: j.batch,
      ours: timeUs(() => m.valueAndGrad(inputs, { batch: true }), cfg.minMs),
      ...withOut(m, inputs, j.batch, cfg.minMs),
      tensors: throughTensors(api, m, inputs, cfg.minMs),
      eager: eager.get(jobKey(j))?.backward,
      torch: torch?.get(jobKey(j))?.backward,
    };
    m.dispose();
    return row;
  });
  return { rows, crossover: crossover(api, prog, cfg.minMs), fit: await fitSteps(api, prog) };
}

/**
 * The target: gravity at 1e6, forward + backward with only G requiring a gradient, at most
 * 0.5x PyTorch eager's: through our Tensors (forward, sum, backward, as the anchor), and on its own
 * line valueAndGrad, which does the same in one call.
 */
function onePassTarget(section) {
  const r = section.rows.find((x) => x.batch === 1e6);
  if (!r?.torch) return [];
  const verdict = (us) => (us <= 0.5 * r.torch ? 'met' : 'not met');
  return [
    `- gravity batch 1,000,000 forward + backward with only G requiring a gradient, at most 0.5x PyTorch eager's, through our Tensors (forward + sum + backward): **${verdict(r.tensors)}** (${report.ratio(r.tensors, r.torch)})`,
    `- the same by valueAndGrad in one call: **${verdict(r.ours)}** (${report.ratio(r.ours, r.torch)}; with option out, a reused value array, ${report.ratio(r.oursOut, r.torch)})`,
  ];
}

function onePassReport(section) {
  const main = report.table(
    [
      'program',
      'batch',
      'valueAndGrad (one pass)',
      'with out',
      'ours via Tensors',
      'libtorch C++',
      'one pass / C++',
      'PyTorch',
      'one pass / PyTorch',
      'with out / PyTorch',
      'via Tensors / PyTorch',
    ],
    section.rows.map((r) => [
      r.program,
      r.batch.toLocaleString('en-US'),
      report.fmt(r.ours),
      report.fmt(r.oursOut),
      report.fmt(r.tensors),
      report.fmt(r.eager),
      report.ratio(r.ours, r.eager),
      report.fmt(r.torch),
      report.ratio(r.ours, r.torch),
      report.ratio(r.oursOut, r.torch),
      report.ratio(r.tensors, r.torch),
    ]),
  );
  const cross = report.table(
    ['batch', 'tier (valueAndGrad, fuse: false)', 'one pass (native call, reused out)', 'one pass / tier'],
    section.crossover.map((c) => [
      c.batch.toLocaleString('en-US'),
      report.fmt(c.tier),
      report.fmt(c.pass),
      report.ratio(c.pass, c.tier),
    ]),
  );
  return [
    `${PROGRAM}, only the params' gradients (G): module.valueAndGrad on Float32Arrays, forward and the backward of the`,
    "sum in one pass over the data, returning a new Float32Array (taken unzeroed, from malloc's heap) or writing",
    'into a reused one (option out); beside it our forward + sum + backward through Tensors (whose forward, once',
    "the node's backward has been given a sum's gradient, takes the params' gradients in its pass) and",
    'the anchors doing the same with only G requiring a gradient.',
    '',
    main,
    '',
    'Where valueAndGrad switches from the small-program tier to the one pass (ONE_PASS_MIN_BATCH in',
    'src/api/value-and-grad.ts): both engines on the same batches.',
    '',
    cross,
    '',
    `fit() on ${PROGRAM} at batch 100,000 (full batch, Adam, float32), per step: the loss fused into the one pass`,
    "(forward, the loss's terms and slopes, backward, each row read once: native/fused.cpp, fused_loss_grad) against",
    "compile option fuse: false (forward, ATen's loss and autograd's backward).",
    '',
    report.table(
      ['loss', 'fused into the pass', 'fuse: false', 'fused / unfused'],
      section.fit.map((f) => [f.loss, report.fmt(f.fused), report.fmt(f.unfused), report.ratio(f.fused, f.unfused)]),
    ),
  ].join('\n');
}

module.exports = { onePassSection, onePassTarget, onePassReport };
