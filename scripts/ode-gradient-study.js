// The two ways fit() on the small-program tier takes an ODE fit's gradient, timed on representative
// problems: forward sensitivities (ode.sensitivities 'forward') against the reverse sweep over the
// kept steps ('reverse'). Prints one row per problem: the state's components n, the gradient's
// columns P, each mode's CPU microseconds per fit() step (one loss and gradient and an Adam update,
// the fit's fixed cost left out), for fixed steps each mode's microseconds per integration step
// (fits with four substeps per interval against one: the work both modes share each fit step
// left out), and what 'auto' picks.
// The rule (src/train/ode-gradient.ts) and the figures it rests on: docs/benchmarks.md.
// Reads the built dist/: node scripts/ode-gradient-study.js [--only SUBSTRING] [--json]
'use strict';
const fs = require('fs');
const path = require('path');
const root = process.env.NC_ROOT ?? path.resolve(__dirname, '..');
const nc = require(path.join(root, 'dist'));

nc.setNumThreads(1);
const LV = fs.readFileSync(path.join(root, 'examples', 'lotka_volterra.neural'), 'utf8');
const grid = (steps, dt) => Array.from({ length: steps + 1 }, (_, i) => i * dt);

/** Observations of dy/dt = f(t, y) from y0 at the times, by float64 RK4 with 10 substeps per interval. */
function simulate(f, y0, t) {
  const out = [y0];
  for (let i = 1; i < t.length; i++) {
    let y = out[i - 1];
    const h = (t[i] - t[i - 1]) / 10;
    for (let s = 0; s < 10; s++) {
      const t0 = t[i - 1] + s * h;
      const add = (a, b, w) => a.map((v, j) => v + w * b[j]);
      const k1 = f(t0, y);
      const k2 = f(t0 + h / 2, add(y, k1, h / 2));
      const k3 = f(t0 + h / 2, add(y, k2, h / 2));
      const k4 = f(t0 + h, add(y, k3, h));
      y = y.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]));
    }
    out.push(y);
  }
  return out;
}

const lvF = (_, [x, y]) => [x - 0.5 * x * y, 0.2 * x * y - 0.5 * y];
const lvData = { t: grid(120, 0.1), observations: simulate(lvF, [10, 5], grid(120, 0.1)) };
const LV_START = { alpha: 1.1, beta: 0.45, delta: 0.25, gamma: 0.55 };
const GOMPERTZ = '(* r x (log (/ K x)))';
const NEURAL_DECAY = '(+ (* (- k) y) (net y))';
const neural = (width) => () => ({ net: nc.nn.mlp([1, width, width, 1], { seed: 7 }) });
const PENDULUM = '[omega (- (- 0 (* g_L (sin theta))) (* b omega))]';
const pendulumF = (_, [th, om]) => [om, -9.81 * Math.sin(th) - 0.3 * om];
const pendulumData = { t: grid(200, 0.05), observations: simulate(pendulumF, [1, 0], grid(200, 0.05)) };
const decayData = { t: grid(100, 0.05), observations: simulate((_, [y]) => [-0.7 * y], [2], grid(100, 0.05)) };
const LOGISTIC = '(* r x (- 1 (/ x K)))';
const logisticData = {
  t: grid(100, 0.1),
  observations: simulate((_, [x]) => [0.9 * x * (1 - x / 10)], [0.5], grid(100, 0.1)),
};
const LORENZ = '[(* s (- v u)) (- (* u (- r w)) v) (- (* u v) (* q w))]';
const lorenzF = (_, [u, v, w]) => [10 * (v - u), u * (28 - w) - v, u * v - (8 / 3) * w];
const lorenzData = { t: grid(100, 0.01), observations: simulate(lorenzF, [1, 1, 20], grid(100, 0.01)) };
const HYBRID = '(let ((p (* x y))) [(- (growth x) (* beta p)) (- (* delta p) (death y))])';
const hybrid = (width) => () => ({
  growth: nc.nn.mlp([1, width, width, 1], { seed: 30 }),
  death: nc.nn.mlp([1, width, width, 1], { seed: 31 }),
});
const lv = { state: ['x', 'y'] };
const rk4 = { method: 'rk4', windowSteps: 0 };
const dopri5 = { method: 'dopri5', rtol: 1e-6, atol: 1e-8, windowSteps: 0 };

const PROBLEMS = [
  ['decay (1 state, 1 constant), RK4 100 steps', '(* (- k) y)', { k: 0.5 }, decayData, { ...rk4, state: ['y'] }],
  [
    'decay, Euler 400 steps',
    '(* (- k) y)',
    { k: 0.5 },
    decayData,
    { ...rk4, method: 'euler', step: 0.0125, state: ['y'] },
  ],
  ['decay, dopri5', '(* (- k) y)', { k: 0.5 }, decayData, { ...dopri5, state: ['y'] }],
  [
    'decay, RK4 100 steps, trained start',
    '(* (- k) y)',
    { k: 0.5 },
    decayData,
    { ...rk4, state: ['y'], trainStarts: true },
  ],
  [
    'logistic (1 state, 2 constants), RK4 100 steps',
    LOGISTIC,
    { r: 0.7, K: 8 },
    logisticData,
    { ...rk4, state: ['x'] },
  ],
  ['logistic, dopri5', LOGISTIC, { r: 0.7, K: 8 }, logisticData, { ...dopri5, state: ['x'] }],
  [
    'Gompertz (1 state, 2 constants: log, div), RK4 100 steps',
    GOMPERTZ,
    { r: 0.7, K: 8 },
    logisticData,
    { ...rk4, state: ['x'] },
  ],
  ...[8, 32, 64].map((width) => [
    `decay plus a 1-${width}-${width}-1 MLP of y, RK4 100 steps`,
    NEURAL_DECAY,
    { k: 0.5 },
    decayData,
    { ...rk4, state: ['y'] },
    {},
    neural(width),
  ]),
  [
    'pendulum (2 states, 2 constants), RK4 200 steps',
    PENDULUM,
    { g_L: 8, b: 0.5 },
    pendulumData,
    { ...rk4, state: ['theta', 'omega'] },
  ],
  ['pendulum, dopri5', PENDULUM, { g_L: 8, b: 0.5 }, pendulumData, { ...dopri5, state: ['theta', 'omega'] }],
  ['Lotka-Volterra (2 states, 4 constants), RK4 120 steps', LV, LV_START, lvData, { ...lv, ...rk4 }],
  ['Lotka-Volterra, Euler 480 steps', LV, LV_START, lvData, { ...lv, ...rk4, method: 'euler', step: 0.025 }],
  ['Lotka-Volterra, dopri5', LV, LV_START, lvData, { ...lv, ...dopri5 }],
  [
    'Lotka-Volterra, RK4, 12 windows of 10, trained starts',
    LV,
    LV_START,
    lvData,
    { ...lv, method: 'rk4', windowSteps: 10, trainStarts: true },
  ],
  [
    'Lotka-Volterra, RK4, 12 windows of 10, minibatches of 4',
    LV,
    LV_START,
    lvData,
    { ...lv, method: 'rk4', windowSteps: 10 },
    { batchSize: 4 },
  ],
  [
    'Lorenz (3 states, 3 constants), RK4 100 steps',
    LORENZ,
    { s: 9, r: 27, q: 2.5 },
    lorenzData,
    { ...rk4, state: ['u', 'v', 'w'] },
  ],
  ...[4, 32].map((width) => [
    `hybrid LV, two 1-${width}-${width}-1 MLPs, RK4 120 steps`,
    HYBRID,
    { beta: 0.45, delta: 0.25 },
    lvData,
    { ...lv, ...rk4 },
    {},
    hybrid(width),
  ]),
];

/** A problem's model, freshly compiled (its MLPs made anew). */
function compileProblem(problem) {
  const [, source, params, , , , functions] = problem;
  return nc.compile(source, { params, ...(functions && { functions: functions() }) });
}

/** The problem's state components. */
const componentsOf = (problem) => (problem[4].state ?? ['y']).length;

/** CPU microseconds of a fit() of `epochs` epochs in a mode (the process's: its main thread waits), and its steps. */
async function timeFit(problem, sensitivities, epochs, substeps = 1) {
  const [, , , data, ode, extra = {}] = problem;
  const model = compileProblem(problem);
  const step = substeps > 1 ? { step: (data.t[1] - data.t[0]) / substeps } : {};
  // CPU time, not wall time: the fit's thread descheduled on a shared machine does not count.
  const t0 = process.cpuUsage();
  const r = await nc.fit(model, data, {
    optimizer: 'adam',
    lr: 1e-3,
    epochs,
    ...extra,
    ode: { ...ode, ...step, sensitivities },
  });
  const used = process.cpuUsage(t0);
  const us = used.user + used.system;
  model.dispose();
  if (!r.tier || r.odeGradient !== sensitivities) throw new Error(`${problem[0]}: not on the tier in ${sensitivities}`);
  return { us, steps: r.steps };
}

/**
 * Microseconds per fit() step in each mode: fits of `few` and `few + more` epochs, the modes
 * interleaved over five rounds, the least of each, per added step;
 * a fit's fixed cost (its thread, the program's tape) is left out.
 */
async function perStep(problem, substeps = 1) {
  const few = 5;
  const warm = await timeFit(problem, 'reverse', few, substeps);
  const perEpoch = warm.steps / few;
  const more = Math.max(10, Math.round((1.5e5 * few) / warm.us));
  const best = { forward: [Infinity, Infinity], reverse: [Infinity, Infinity] };
  for (let round = 0; round < 5; round++)
    for (const mode of ['forward', 'reverse'])
      for (const [k, epochs] of [few, few + more].entries())
        best[mode][k] = Math.min(best[mode][k], (await timeFit(problem, mode, epochs, substeps)).us);
  const of = ([small, large]) => (large - small) / (more * perEpoch);
  return { forward: of(best.forward), reverse: of(best.reverse) };
}

/** The gradient's columns as fit counts them: the params the tape reads (every element), plus n with trained starts. */
function columns(problem) {
  const model = compileProblem(problem);
  const all = Object.values(model.namedParameters()).reduce((s, t) => s + t.size, 0);
  model.dispose();
  return all + (problem[4].trainStarts ? componentsOf(problem) : 0);
}

/** What 'auto' picks for the problem. */
async function autoPick(problem) {
  const [, , , data, ode, extra = {}] = problem;
  const model = compileProblem(problem);
  const r = await nc.fit(model, data, { epochs: 1, ...extra, ode });
  model.dispose();
  return r.odeGradient;
}

(async () => {
  const rows = [];
  const only = process.argv.indexOf('--only');
  const chosen = only < 0 ? PROBLEMS : PROBLEMS.filter((p) => p[0].includes(process.argv[only + 1]));
  for (const problem of chosen) {
    const step = await perStep(problem);
    // Fixed steps: the cost per integration step, from fits with 4 substeps per interval against 1.
    const fixed = problem[4].method !== 'dopri5' && !problem[4].step;
    const fine = fixed ? await perStep(problem, 4) : undefined;
    // Observation intervals integrated per fit step: the trajectory's, or the step's windows'.
    const [k, intervals] = [problem[4].windowSteps, problem[3].t.length - 1];
    const windows = k ? Math.floor(intervals / k) : 1;
    const steps = k ? Math.min(problem[5]?.batchSize ?? windows, windows) * k : intervals;
    const marginal = (mode) => (fine ? (fine[mode] - step[mode]) / (3 * steps) : undefined);
    rows.push({
      problem: problem[0],
      n: componentsOf(problem),
      P: columns(problem),
      forward: step.forward,
      reverse: step.reverse,
      forwardPerIntegrationStep: marginal('forward'),
      reversePerIntegrationStep: marginal('reverse'),
      auto: await autoPick(problem),
    });
    if (!process.argv.includes('--json')) process.stderr.write('.');
  }
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows));
    return;
  }
  const us = (v) => (v === undefined ? '' : v.toFixed(v < 10 ? 2 : 1));
  console.log(
    '\n| problem | n | P | forward us/step | reverse us/step | forward / reverse | per integration step, forward / reverse (us) | auto |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.problem} | ${r.n} | ${r.P} | ${us(r.forward)} | ${us(r.reverse)} | ${(r.forward / r.reverse).toFixed(2)} | ` +
        `${r.forwardPerIntegrationStep === undefined ? '' : `${us(r.forwardPerIntegrationStep)} / ${us(r.reversePerIntegrationStep)}`} | ${r.auto} |`,
    );
})();
