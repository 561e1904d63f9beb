// Our side of the heat 2-D benchmark, one measurement per process (scripts/bench/heat2d.js starts
// it): the program of scripts/bench/heat2d-problem.js compiled with our library and run as a user
// would, module.forward, backward of the loss, alpha's gradient read. float32.
//
// Usage: node heat2d_ours.js time N STEPS REPS THREADS CHECKPOINT
//        node heat2d_ours.js memory N STEPS THREADS CHECKPOINT
//   CHECKPOINT  default (the compile option left out), or a value of the compile option `checkpoint`
// stdout: one JSON line, as the anchors print: {"ms" | "peakKb", "loss", "grad"}.
'use strict';
const fs = require('fs');
const path = require('path');
const { median } = require('./measure');
const problem = require('./heat2d-problem');

const api = require(path.resolve(__dirname, '..', '..', 'dist'));

function parse(argv) {
  const [mode, n, steps, ...rest] = argv;
  const [reps, threads, checkpoint] = mode === 'memory' ? [0, ...rest] : rest;
  const option =
    checkpoint === 'default' ? {} : { checkpoint: /^\d+$/.test(checkpoint) ? Number(checkpoint) : checkpoint };
  return { mode, n: Number(n), steps: Number(steps), reps: Number(reps), threads: Number(threads), option };
}

/** The inputs of an n x n problem, as Tensors made once (the field is data a user holds). */
function inputs(n) {
  return { u0: api.tensor(problem.initialField(n), { shape: [n, n] }), h: problem.spacing(n), dt: problem.timeStep(n) };
}

/** One forward+backward; alpha's gradient is read and zeroed for the next run. */
function forwardBackward(module, values) {
  const loss = module.forward(values);
  loss.backward();
  const alpha = module.namedParameters().alpha;
  const result = { loss: loss.item(), grad: alpha.grad.item() };
  alpha.zeroGrad();
  loss.dispose();
  return result;
}

function statusKb(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return Number(m[1]);
}

function build(a, n) {
  const declared = { u0: [n, n], h: 'scalar', dt: 'scalar' };
  return api.compile(problem.heatSource(a.steps), { inputs: declared, params: { alpha: 1 }, ...a.option });
}

function main() {
  const a = parse(process.argv.slice(2));
  api.setNumThreads(a.threads);
  const module = build(a, a.n);
  const values = inputs(a.n);
  let result;
  let out;
  if (a.mode === 'memory') {
    // Warm-up on a small field, as the anchors do; the cache of freed blocks is emptied, so the
    // measured run's blocks are all new.
    const warm = build(a, problem.WARM_N);
    forwardBackward(warm, inputs(problem.WARM_N));
    warm.dispose();
    api.emptyCpuCache();
    fs.writeFileSync('/proc/self/clear_refs', '5'); // resets the peak-RSS mark to the current RSS
    const before = statusKb('VmRSS');
    result = forwardBackward(module, values);
    out = { peakKb: statusKb('VmHWM') - before };
  } else {
    forwardBackward(module, values);
    const samples = [];
    for (let r = 0; r < a.reps; r++) {
      const t0 = process.hrtime.bigint();
      result = forwardBackward(module, values);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    out = { ms: median(samples) };
  }
  process.stdout.write(`${JSON.stringify({ ...out, ...result })}\n`);
}

main();
