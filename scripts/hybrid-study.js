// Study of the experiments' hybrid fits (pendulum, Lotka-Volterra) alone, trained as the experiments
// train them (fit() with multiple shooting, trained window starts, Adam then an L-BFGS polish), so one
// remedy costs seconds. node scripts/hybrid-study.js SYSTEM [key=value ...] (SYSTEM: pendulum, lv);
// prints one JSON line with each constant's error in %. Findings: docs/training.md.
// Keys: lam (relative weight penalty; a comma list trains Adam at each in turn), polish (free: the
// L-BFGS polish without the penalty), refine (L-BFGS steps, 0 none), epochs, seed (noise seed), mseed
// (MLP seed), window, starts (trained|observed), scale (1: standardise the MLPs' inputs from the
// data's range), oscale (multiply every MLP's output by this), oracle (1: the noise floor, the data's
// own right-hand side with the MLPs' part known).
const path = require('path');
const root = process.env.NC_ROOT ?? path.resolve(__dirname, '..');
const nc = require(path.join(root, 'dist'));
const { addNoise, Rng } = require(path.join(root, 'dist/experiments/random'));
const { lotkaVolterraSpec, pendulumSpec } = require(path.join(root, 'dist/experiments/systems'));
const { rhsInputs } = require(path.join(root, 'dist/experiments/ode'));

const SYSTEMS = { pendulum: pendulumSpec, lv: lotkaVolterraSpec };
const spec = SYSTEMS[process.argv[2]];
if (!spec) throw new Error(`usage: node scripts/hybrid-study.js ${Object.keys(SYSTEMS).join('|')} [key=value ...]`);
const args = Object.fromEntries(process.argv.slice(3).map((a) => a.split('=')));
const o = {
  lam: String(args.lam ?? '1e-4')
    .split(',')
    .map(Number),
  polish: args.polish ?? 'penalised',
  refine: Number(args.refine ?? 5),
  epochs: Number(args.epochs ?? 3000),
  seed: Number(args.seed ?? 6),
  mseed: Number(args.mseed ?? 30),
  window: Number(args.window ?? 25),
  starts: args.starts ?? 'trained',
  scale: Number(args.scale ?? 0),
  oscale: Number(args.oscale ?? 1),
  oracle: Number(args.oracle ?? 0),
};
nc.setNumThreads(1);

// Data as the experiment makes them: float64 RK4 of the hybrid's truth, 2 % noise from the seed.
const steps = Math.round(spec.tEnd / spec.dt);
const times = Array.from({ length: steps + 1 }, (_, i) => i * spec.dt);
const truth = nc.compile(spec.hybrid.truth, {
  inputs: rhsInputs(spec, spec.hybrid.truth),
  params: spec.truth,
  dtype: 'float64',
});
const clean = nc.tidy(() =>
  nc.odeint(truth, spec.y0, times, { method: 'rk4', state: spec.state, grad: false }).toArray(),
);
const noisy = addNoise(new Rng(o.seed), clean.flat(), 0.02);
const n = spec.state.length;
const observations = clean.map((_, i) => Array.from(noisy.subarray(i * n, (i + 1) * n)));

// Each MLP call's argument standardised from the observed range (scale=1), its output scaled (oscale).
const columns = { t: times, ...Object.fromEntries(spec.state.map((k, j) => [k, observations.map((r) => r[j])])) };
const argument = (x) => {
  if (!o.scale) return x;
  const lo = Math.min(...columns[x]);
  const hi = Math.max(...columns[x]);
  return `(/ (- ${x} ${(lo + hi) / 2}) ${(hi - lo) / 2})`;
};
const source = spec.hybrid.model.replace(/\((\w+) (\w+)\)/g, (call, f, x) =>
  f in spec.hybrid.mlps ? (o.oscale === 1 ? `(${f} ${argument(x)})` : `(* ${o.oscale} (${f} ${argument(x)}))`) : call,
);
const init = Object.fromEntries(spec.hybrid.learned.map((k) => [k, spec.init[k]]));
const model = o.oracle
  ? nc.compile(spec.hybrid.truth, { inputs: rhsInputs(spec, spec.hybrid.truth), params: { ...spec.truth, ...init } })
  : nc.compile(source, {
      inputs: rhsInputs(spec, spec.hybrid.model),
      params: init,
      functions: Object.fromEntries(
        Object.entries(spec.hybrid.mlps).map(([k, sizes], i) => [k, nc.nn.mlp(sizes, { seed: o.mseed + i })]),
      ),
    });
// The noise floor learns only the hybrid's constants; the others stay at their true values.
for (const [k, p] of Object.entries(model.namedParameters())) p.requiresGrad = k in init || !o.oracle;

(async () => {
  const t0 = Date.now();
  const data = { t: times, observations };
  const ode = { method: 'rk4', state: spec.state, windowSteps: o.window };
  const penalty = (lam) => (o.oracle ? 0 : lam);
  let starts = o.starts === 'trained';
  for (const lam of o.lam) {
    const r = await nc.fit(model, data, {
      optimizer: 'adam',
      lr: 1e-2,
      schedule: 'cosine',
      clip: 5,
      epochs: o.epochs,
      weightPenalty: penalty(lam),
      ode: { ...ode, trainStarts: starts },
    });
    if (starts) starts = r.startStates;
  }
  if (o.refine > 0)
    await nc.fit(model, data, {
      optimizer: 'lbfgs',
      epochs: o.refine,
      weightPenalty: o.polish === 'free' ? 0 : penalty(o.lam[o.lam.length - 1]),
      ode: { ...ode, trainStarts: starts },
    });
  const named = model.namedParameters();
  const errors = Object.fromEntries(
    Object.keys(init).map((k) => [
      k,
      +((100 * Math.abs(named[k].item() - spec.truth[k])) / spec.truth[k]).toPrecision(3),
    ]),
  );
  console.log(JSON.stringify({ system: process.argv[2], ...o, errors, seconds: (Date.now() - t0) / 1000 }));
})();
