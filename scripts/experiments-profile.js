// Where the full experiments run's time goes, piece by piece, and where the tier's loop batch cap
// comes from: the figures docs/benchmarks.md's gaps section and src/compiler/tape.ts cite.
// node scripts/experiments-profile.js (after the build); prints markdown tables. 1 libtorch thread.
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '..');
const nc = require(path.join(root, 'dist'));
const tape = require(path.join(root, 'dist/compiler/tape'));
const { EQUATIONS } = require(path.join(root, 'dist/experiments/feynman'));
const { program } = require(path.join(root, 'dist/experiments/programs'));
const { lotkaVolterraSpec, pendulumSpec } = require(path.join(root, 'dist/experiments/systems'));
const { addNoise, Rng } = require(path.join(root, 'dist/experiments/random'));
nc.setNumThreads(1);

const usPer = (f, n) => {
  for (let i = 0; i < Math.max(2, n / 10); i++) nc.tidy(f);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) nc.tidy(f);
  return Number(process.hrtime.bigint() - t0) / n / 1e3;
};
const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} us`);
/** Runs f with the tier taking every batch (its caps lifted), as a measurement of what the caps avoid. */
function uncapped(f) {
  const takes = tape.tierTakes;
  tape.tierTakes = () => true;
  try {
    return f();
  } finally {
    tape.tierTakes = takes;
  }
}

/** Feynman: one step's parts at the experiment's batch of 1,024 (its first equation). */
function feynmanStep() {
  const eq = EQUATIONS[0];
  const names = Object.keys(eq.inputs);
  const B = 1024;
  const rng = new Rng(1);
  const x = Object.fromEntries(
    names.map((k) => [k, nc.tensor(Float32Array.from(rng.uniforms(B, eq.inputs[k].lo, eq.inputs[k].hi)))]),
  );
  const y = nc.tensor(Float32Array.from(rng.uniforms(B, 0, 1)));
  const ones = Object.fromEntries(Object.keys(eq.constants).map((k) => [k, 1]));
  const compiled = nc.compile(program(`feynman/${eq.name}`), { inputs: names, params: ones, tier: false });
  const net = nc.nn.mlp([names.length, 64, 64, 64, 64, 1], { activation: 'relu', seed: 1 });
  const baseline = nc.compile(`(net ${names.join(' ')})`, { inputs: names, functions: { net } });
  const step = (m) => () => nc.losses.mse(m.forward(x, { batch: true }), y).backward();
  return [
    ['Feynman step: compiled model forward + backward (batch 1,024)', usPer(step(compiled), 300)],
    ['Feynman step: 4 x 64 ReLU MLP baseline forward + backward (batch 1,024)', usPer(step(baseline), 300)],
  ];
}

/** A neural ODE (3 x 64 tanh) epoch of the experiments' multiple shooting, on libtorch and on the tier. */
async function neuralOde(spec) {
  const source = fs.readFileSync(path.join(root, 'examples', `${spec.file}.neural`), 'utf8');
  const truth = nc.compile(source, { inputs: spec.state, params: spec.truth, dtype: 'float64' });
  const t = Array.from({ length: Math.round(spec.tEnd / spec.dt) + 1 }, (_, i) => i * spec.dt);
  const clean = nc.odeint(truth, spec.y0, t, { method: 'rk4', state: spec.state, grad: false }).toArray();
  const noisy = addNoise(new Rng(5), clean.flat(), 0.02);
  const n = spec.state.length;
  const observations = clean.map((_, i) => Array.from(noisy.subarray(i * n, (i + 1) * n)));
  const epoch = async (onTier) => {
    const f = nc.nn.mlp([n, 64, 64, 64, n], { seed: 22 });
    const m = nc.compile(`(f ${spec.state.join(' ')})`, { inputs: spec.state, functions: { f }, tier: onTier });
    const options = {
      optimizer: 'adam',
      lr: 1e-2,
      epochs: 50,
      ode: { method: 'rk4', state: spec.state, windowSteps: 25, trainStarts: true },
    };
    const run = () => nc.fit(m, { t, observations }, options);
    const t0 = Date.now();
    const r = await (onTier ? uncapped(run) : run());
    if (r.tier !== onTier) throw new Error('the fit did not run where asked');
    return ((Date.now() - t0) / 50) * 1e3;
  };
  const windows = Math.floor((t.length - 1) / 25);
  return [
    [`${spec.name} neural ODE epoch, ${windows} windows, libtorch`, await epoch(false)],
    [`${spec.name} neural ODE epoch, ${windows} windows, tier`, await epoch(true)],
  ];
}

/**
 * An algebraic fit of a 3-32-32-1 tanh MLP (1,217 weights) through fit() (Adam), per step, on the tier and on
 * libtorch, at growing batches: the algebraic side of TIER_MAX_WEIGHT_WORK.
 */
async function mlpFitBatch() {
  const rows = [];
  for (const B of [16, 32, 64, 128]) {
    const rng = new Rng(3);
    const inputs = { x: rng.uniforms(B, -1, 1), y: rng.uniforms(B, -1, 1), z: rng.uniforms(B, -1, 1) };
    const data = { inputs, target: inputs.x.map((v, i) => Math.sin(v) * inputs.y[i] + inputs.z[i]) };
    const step = async (onTier) => {
      const f = nc.nn.mlp([3, 32, 32, 1], { seed: 4 });
      const m = nc.compile('(f x y z)', { inputs: ['x', 'y', 'z'], functions: { f }, tier: onTier });
      const epochs = 400;
      const run = () => nc.fit(m, data, { optimizer: 'adam', lr: 1e-3, epochs });
      const t0 = Date.now();
      const r = await (onTier ? uncapped(run) : run());
      if (r.tier !== onTier) throw new Error('the fit did not run where asked');
      return ((Date.now() - t0) / epochs) * 1e3;
    };
    const weights = 1217 * B;
    rows.push([`3-32-32-1 MLP fit step, ${B} samples (${weights} weight work), tier`, await step(true)]);
    rows.push([`3-32-32-1 MLP fit step, ${B} samples (${weights} weight work), libtorch`, await step(false)]);
  }
  return rows;
}

/** newton_sqrt's valueAndGrad over a batch, on the tier and on libtorch: where TIER_MAX_LOOP_BATCH sits. */
function loopBatch() {
  const source = fs.readFileSync(path.join(root, 'examples', 'loops', 'newton_sqrt.neural'), 'utf8');
  const on = nc.compile(source, { inputs: { a: 'scalar' } });
  const off = nc.compile(source, { inputs: { a: 'scalar' }, tier: false });
  return [100, 256, 1000].flatMap((B) => {
    const a = Float32Array.from({ length: B }, (_, i) => 1 + i / B);
    const call = (m) => () => m.valueAndGrad({ a }, { batch: true, wrt: ['a'] });
    const n = Math.max(5, Math.round(2e4 / B));
    return [
      [`newton_sqrt valueAndGrad, batch ${B}, tier`, uncapped(() => usPer(call(on), n))],
      [`newton_sqrt valueAndGrad, batch ${B}, libtorch`, usPer(call(off), n)],
    ];
  });
}

(async () => {
  const rows = [
    ...feynmanStep(),
    ...(await neuralOde(lotkaVolterraSpec)),
    ...(await neuralOde(pendulumSpec)),
    ...(await mlpFitBatch()),
    ...loopBatch(),
  ];
  console.log(
    ['| measurement | time |', '|---|---|', ...rows.map(([what, us]) => `| ${what} | ${fmt(us)} |`)].join('\n'),
  );
})();
