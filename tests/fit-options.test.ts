// fit()'s losses ('mae', 'huber'), schedules ('step', 'exponential', 'none') and optimizers ('sgd',
// 'adamw') against a float64 simulation written here from their definitions: full-batch steps on
// y = k x + b, whose gradients are closed forms. Every step's reported loss and parameters must
// agree with the simulation to 1e-12 relative, so a wrong loss derivative, schedule formula,
// learning-rate index or decay rule fails.
import { compile, fit, type FitOptions, type FitProgress } from '../src';

const X = [0.5, 1, 1.5, 2, 2.5, 3];
const NOISE = [0.1, -0.2, 0.05, 0.3, -0.1, 0.15];
const T = X.map((x, i) => 2 * x + 1 + NOISE[i]);
const STEPS = 12;

type Loss = 'mse' | 'mae' | 'huber';
/** The loss of residuals d (means over the samples) and its derivative in d, per sample. */
const LOSSES: Record<Loss, { value: (d: number) => number; slope: (d: number) => number }> = {
  mse: { value: (d) => d * d, slope: (d) => 2 * d },
  mae: { value: (d) => Math.abs(d), slope: (d) => Math.sign(d) },
  // delta = 1: d^2 / 2 inside [-1, 1], |d| - 1/2 outside (torch's huber_loss)
  huber: {
    value: (d) => (Math.abs(d) <= 1 ? (d * d) / 2 : Math.abs(d) - 0.5),
    slope: (d) => Math.max(-1, Math.min(1, d)),
  },
};

/** The learning rate of step t (0-based) of `total`, from the schedules' definitions in fit's docs. */
function rate(schedule: 'none' | 'step' | 'exponential', lr: number, t: number, total: number): number {
  if (schedule === 'none') return lr;
  if (schedule === 'step') return lr * 0.1 ** Math.floor(t / Math.ceil(total / 3)); // x0.1 at each third
  return lr * (0.01 ** (1 / total)) ** t; // to 1 % at the end
}

interface Simulated {
  history: number[][]; // [step, loss before the step, k, b after it]
  loss: number;
  params: { k: number; b: number };
}

type Schedule = 'none' | 'step' | 'exponential';

function simulate(loss: Loss, optimizer: 'sgd' | 'adam' | 'adamw', schedule: Schedule, lr: number): Simulated {
  const L = LOSSES[loss];
  const n = X.length;
  const lossAt = (k: number, b: number) => X.reduce((s, x, i) => s + L.value(k * x + b - T[i]), 0) / n;
  let p = [0, 0]; // k, b
  const m = [0, 0];
  const v = [0, 0];
  const history: number[][] = [];
  for (let t = 0; t < STEPS; t++) {
    const [k, b] = p;
    const slopes = X.map((x, i) => L.slope(k * x + b - T[i]) / n);
    const g = [slopes.reduce((s, d, i) => s + d * X[i], 0), slopes.reduce((s, d) => s + d, 0)];
    const a = rate(schedule, lr, t, STEPS);
    if (optimizer === 'sgd') {
      p = p.map((q, j) => q - a * g[j]);
    } else {
      // Adam(W) as libtorch: betas 0.9, 0.999, eps 1e-8; AdamW first shrinks by lr * 0.01
      const [b1, b2, eps, step] = [0.9, 0.999, 1e-8, t + 1];
      p = p.map((q, j) => {
        const shrunk = optimizer === 'adamw' ? q * (1 - a * 0.01) : q;
        m[j] = b1 * m[j] + (1 - b1) * g[j];
        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
        const denom = Math.sqrt(v[j]) / Math.sqrt(1 - b2 ** step) + eps;
        return shrunk - (a / (1 - b1 ** step)) * (m[j] / denom);
      });
    }
    history.push([t + 1, lossAt(k, b), p[0], p[1]]);
  }
  return { history, loss: lossAt(p[0], p[1]), params: { k: p[0], b: p[1] } };
}

async function fitted(options: Partial<FitOptions>) {
  const model = compile('(+ (* k x) b)', { inputs: { x: 'scalar' }, params: { k: 0, b: 0 }, dtype: 'float64' });
  const history: number[][] = [];
  const onProgress = (q: FitProgress) => history.push([q.step, q.loss, q.params.k as number, q.params.b as number]);
  const result = await fit(model, { inputs: { x: X }, target: T }, { epochs: STEPS, ...options, onProgress });
  model.dispose();
  return { ...result, history };
}

function expectClose(actual: number[][], expected: number[][], relative = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) =>
    row.forEach((a, j) => {
      const e = expected[i][j];
      const ok = Math.abs(a - e) <= relative * Math.max(Math.abs(e), 1e-300);
      expect({ step: i + 1, column: j, ok }).toEqual({ step: i + 1, column: j, ok: true });
    }),
  );
}

describe.each([
  ['mse', 'sgd', 'none', 0.05],
  ['mae', 'sgd', 'step', 0.2],
  ['huber', 'sgd', 'exponential', 0.3],
  ['mse', 'adamw', 'none', 0.1],
  ['huber', 'adamw', 'step', 0.2],
  ['mae', 'adam', 'exponential', 0.2],
] as const)('loss %s, optimizer %s, schedule %s (lr %f)', (loss, optimizer, schedule, lr) => {
  test('every step, the final loss and the parameters equal the float64 simulation', async () => {
    const r = await fitted({ loss, optimizer, schedule, lr });
    const s = simulate(loss, optimizer, schedule, lr);
    expect([r.steps, r.stopped]).toEqual([STEPS, 'epochs']);
    expectClose(r.history, s.history);
    expectClose([[r.loss, r.params.k as number, r.params.b as number]], [[s.loss, s.params.k, s.params.b]]);
    // the fit got somewhere: the loss fell
    expect(s.loss).toBeLessThan(s.history[0][1]);
  });
});

test('the options change the trajectory: each differs from its neighbour in one option', async () => {
  const final = async (o: Partial<FitOptions>) => (await fitted({ lr: 0.2, ...o })).params.k as number;
  const adam = await final({ optimizer: 'adam' });
  expect(await final({ optimizer: 'adamw' })).not.toBe(adam);
  const sgd = await final({ optimizer: 'sgd', loss: 'mse', lr: 0.05 });
  expect(await final({ optimizer: 'sgd', loss: 'huber', lr: 0.05 })).not.toBe(sgd);
  expect(await final({ optimizer: 'sgd', loss: 'mse', lr: 0.05, schedule: 'step' })).not.toBe(sgd);
  expect(await final({ optimizer: 'sgd', loss: 'mse', lr: 0.05, schedule: 'none' })).toBe(sgd);
});

test('bad loss and schedule names are clear errors', async () => {
  const model = compile('(* k x)', { params: { k: 1 } });
  const data = { inputs: { x: [1, 2] }, target: [2, 4] };
  await expect(fit(model, data, { epochs: 1, loss: 'l2' as never })).rejects.toThrow(
    "fit: unknown loss 'l2'; expected one of mse, mae, huber",
  );
  await expect(fit(model, data, { epochs: 1, schedule: 'linear' as never })).rejects.toThrow(
    "fit: unknown schedule 'linear'; expected one of none, cosine, step, exponential",
  );
  model.dispose();
});
