// The ODE fit step: Lotka-Volterra right-hand side, RK4 over 120 steps, MSE against a trajectory of
// known rates, backward through the integrator, one Adam step. Reported as steps per second.
'use strict';
const fs = require('fs');
const path = require('path');
const { median } = require('./measure');
const { EXAMPLES } = require('./programs');

function odeFitStep(api, steps) {
  if (typeof api.odeint !== 'function') return { note: 'Skipped: odeint is not available in this build.' };
  const source = fs.readFileSync(path.join(EXAMPLES, 'lotka_volterra.neural'), 'utf8');
  const times = Array.from({ length: 121 }, (_, k) => k * 0.1);
  const options = { state: ['x', 'y'], method: 'rk4' };
  const truth = api.compile(source, {
    inputs: { x: 'scalar', y: 'scalar' },
    params: { alpha: 1.1, beta: 0.4, delta: 0.1, gamma: 0.4 },
  });
  truth.freeze();
  const target = api.odeint(truth, [10, 5], times, options);
  const model = api.compile(source, {
    inputs: { x: 'scalar', y: 'scalar' },
    params: { alpha: 1, beta: 0.5, delta: 0.2, gamma: 0.5 },
  });
  const opt = api.optim.adam(model.parameters(), { lr: 0.01 });
  const step = () => {
    opt.zeroGrad();
    const y = api.odeint(model, [10, 5], times, options);
    const loss = api.losses.mse(y, target);
    loss.backward();
    opt.step();
    loss.dispose();
    y.dispose();
  };
  for (let i = 0; i < 3; i++) step();
  const samples = Array.from({ length: steps }, () => {
    const t0 = process.hrtime.bigint();
    step();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  const ms = median(samples);
  target.dispose();
  truth.dispose();
  model.dispose();
  return {
    ms,
    note: `${(1e3 / ms).toFixed(1)} fit steps per second (median ${ms.toFixed(2)} ms over ${steps} steps): odeint rk4 over 120 steps of the Lotka-Volterra program, MSE, backward, Adam. No anchor: the C++ and Python anchors have no integrator written for this.`,
  };
}

module.exports = { odeFitStep };
