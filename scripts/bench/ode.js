// The ODE fit step: Lotka-Volterra right-hand side, RK4 over 120 steps of 0.1 from (10, 5), MSE of
// the whole trajectory against one made with known rates, one Adam step (lr 0.01), float32. Ours
// three ways: fit() (the small-program tier computes each step's loss and gradient), fit() with
// compile option tier: false (libtorch autograd through odeint), and the loop written in JS through
// Tensors (odeint, losses.mse, backward, optim.adam); PyTorch eager (scripts/bench/ode_fit_torch.py)
// is the anchor. Reported as milliseconds and steps per second. The same for the experiments'
// hybrid (two 1-32-32-1 tanh MLPs in the right-hand side): fit() on and off the tier, PyTorch eager.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { median } = require('./measure');
const { EXAMPLES } = require('./programs');

const TIMES = Array.from({ length: 121 }, (_, k) => k * 0.1);
const ODE = { state: ['x', 'y'], method: 'rk4' };
const START = { alpha: 1, beta: 0.5, delta: 0.2, gamma: 0.5 };

function timed(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The milliseconds of one loop step written in JS through Tensors. */
function jsLoopStep(api, source, target, steps) {
  const model = api.compile(source, { params: START });
  const opt = api.optim.adam(model.parameters(), { lr: 0.01 });
  const step = () => {
    opt.zeroGrad();
    const y = api.odeint(model, [10, 5], TIMES, ODE);
    const loss = api.losses.mse(y, target);
    loss.backward();
    opt.step();
    loss.dispose();
    y.dispose();
  };
  for (let i = 0; i < 3; i++) step();
  const ms = median(Array.from({ length: steps }, () => timed(step)));
  opt.dispose();
  model.dispose();
  return ms;
}

/**
 * The milliseconds of one fit() step: fits of `few` and `few + more` epochs, each the median of three,
 * and the difference per added epoch, so that a call's fixed cost (its thread, the program's tape) is
 * left out; that cost is reported beside it.
 */
async function fitStep(api, source, data, compileOptions, few, more) {
  const once = async (epochs) => {
    // A factory of options (learned components) gives each fit its own, from the same seeds.
    const options = typeof compileOptions === 'function' ? compileOptions() : compileOptions;
    const model = api.compile(source, { params: START, ...options });
    const t0 = process.hrtime.bigint();
    // windowSteps 0: the whole trajectory, as the anchors; fit's default would add a stage of windows.
    const result = await api.fit(model, data, { optimizer: 'adam', lr: 0.01, epochs, ode: { ...ODE, windowSteps: 0 } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    model.dispose();
    return { ms, tier: result.tier };
  };
  await once(few); // warm-up
  const runs = async (epochs) => {
    const all = [];
    for (let i = 0; i < 3; i++) all.push(await once(epochs));
    return { ms: median(all.map((r) => r.ms)), tier: all[0].tier };
  };
  const small = await runs(few);
  const large = await runs(few + more);
  const perStep = (large.ms - small.ms) / more;
  return { ms: perStep, fixed: small.ms - few * perStep, tier: large.tier };
}

function torchStep(python, steps, threads, model = 'lv') {
  if (!python.python) return undefined;
  const script = path.join(__dirname, 'ode_fit_torch.py');
  const r = spawnSync(python.python, [script, String(steps), String(threads), model], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ode_fit_torch.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()).ms;
}

/** Lotka-Volterra from (10, 5) over TIMES with these rates: the target tensor (the caller disposes it) and fit()'s data. */
function lvTarget(api, source, rates) {
  const truth = api.compile(source, { params: rates });
  truth.freeze();
  const target = api.odeint(truth, [10, 5], TIMES, ODE);
  truth.dispose();
  return { target, data: { t: TIMES, observations: target.toArray() } };
}

async function odeFitStep(api, cfg, python) {
  const source = fs.readFileSync(path.join(EXAMPLES, 'lotka_volterra.neural'), 'utf8');
  const { target, data } = lvTarget(api, source, { alpha: 1.1, beta: 0.4, delta: 0.1, gamma: 0.4 });
  const rows = [
    { name: 'fit() on the small-program tier', ...(await fitStep(api, source, data, {}, 20, cfg.odeSteps * 40)) },
    {
      name: 'fit(), compile option tier: false',
      ...(await fitStep(api, source, data, { tier: false }, 3, cfg.odeSteps)),
    },
    {
      name: 'JS loop through Tensors (odeint, mse, backward, adam)',
      ms: jsLoopStep(api, source, target, cfg.odeSteps),
    },
  ];
  const torch = torchStep(python, cfg.odeSteps, cfg.threads);
  if (torch !== undefined)
    rows.push({ name: 'PyTorch eager (scripts/bench/ode_fit_torch.py)', ms: torch, anchor: true });
  target.dispose();
  return { rows, torch };
}

// The experiments' Lotka-Volterra hybrid (src/experiments/systems.ts): growth and death 1-32-32-1
// tanh MLPs, beta and delta compiled; its data from the rates 1, 0.5, 0.25, 0.5 (the anchor's too).
const HYBRID = '(let ((p (* x y))) [(- (growth x) (* beta p)) (- (* delta p) (death y))])';
const HYBRID_NETS = (api) => ({
  growth: api.nn.mlp([1, 32, 32, 1], { seed: 30 }),
  death: api.nn.mlp([1, 32, 32, 1], { seed: 31 }),
});

/** One fit() step of the hybrid (RK4, 120 steps, whole trajectory, Adam) on the tier, through libtorch, and in PyTorch eager. */
async function hybridFitStep(api, cfg, python) {
  const source = fs.readFileSync(path.join(EXAMPLES, 'lotka_volterra.neural'), 'utf8');
  const { target, data } = lvTarget(api, source, { alpha: 1, beta: 0.5, delta: 0.25, gamma: 0.5 });
  target.dispose();
  const nets = () => ({ functions: HYBRID_NETS(api), params: { beta: 0.5, delta: 0.5 } });
  const rows = [
    { name: 'fit() on the small-program tier', ...(await fitStep(api, HYBRID, data, nets, 3, cfg.odeSteps * 4)) },
    {
      name: 'fit(), compile option tier: false',
      ...(await fitStep(api, HYBRID, data, () => ({ ...nets(), tier: false }), 2, cfg.odeSteps)),
    },
  ];
  const torch = torchStep(python, cfg.odeSteps, cfg.threads, 'hybrid');
  if (torch !== undefined)
    rows.push({ name: 'PyTorch eager (scripts/bench/ode_fit_torch.py hybrid)', ms: torch, anchor: true });
  return { rows, torch };
}

/** The section's table: each way's step time, steps per second, and its speed over PyTorch's. */
function odeFitTable(ode) {
  const lines = [
    '| implementation | ms per step | steps per second | speed / PyTorch eager | fixed cost of a call |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of ode.rows)
    lines.push(
      `| ${r.name} | ${r.ms.toFixed(3)} | ${(1e3 / r.ms).toFixed(0)} | ${ode.torch ? `${(ode.torch / r.ms).toFixed(1)}x` : 'n/a'} | ${r.fixed !== undefined ? `${r.fixed.toFixed(1)} ms` : ''} |`,
    );
  return lines.join('\n');
}

/** The issue 13 target: the fit at least 100 times PyTorch eager's steps per second. */
function odeFitTarget(ode) {
  if (!ode.torch)
    return "- Lotka-Volterra fit, at least 100x PyTorch eager's steps per second: not measured (no PyTorch)";
  const ours = ode.rows[0];
  const speed = ode.torch / ours.ms;
  return `- Lotka-Volterra fit (RK4, 120 steps, Adam, whole trajectory), at least 100x PyTorch eager's steps per second: **${speed >= 100 ? 'met' : 'not met'}** (${speed.toFixed(0)}x${ours.tier ? '' : ', not on the tier'})`;
}

module.exports = { odeFitStep, hybridFitStep, odeFitTable, odeFitTarget };
