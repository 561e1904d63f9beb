// Study of the experiments' hybrid fits (pendulum, Lotka-Volterra) alone, so one remedy costs minutes.
// node scripts/hybrid-study.js SYSTEM [key=value ...]; prints one JSON line with each constant's error.
// Keys: lam (relative weight penalty), scale (1: standardise the MLPs' inputs from the data's range),
// starts (observed|trained), epochs, lbfgs (L-BFGS iterations after Adam), polish (free: that L-BFGS
// without the penalty), lr, seed (noise seed),
// mseed (MLP seed), hold (every hold-th window held out for validation; 0 none), window, oracle (1:
// the noise floor, the data's own right-hand side with the MLPs' part known). Findings: docs/training.md.
const path = require('path');
const root = process.env.NC_ROOT ?? path.resolve(__dirname, '..');
const nc = require(path.join(root, 'dist'));
const { adamFit, lbfgsRefine } = require(path.join(root, 'dist/experiments/train'));
const { addNoise, Rng } = require(path.join(root, 'dist/experiments/random'));

const { lotkaVolterraSpec, pendulumSpec } = require(path.join(root, 'dist/experiments/systems'));
const { rhsInputs } = require(path.join(root, 'dist/experiments/ode'));

const SYSTEMS = { pendulum: pendulumSpec, lv: lotkaVolterraSpec };

const args = Object.fromEntries(process.argv.slice(3).map((a) => a.split('=')));
const spec = SYSTEMS[process.argv[2]];
const time = rhsInputs(spec, spec.hybrid.model).includes('t');
const sys = { ...spec, init: Object.fromEntries(spec.hybrid.learned.map((k) => [k, spec.init[k]])) };
const o = {
  lam: Number(args.lam ?? 1e-5),
  scale: Number(args.scale ?? 0),
  starts: args.starts ?? 'observed',
  epochs: Number(args.epochs ?? 3000),
  lbfgs: Number(args.lbfgs ?? 100),
  lr: Number(args.lr ?? 1e-2),
  seed: Number(args.seed ?? 6),
  mseed: Number(args.mseed ?? 30),
  hold: Number(args.hold ?? 0),
  window: Number(args.window ?? 25),
  polish: args.polish ?? 'penalised',
};
nc.setNumThreads(1);

// Data as the experiment makes it.
const steps = Math.round(sys.tEnd / sys.dt);
const times = Array.from({ length: steps + 1 }, (_, i) => i * sys.dt);
const truth = nc.compile(spec.hybrid.truth, {
  inputs: [...sys.state, ...(time ? ['t'] : [])],
  params: sys.truth,
  dtype: 'float64',
});
const clean = nc.tidy(() =>
  nc.odeint(truth, sys.y0, times, { method: 'rk4', state: sys.state, grad: false }).toArray(),
);
const noisy = addNoise(new Rng(o.seed), clean.flat(), 0.02);
const n = sys.state.length;
const observed = clean.map((_, i) => Array.from(noisy.subarray(i * n, (i + 1) * n)));

// Each MLP input, standardised from the observed range when asked: (v - mid) / half-range.
const columns = { t: times, ...Object.fromEntries(sys.state.map((k, j) => [k, observed.map((r) => r[j])])) };
const scaled = Object.fromEntries(
  Object.entries(columns).map(([k, v]) => {
    if (!o.scale) return [k, k];
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    return [k, `(/ (- ${k} ${(lo + hi) / 2}) ${(hi - lo) / 2})`];
  }),
);
// oracle=1: the data's own right-hand side with only the hybrid's constants learned (the rest known,
// no MLP): the error the noise alone leaves, the floor for the hybrid.
const oracle = Number(args.oracle ?? 0);
const fixed = (src) =>
  Object.entries(sys.truth)
    .filter(([k]) => !(k in sys.init))
    .reduce((a, [k, v]) => a.replace(new RegExp(`\\b${k}\\b`, 'g'), String(v)), src);
const nets = Object.fromEntries(
  Object.entries(spec.hybrid.mlps).map(([k, sizes], i) => [k, nc.nn.mlp(sizes, { seed: o.mseed + i })]),
);
// Each MLP call's argument, standardised when asked.
const source = spec.hybrid.model.replace(/\((\w+) (\w+)\)/g, (call, f, x) =>
  f in nets ? `(${f} ${scaled[x]})` : call,
);
const model = nc.compile(oracle ? fixed(spec.hybrid.truth) : source, {
  inputs: [...sys.state, ...(time ? ['t'] : [])],
  params: sys.init,
  ...(oracle ? {} : { functions: nets }),
});

// Windows: every hold-th one held out for validation.
const W = Math.floor(steps / o.window);
const windows = Array.from({ length: W }, (_, w) => w);
const isVal = (w) => o.hold > 0 && w % o.hold === o.hold - 1;
const train = windows.filter((w) => !isVal(w));
const val = windows.filter(isVal);
const k = o.window;
const obsT = nc.tensor(observed.slice(0, W * k + 1));
const starts = nc.tensor(
  windows.map((w) => observed[w * k]),
  { requiresGrad: o.starts === 'trained' },
);
const windowTargets = nc.tensor(Array.from({ length: k + 1 }, (_, j) => windows.map((w) => observed[w * k + j])));
const mask = (ws) => nc.tensor([windows.map((w) => [ws.includes(w) ? 1 : 0])]);
const masks = { train: mask(train), val: mask(val) };
const windowLoss = (which) => {
  const ws = which === 'train' ? train : val;
  const opts = { method: 'rk4', state: sys.state };
  // An autonomous system needs no time offsets: odeint from the (trained) starts, as the experiment does.
  const { predictions, targets } =
    !time && o.starts === 'trained'
      ? { predictions: nc.odeint(model, starts, times.slice(0, k + 1), opts), targets: windowTargets }
      : nc.multipleShooting(model, obsT, times.slice(0, W * k + 1), {
          ...opts,
          windowSteps: k,
          ...(o.starts === 'trained' ? { starts } : {}),
        });
  return predictions
    .sub(targets)
    .square()
    .mul(masks[which])
    .sum()
    .div(ws.length * (k + 1) * n);
};
const strength = nc.penaltyStrength(o.lam, observed.flat());
const loss = () =>
  o.lam > 0 && !oracle ? windowLoss('train').add(nc.weightPenalty(model, strength)) : windowLoss('train');
const params = [...model.parameters(), ...(o.starts === 'trained' ? [starts] : [])];

const t0 = Date.now();
adamFit(loss, { params, steps: o.epochs, lr: o.lr, cosine: true, clip: 5 });
if (o.lbfgs > 0) lbfgsRefine(o.polish === 'free' ? () => windowLoss('train') : loss, params, o.lbfgs);
const named = model.namedParameters();
const errors = Object.fromEntries(
  Object.keys(sys.init).map((k) => [k, Math.abs(named[k].item() - sys.truth[k]) / sys.truth[k]]),
);
const result = {
  system: process.argv[2],
  oracle,
  ...o,
  errors: Object.fromEntries(Object.entries(errors).map(([k, e]) => [k, +(100 * e).toPrecision(3)])),
  train: nc.tidy(() => windowLoss('train').item()),
  val: val.length ? nc.tidy(() => windowLoss('val').item()) : null,
  seconds: (Date.now() - t0) / 1000,
};
console.log(JSON.stringify(result));
