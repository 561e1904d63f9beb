// fit()'s ode.trainStarts: each shooting window's start state trains with the constants. Checked
// against an independent loop (multipleShooting with `starts` and Adam through autograd, float64),
// on the small-program tier and through libtorch alike, and its gradient against central
// differences of a plain-JS float64 RK4.
import * as fs from 'fs';
import * as path from 'path';
import { compile, fit, losses, multipleShooting, optim, tensor, tidy, type FitOptions, type FitResult } from '../src';
import { noisyLotkaVolterra } from '../src/fuzz/soak';

const LV = fs.readFileSync(path.join(__dirname, '..', 'examples', 'lotka_volterra.neural'), 'utf8');
const START = { alpha: 0.8, beta: 0.45, delta: 0.3, gamma: 0.6 };
const data = noisyLotkaVolterra(LV, 41);
const STATE = ['x', 'y'];
const K = 8; // 5 windows of 8 intervals

const windowStarts = (k: number) =>
  Array.from({ length: k === 0 ? 1 : Math.floor((data.t.length - 1) / k) }, (_, w) => data.observations[w * k]);

function expectClose(got: number[], want: number[], tolerance: number): void {
  expect(got).toHaveLength(want.length);
  got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(want[i]))));
}

async function fitted(tier: boolean, options: FitOptions): Promise<FitResult> {
  const m = compile(LV, { params: START, dtype: 'float64', tier });
  try {
    return await fit(m, data, options);
  } finally {
    m.dispose();
  }
}

/** The same training written by hand: multipleShooting from trainable starts, MSE, Adam, through autograd. */
function handTrained(epochs: number, lr: number): { params: Record<string, number>; starts: number[][] } {
  const m = compile(LV, { params: START, dtype: 'float64', tier: false });
  const starts = tensor(windowStarts(K), { dtype: 'float64', requiresGrad: true });
  const opt = optim.adam([...m.parameters(), starts], { lr });
  try {
    for (let e = 0; e < epochs; e++)
      tidy(() => {
        opt.zeroGrad();
        const { predictions, targets } = multipleShooting(m, data.observations, data.t, {
          method: 'rk4',
          state: STATE,
          windowSteps: K,
          starts,
        });
        losses.mse(predictions, targets).backward();
        opt.step();
      });
    const params = Object.fromEntries(Object.entries(m.namedParameters()).map(([k, p]) => [k, p.item()]));
    return { params, starts: starts.toArray() as number[][] };
  } finally {
    opt.dispose();
    starts.dispose();
    m.dispose();
  }
}

describe('fit() with ode.trainStarts', () => {
  const adam: FitOptions = {
    optimizer: 'adam',
    lr: 0.02,
    epochs: 12,
    schedule: 'none',
    ode: { state: STATE, method: 'rk4', windowSteps: K, trainStarts: true },
  };

  test.each([true, false])('trains as multipleShooting with starts and Adam do by hand (tier %s)', async (tier) => {
    const want = handTrained(12, 0.02);
    const got = await fitted(tier, adam);
    expect(got.tier).toBe(tier);
    expectClose(Object.values(got.params) as number[], Object.values(want.params), 1e-10);
    expect(got.startStates).toHaveLength(5);
    expectClose(got.startStates!.flat(), want.starts.flat(), 1e-10);
    // The starts moved off their observations: the comparison is of a real trajectory.
    expect(Math.max(...got.startStates!.flat().map((v, i) => Math.abs(v - windowStarts(K).flat()[i])))).toBeGreaterThan(
      1e-3,
    );
  });

  test("the gradient by the start states is the loss's (central differences of a plain-JS RK4)", async () => {
    // One SGD step of rate 1 from the observed starts moves each start by minus its gradient.
    const sgd = await fitted(true, { ...adam, optimizer: 'sgd', lr: 1, epochs: 1 });
    const observed = windowStarts(K);
    const grad = sgd.startStates!.map((row, w) => row.map((v, c) => observed[w][c] - v));
    const [alpha, beta, delta, gamma] = Object.values(START);
    const f = ([x, y]: number[]) => [alpha * x - beta * x * y, delta * x * y - gamma * y];
    const loss = (starts: number[][]) => {
      let sum = 0;
      starts.forEach((y0, w) => {
        let y = y0;
        for (let j = 0; j <= K; j++) {
          if (j > 0) y = rk4Step(f, y, data.t[1] - data.t[0]);
          y.forEach((v, c) => (sum += (v - data.observations[w * K + j][c]) ** 2));
        }
      });
      return sum / (starts.length * (K + 1) * 2);
    };
    const h = 1e-6;
    const fd = observed.map((row, w) =>
      row.map((_, c) => {
        const shifted = (d: number) => observed.map((r, i) => r.map((v, j) => (i === w && j === c ? v + d : v)));
        return (loss(shifted(h)) - loss(shifted(-h))) / (2 * h);
      }),
    );
    expectClose(grad.flat(), fd.flat(), 1e-6);
    expect(Math.max(...fd.flat().map(Math.abs))).toBeGreaterThan(1e-3);
  });

  test.each([
    [
      'minibatches of windows, dopri5',
      { batchSize: 2, seed: 4, ode: { ...adam.ode, method: 'dopri5', rtol: 1e-8, atol: 1e-10 } },
    ],
    ['the whole trajectory (one start state)', { ode: { ...adam.ode, windowSteps: 0 } }],
    ['L-BFGS', { optimizer: 'lbfgs', lr: 1, epochs: 3, schedule: undefined }],
  ] as [string, Partial<FitOptions>][])('the tier trains as libtorch does: %s', async (_, change) => {
    const options = { ...adam, ...change } as FitOptions;
    const [a, b] = [await fitted(true, options), await fitted(false, options)];
    expect([a.tier, b.tier]).toEqual([true, false]);
    expectClose(Object.values(a.params) as number[], Object.values(b.params) as number[], 1e-9);
    expect(a.startStates).toHaveLength(b.startStates!.length);
    expectClose(a.startStates!.flat(), b.startStates!.flat(), 1e-9);
  });

  test('every start of `starts` begins from the observations; progress names only the constants', async () => {
    const seen = new Set<string>();
    const result = await fitted(true, {
      ...adam,
      starts: [{}, {}],
      onProgress: (p) => Object.keys(p.params).forEach((k) => seen.add(k)),
    });
    const [first, second] = result.starts!;
    expect(second.loss).toBe(first.loss);
    expect([...seen].sort()).toEqual(Object.keys(START).sort());
  });

  test('a long trajectory fitted in windows, then whole, trains one start state at the end', async () => {
    const m = compile(LV, { params: START });
    try {
      const result = await fit(m, noisyLotkaVolterra(LV), { epochs: 20, ode: { state: STATE, trainStarts: true } });
      expect(result.shooting).toBeDefined();
      expect(result.startStates).toHaveLength(1);
      expect(result.startStates![0].every(Number.isFinite)).toBe(true);
    } finally {
      m.dispose();
    }
  });

  test('given start states train from those values', async () => {
    const fromObserved = await fitted(true, adam);
    const given = await fitted(true, { ...adam, ode: { ...adam.ode, trainStarts: windowStarts(K) } });
    expect(given.startStates).toEqual(fromObserved.startStates);
    const shifted = await fitted(true, {
      ...adam,
      ode: { ...adam.ode, trainStarts: windowStarts(K).map((row) => row.map((v) => v + 0.5)) },
    });
    expect(shifted.loss).not.toBe(fromObserved.loss);
    await expect(fitted(true, { ...adam, ode: { ...adam.ode, trainStarts: [[1, 2]] } })).rejects.toThrow(
      'fit: ode.trainStarts gives start states of shape [1,2], but there are 5 windows of 2 state components: [5, 2]',
    );
  });

  test('without it there are no start states; a value other than a boolean is refused', async () => {
    expect((await fitted(true, { ...adam, ode: { ...adam.ode, trainStarts: false } })).startStates).toBeUndefined();
    await expect(fitted(true, { ...adam, ode: { ...adam.ode, trainStarts: 'yes' as never } })).rejects.toThrow(
      /ode\.trainStarts must be true or false/,
    );
  });
});

function rk4Step(f: (y: number[]) => number[], y: number[], h: number): number[] {
  const add = (a: number[], b: number[], w: number) => a.map((v, j) => v + w * b[j]);
  const k1 = f(y);
  const k2 = f(add(y, k1, h / 2));
  const k3 = f(add(y, k2, h / 2));
  const k4 = f(add(y, k3, h));
  return y.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]));
}
