// fit() on the small-program tier: each step's loss and gradient computed over the program's tape
// (ODE integration and its reverse sweep included) must train exactly as the libtorch path does
// (compile option tier: false), and its gradient must be the loss's (finite differences of an
// independent float64 simulation).
import * as fs from 'fs';
import * as path from 'path';
import { compile, fit, nn, type FitOptions, type Module } from '../src';
import type { Mlp } from '../src/nn/mlp';
import { noisyLotkaVolterra } from '../src/fuzz/soak';
import { flatten } from './helpers/finite-diff';

const LV = fs.readFileSync(path.join(__dirname, '..', 'examples', 'lotka_volterra.neural'), 'utf8');
const LV_START = { alpha: 0.8, beta: 0.45, delta: 0.3, gamma: 0.6 };
const lvData = noisyLotkaVolterra(LV, 41);
// A damped oscillator driven at frequency w: reads the time, a constant and two states.
const DRIVEN = '[v (- (* F (cos (* w t))) (* k x) (* c v))]';
const DRIVEN_START = { k: 3, c: 0.3, F: 0.8 };

/** Observations of the driven oscillator (float64 RK4 with 20 substeps per interval). */
function drivenData(points = 31, dt = 0.2) {
  const [k, c, F, w] = [4, 0.5, 1, 1.3];
  const f = (t: number, [x, v]: number[]) => [v, F * Math.cos(w * t) - k * x - c * v];
  const t = Array.from({ length: points }, (_, i) => i * dt);
  const observations = [[1, 0]];
  for (let i = 1; i < points; i++) observations.push(rk4(f, t[i - 1], observations[i - 1], dt / 20, 20));
  return { t, observations };
}

function rk4(f: (t: number, y: number[]) => number[], t0: number, y0: number[], h: number, n: number): number[] {
  let y = y0;
  for (let s = 0; s < n; s++) {
    const t = t0 + s * h;
    const add = (a: number[], b: number[], w: number) => a.map((v, j) => v + w * b[j]);
    const k1 = f(t, y);
    const k2 = f(t + h / 2, add(y, k1, h / 2));
    const k3 = f(t + h / 2, add(y, k2, h / 2));
    const k4 = f(t + h, add(y, k3, h));
    y = y.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]));
  }
  return y;
}

/**
 * Fits the same program on the tier and through libtorch (float64) and expects the same training.
 * `functions` makes each module its own learned components (the same seeds: the same weights).
 */
async function expectSameTraining(
  source: string,
  params: Record<string, number>,
  data: Parameters<typeof fit>[1],
  options: FitOptions,
  tolerance = 1e-9,
  prepare: (m: Module) => void = () => {},
  functions: () => Record<string, Mlp> = () => ({}),
): Promise<void> {
  const onTier = compile(source, { params, dtype: 'float64', functions: functions() });
  const offTier = compile(source, { params, dtype: 'float64', tier: false, functions: functions() });
  prepare(onTier);
  prepare(offTier);
  try {
    const a = await fit(onTier, data, options);
    const b = await fit(offTier, data, options);
    expect([a.tier, b.tier]).toEqual([true, false]);
    expect([a.steps, a.stopReason]).toEqual([b.steps, b.stopReason]);
    expect(Object.keys(a.params)).toEqual(Object.keys(b.params));
    for (const name of Object.keys(b.params)) {
      const [x, y] = [flatten(a.params[name]), flatten(b.params[name])];
      x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(y[i]))));
    }
    // (a loss at rounding level, as from an exact model, is compared at that level)
    expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(tolerance * Math.max(1e-12, Math.abs(b.loss)));
    // Training moved the parameters: the comparison is of a real trajectory.
    expect(Object.keys(params).some((name) => b.params[name] !== params[name])).toBe(true);
  } finally {
    onTier.dispose();
    offTier.dispose();
  }
}

describe('ODE fits on the tier train as the libtorch path does', () => {
  const lv = { state: ['x', 'y'] };

  test.each([
    ['rk4, one trajectory', { ...lv, method: 'rk4' }],
    ['euler with substeps', { ...lv, method: 'euler', step: 0.03 }],
    ['dopri5 (adaptive, the default)', { ...lv, rtol: 1e-7, atol: 1e-9 }],
    ['rk4, multiple shooting', { ...lv, method: 'rk4', windowSteps: 8 }],
  ])('Lotka-Volterra, %s, Adam', async (_, ode) => {
    await expectSameTraining(LV, LV_START, lvData, { optimizer: 'adam', lr: 0.02, epochs: 15, ode } as FitOptions);
  });

  test('minibatches of shooting windows (shuffled by the seed), SGD with momentum, clipping', async () => {
    await expectSameTraining(LV, LV_START, lvData, {
      optimizer: 'sgd',
      lr: 0.005,
      epochs: 6,
      batchSize: 2,
      seed: 3,
      clip: 0.5,
      ode: { ...lv, method: 'rk4', windowSteps: 5 },
    });
  });

  test('L-BFGS with its line search', async () => {
    await expectSameTraining(
      LV,
      LV_START,
      lvData,
      { optimizer: 'lbfgs', epochs: 4, ode: { ...lv, method: 'rk4', windowSteps: 10 } },
      1e-8,
    );
  });

  test('a right-hand side reading the time (per-window start times) and a constant, dopri5, mae and huber', async () => {
    const data = drivenData();
    const ode = { state: ['x', 'v'], time: 't', inputs: { w: 1.3 }, windowSteps: 6, rtol: 1e-7, atol: 1e-9 };
    for (const loss of ['mse', 'mae', 'huber'] as const)
      await expectSameTraining(DRIVEN, DRIVEN_START, data, { optimizer: 'adam', lr: 0.05, epochs: 10, loss, ode });
  });

  test('a frozen parameter stays, the others train', async () => {
    const freezeBeta = (m: Module) => (m.namedParameters().beta.requiresGrad = false);
    await expectSameTraining(
      LV,
      LV_START,
      lvData,
      { optimizer: 'adam', lr: 0.02, epochs: 5, ode: { ...lv, method: 'rk4' } },
      1e-9,
      freezeBeta,
    );
  });

  test('float32 trains within float32 rounding of the libtorch path', async () => {
    const options: FitOptions = { optimizer: 'adam', lr: 0.02, epochs: 10, ode: { ...lv, method: 'rk4' } };
    const a = await fit(compile(LV, { params: LV_START }), lvData, options);
    const b = await fit(compile(LV, { params: LV_START, tier: false }), lvData, options);
    expect([a.tier, b.tier]).toEqual([true, false]);
    for (const name of Object.keys(LV_START))
      expect(Math.abs((a.params[name] as number) - (b.params[name] as number))).toBeLessThan(1e-5);
  });
});

describe('small vectors and matrices are scalarised onto the tier', () => {
  // A damped oscillator with its state as the vector input y (the default wiring), as a matrix.
  const LINEAR = '(matvec (mat [0 1] [(- k) (- c)]) y)';
  const BY_COMPONENT = '[(ref y 1) (- (* -1 k (ref y 0)) (* c (ref y 1)))]';
  const data = drivenData(); // forced, so the unforced models fit it only approximately: a real trajectory

  test.each([
    ['mat, vec, matvec', LINEAR],
    ['ref of the vector state', BY_COMPONENT],
  ])('an ODE on the vector state y: %s', async (_, source) => {
    await expectSameTraining(source, { k: 3, c: 0.3 }, data, { optimizer: 'adam', lr: 0.05, epochs: 10, ode: {} });
    await expectSameTraining(source, { k: 3, c: 0.3 }, data, { epochs: 3, ode: { windowSteps: 5, rtol: 1e-7 } });
  });

  test('vector and matrix inputs and constants: dot, cross, vsum, vmean, scale, outer, transpose, matmul, trace, ref of a matrix', async () => {
    const source =
      '(+ (* a (dot v w)) (* b (vsum (cross v w))) (vmean (scale a v)) (trace (matmul M (transpose M)))' +
      ' (* b (ref (matvec M v) 1)) (vsum (ref (outer v w) 2)) (* a (vsum (ref (+ M 1) 0))))';
    const n = 24;
    const v = Array.from({ length: n }, (_, i) => [Math.sin(i), Math.cos(i), i / n]);
    const w = Array.from({ length: n }, (_, i) => [1, i / 10, -0.5]);
    const M = Array.from({ length: n }, (_, i) => [
      [1, i / n, 0],
      [0.5, 1, -i / n],
      [0, 0.25, 1],
    ]);
    const target = v.map((x, i) => 2 * x[0] - w[i][1] + Math.cos(i));
    await expectSameTraining(
      source,
      { a: 0.5, b: -0.2 },
      { inputs: { v, w, M }, target },
      {
        optimizer: 'adam',
        lr: 0.05,
        epochs: 12,
        batchSize: 8,
        seed: 2,
      },
    );
  });

  test('a vector result against rows of a target, and a constant vector input of an ODE', async () => {
    const xs = Array.from({ length: 16 }, (_, i) => [i / 16, 1 - i / 16]);
    const target = xs.map(([p, q]) => [2 * p + q, p - 3 * q]);
    await expectSameTraining(
      '(matvec (mat [a 1] [1 b]) x)',
      { a: 1, b: -1 },
      { inputs: { x: xs }, target },
      { epochs: 3 },
    );
    // dy/dt = -k (y - e), e a constant equilibrium vector given in ode.inputs
    const t = Array.from({ length: 11 }, (_, i) => i / 5);
    const observations = t.map((x) => [1 + Math.exp(-2 * x), 2 - Math.exp(-2 * x)]);
    await expectSameTraining(
      '(scale (- k) (- y e))',
      { k: 1 },
      { t, observations },
      { epochs: 3, ode: { inputs: { e: [1, 2] } } },
    );
  });
});

describe('per-sample if on the tier', () => {
  const xs = Array.from({ length: 40 }, (_, i) => -2 + i / 10);

  test('a piecewise model: both branches taken across the samples, nested, the untaken one never read', async () => {
    // The untaken branches hold sqrt and log of negative numbers: a NaN there must reach neither the
    // value nor the gradient, as on the libtorch path (lazy per sample).
    const source = '(if (> x 0) (* a (sqrt x)) (if (> x -1) (* b x x) (+ (* c (log (- x))) (* b x))))';
    const target = xs.map((x) => (x > 0 ? 1.5 * Math.sqrt(x) : x > -1 ? -0.5 * x * x : 0.3 * Math.log(-x) - 0.5 * x));
    await expectSameTraining(
      source,
      { a: 1, b: 0.2, c: 1 },
      { inputs: { x: xs }, target },
      {
        optimizer: 'adam',
        lr: 0.05,
        epochs: 15,
        batchSize: 16,
        seed: 4,
      },
    );
    const model = compile(source, { params: { a: 1, b: 0.2, c: 1 }, dtype: 'float64' });
    const result = await fit(model, { inputs: { x: xs }, target }, { epochs: 20 });
    expect(result.tier).toBe(true);
    for (const [name, value] of Object.entries({ a: 1.5, b: -0.5, c: 0.3 }))
      expect(Math.abs((result.params[name] as number) - value)).toBeLessThan(1e-6);
    model.dispose();
  });

  test('an ODE right-hand side with a branch (a spring that only pushes), dopri5', async () => {
    const source = '[v (- (if (< x 0) (* -1 k x) 0) (* c v))]';
    const t = Array.from({ length: 41 }, (_, i) => i / 10);
    // float64 RK4 of the truth (k 6, c 0.4) from x = 1, v = -2 with fine steps
    const f = (_: number, [x, v]: number[]) => [v, (x < 0 ? -6 * x : 0) - 0.4 * v];
    const observations = [[1, -2]];
    for (let i = 1; i < t.length; i++) observations.push(rk4(f, t[i - 1], observations[i - 1], 0.1 / 50, 50));
    await expectSameTraining(
      source,
      { k: 4, c: 0.2 },
      { t, observations },
      {
        optimizer: 'adam',
        lr: 0.05,
        epochs: 8,
        ode: { state: ['x', 'v'], rtol: 1e-8, atol: 1e-10 },
      },
    );
  });
});

describe('the tier gradient is the loss gradient', () => {
  /** The float64 MSE of Lotka-Volterra RK4 (one step per interval) against the data. */
  function lvLoss(p: Record<string, number>): number {
    const f = (_: number, [x, y]: number[]) => [p.alpha * x - p.beta * x * y, p.delta * x * y - p.gamma * y];
    let y = lvData.observations[0];
    let sum = 0;
    for (let i = 1; i < lvData.t.length; i++) {
      y = rk4(f, lvData.t[i - 1], y, lvData.t[i] - lvData.t[i - 1], 1);
      sum += (y[0] - lvData.observations[i][0]) ** 2 + (y[1] - lvData.observations[i][1]) ** 2;
    }
    return sum / (2 * lvData.t.length);
  }

  test('one SGD step moves each parameter by minus the rate times its central finite difference', async () => {
    const model = compile(LV, { params: LV_START, dtype: 'float64' });
    const lr = 1e-3;
    const result = await fit(model, lvData, {
      optimizer: 'sgd',
      lr,
      epochs: 1,
      ode: { state: ['x', 'y'], method: 'rk4' },
    });
    expect(result.tier).toBe(true);
    for (const name of Object.keys(LV_START)) {
      const e = 1e-6;
      const up = lvLoss({ ...LV_START, [name]: LV_START[name as keyof typeof LV_START] + e });
      const down = lvLoss({ ...LV_START, [name]: LV_START[name as keyof typeof LV_START] - e });
      const fd = (up - down) / (2 * e);
      const gradient = (LV_START[name as keyof typeof LV_START] - (result.params[name] as number)) / lr;
      expect(Math.abs(gradient - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
    }
    // The final loss is the loss at the trained parameters.
    expect(result.loss).toBeCloseTo(lvLoss(result.params as Record<string, number>), 12);
    model.dispose();
  });
});

describe('algebraic fits on the tier', () => {
  const GRAVITY = '(/ (* G (* m1 m2)) (pow r 2))';
  const n = 50;
  const m1 = Array.from({ length: n }, (_, i) => 1 + (i % 7));
  const m2 = Array.from({ length: n }, (_, i) => 2 + (i % 5) / 2);
  const r = Array.from({ length: n }, (_, i) => 1 + (i % 3) / 2);
  const data = { inputs: { m1, m2, r }, target: m1.map((a, i) => (2.5 * a * m2[i]) / r[i] ** 2 + 0.1 * Math.sin(i)) };

  test.each(['mse', 'mae', 'huber'] as const)('gravity, %s, minibatches', async (loss) => {
    await expectSameTraining(GRAVITY, { G: 1 }, data, {
      optimizer: 'adam',
      lr: 0.1,
      epochs: 8,
      batchSize: 16,
      seed: 1,
      loss,
    });
  });

  test('a parameter read only by a comparison gets no gradient, as from autograd, and stays', async () => {
    const xs = Array.from({ length: 12 }, (_, i) => i / 4);
    const data = { inputs: { x: xs }, target: xs.map((x) => 2 * x + 1) };
    const options: FitOptions = { optimizer: 'adamw', lr: 0.1, epochs: 10 }; // weight decay would move a zero-gradient b
    await expectSameTraining('(+ (* a x) (> b 0))', { a: 1, b: 0.5 }, data, options);
    const model = compile('(+ (* a x) (> b 0))', { params: { a: 1, b: 0.5 }, dtype: 'float64' });
    expect((await fit(model, data, options)).params.b).toBe(0.5);
    model.dispose();
  });

  test('a vector result against a two-column target', async () => {
    const xs = Array.from({ length: 20 }, (_, i) => i / 10);
    const target = xs.map((x) => [2 * x, Math.sin(3 * x)]);
    await expectSameTraining(
      '[(* a x) (sin (* b x))]',
      { a: 1, b: 2 },
      { inputs: { x: xs }, target },
      {
        optimizer: 'lbfgs',
        epochs: 3,
      },
    );
  });
});

describe('hybrid models: learned components (MLPs) on the tier', () => {
  // The Lotka-Volterra hybrid of the experiments, with smaller networks.
  const HYBRID = '(let ((p (* x y))) [(- (growth x) (* beta p)) (- (* delta p) (death y))])';
  const start = { beta: 0.45, delta: 0.3 };
  const nets =
    (dtype: 'float32' | 'float64' = 'float64') =>
    () => ({
      growth: nn.mlp([1, 8, 8, 1], { seed: 30, dtype }),
      death: nn.mlp([1, 8, 8, 1], { seed: 31, dtype }),
    });
  const lv = { state: ['x', 'y'] };

  test.each([
    ['rk4, one trajectory', { epochs: 10, ode: { ...lv, method: 'rk4' } }],
    [
      'rk4, shooting windows in minibatches',
      { epochs: 4, batchSize: 2, seed: 5, ode: { ...lv, method: 'rk4', windowSteps: 8 } },
    ],
    ['dopri5', { epochs: 5, ode: { ...lv, rtol: 1e-7, atol: 1e-9 } }],
    ['rk4 with the weight penalty', { epochs: 8, weightPenalty: 0.01, ode: { ...lv, method: 'rk4' } }],
  ])('Lotka-Volterra with learned growth and death, %s, Adam', async (_, options) => {
    const fitOptions = { optimizer: 'adam', lr: 0.01, clip: 5, ...options } as FitOptions;
    await expectSameTraining(HYBRID, start, lvData, fitOptions, 1e-9, undefined, nets());
  });

  test('algebraic: a line plus MLPs of two inputs (silu, gelu, relu, softplus), minibatches and L-BFGS', async () => {
    const n = 40;
    const x = Array.from({ length: n }, (_, i) => -2 + i / 10);
    const z = x.map((v) => Math.cos(3 * v));
    const target = x.map((v, i) => 1.5 * v + Math.sin(2 * v) * z[i]);
    for (const activation of ['silu', 'gelu', 'relu', 'softplus'] as const) {
      const functions = () => ({ net: nn.mlp([2, 6, 6, 1], { seed: 3, dtype: 'float64', activation }) });
      const data = { inputs: { x, z }, target };
      const adam: FitOptions = { optimizer: 'adam', lr: 0.02, epochs: 6, batchSize: 16, seed: 2 };
      await expectSameTraining('(+ (* a x) (net x z))', { a: 1 }, data, adam, 1e-9, undefined, functions);
      // One L-BFGS epoch: over more, the softplus model's line searches amplify any change of 1e-16
      // (the libtorch path against itself with a perturbed by 4e-16: 3e-4 apart after two epochs).
      await expectSameTraining(
        '(+ (* a x) (net x z))',
        { a: 1 },
        data,
        { optimizer: 'lbfgs', epochs: 1 },
        1e-8,
        undefined,
        functions,
      );
    }
  });

  test("the vector experiment's hybrid: 3-D gravity (norm) plus a drag MLP of the velocity", async () => {
    const source = '(+ (scale (- 0 (/ (* G (* m1 m2)) (pow (norm r) 3))) r) (drag v))';
    const n = 32;
    const wave = (i: number, k: number) => Math.sin(7.1 * i + 3.3 * k);
    const r = Array.from({ length: n }, (_, i) => [2 + wave(i, 0), 1 + wave(i, 1), 1.5 + wave(i, 2)]);
    const v = Array.from({ length: n }, (_, i) => [wave(i, 3), wave(i, 4), wave(i, 5)]);
    const m1 = Array.from({ length: n }, (_, i) => 1 + Math.abs(wave(i, 6)));
    const m2 = Array.from({ length: n }, (_, i) => 1 + Math.abs(wave(i, 7)));
    const target = r.map((x, i) => {
      const len = Math.hypot(...x);
      const speed = Math.hypot(...v[i]);
      return x.map((c, k) => (-2 * m1[i] * m2[i] * c) / len ** 3 - 0.5 * v[i][k] * speed);
    });
    const functions = () => ({ drag: nn.mlp([3, 8, 8, 3], { seed: 4, dtype: 'float64' }) });
    const options: FitOptions = { optimizer: 'adam', lr: 0.02, epochs: 8, batchSize: 16, seed: 1 };
    await expectSameTraining(
      source,
      { G: 3 },
      { inputs: { r, m1, m2, v }, target },
      options,
      1e-9,
      undefined,
      functions,
    );
  });

  test('float32 trains within float32 rounding of the libtorch path', async () => {
    const options: FitOptions = { optimizer: 'adam', lr: 0.01, epochs: 10, ode: { ...lv, method: 'rk4' } };
    const models = [true, false].map((tier) => compile(HYBRID, { params: start, tier, functions: nets('float32')() }));
    const [a, b] = await Promise.all(models.map((m) => fit(m, lvData, options)));
    for (const m of models) m.dispose();
    expect([a.tier, b.tier]).toEqual([true, false]);
    // float32 sums of different order, through 40 RK4 steps and 10 Adam updates of size lr
    for (const name of Object.keys(b.params)) {
      const [x, y] = [flatten(a.params[name]), flatten(b.params[name])];
      x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThan(1e-4));
    }
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-4 * b.loss);
  });
});

describe('what stays on the libtorch path', () => {
  const run = async (model: Module, data: Parameters<typeof fit>[1], options: FitOptions) => {
    try {
      return (await fit(model, data, options)).tier;
    } finally {
      model.dispose();
    }
  };

  test('nested loops, a large batch, an MLP over many samples, and tier: false', async () => {
    // (a loop alone runs on the tier: tests/tier-loops.test.ts)
    const looping = compile(
      '(loop ((i 0) (s 0)) (if (>= i 3) (* k s y) (recur (+ i 1) (+ s (loop ((j 0)) (if (>= j 2) j (recur (+ j 1))))))))',
      { params: { k: 1 } },
    );
    const data = { t: [0, 0.1, 0.2], observations: [[1], [0.9], [0.8]] };
    expect(await run(looping, data, { epochs: 1, ode: { state: ['y'], method: 'rk4' } })).toBe(false);

    const small = { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] };
    // an MLP over many samples a step: libtorch's batched BLAS beats the tier's sample-by-sample rows
    const xs64 = Array.from({ length: 64 }, (_, i) => i / 64);
    const many = { inputs: { x: xs64 }, target: xs64.map((x) => 2 * x) };
    const big = nn.mlp([1, 32, 32, 1], { seed: 1 });
    const hybrid = compile('(+ (* a x) (net x))', { params: { a: 1 }, functions: { net: big } });
    expect(await run(hybrid, many, { epochs: 1 })).toBe(false);
    const again = compile('(+ (* a x) (net x))', { params: { a: 1 }, functions: { net: big } });
    expect(await run(again, many, { epochs: 1, batchSize: 16 })).toBe(true);
    // An ODE fit's windows have a cap of their own: the same MLP as a right-hand side over 64 windows
    // (73,792, past the algebraic cap) trains on the tier, over 100 (115,300) on libtorch.
    for (const [windows, tier] of [
      [64, true],
      [100, false],
    ] as const) {
      const t = Array.from({ length: windows + 1 }, (_, i) => i / 10);
      const data = { t, observations: t.map((x) => [Math.exp(-x)]) };
      const neural = compile('(net y)', { inputs: ['y'], functions: { net: big } });
      const ode = { state: ['y'], method: 'rk4' as const, windowSteps: 1 };
      expect([windows, await run(neural, data, { epochs: 1, ode })]).toEqual([windows, tier]);
    }
    big.dispose();

    const xs = Array.from({ length: 2000 }, (_, i) => i / 2000);
    const large = { inputs: { x: xs }, target: xs.map((x) => 3 * x) };
    expect(await run(compile('(* a x)', { params: { a: 1 } }), large, { epochs: 1 })).toBe(false);
    expect(await run(compile('(* a x)', { params: { a: 1 } }), large, { epochs: 1, batchSize: 500 })).toBe(true);
    expect(await run(compile('(* a x)', { params: { a: 1 }, tier: false }), small, { epochs: 1 })).toBe(false);
  });

  test('a solution that blows up fails with the same message on both paths', async () => {
    // y' = y^2 from 1, one RK4 step per unit of time: finite at first, overflowing within ten steps.
    const t = Array.from({ length: 12 }, (_, i) => i);
    const data = { t, observations: t.map((x) => [1 + x]) };
    const messages: string[] = [];
    for (const tier of [true, false]) {
      const model = compile('(* a y y)', { params: { a: 1 }, tier, dtype: 'float64' });
      const failure = await fit(model, data, {
        epochs: 1,
        optimizer: 'adam',
        ode: { state: ['y'], method: 'rk4' },
      }).then(
        () => 'resolved',
        (e: Error) => e.message,
      );
      messages.push(failure);
      model.dispose();
    }
    expect(messages[0]).toMatch(/not finite at t = /);
    expect(messages[0]).toBe(messages[1]);
  });
});
