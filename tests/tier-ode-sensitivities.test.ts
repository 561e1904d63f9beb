// fit()'s ODE gradient on the small-program tier, taken two ways (native/tier_fit.cpp): forward
// sensitivities carried through the solve against the reverse sweep over the kept steps. Both
// differentiate the same discrete scheme, so their gradients agree to rounding (float64 within
// 1e-10) and their losses bit for bit; the forward one is also held to central differences of a
// plain-JS RK4. ode.sensitivities forces either, 'auto' follows src/train/ode-gradient.ts's rule,
// and result.odeGradient says which ran.
import * as fs from 'fs';
import * as path from 'path';
import { compile, fit, nn, type FitOdeOptions, type FitOptions, type FitResult } from '../src';
import type { Mlp } from '../src/nn/mlp';
import { noisyLotkaVolterra } from '../src/fuzz/soak';
import { odeGradientOption } from '../src/train/ode-gradient';
import { flatten } from './helpers/finite-diff';

const LV = fs.readFileSync(path.join(__dirname, '..', 'examples', 'lotka_volterra.neural'), 'utf8');
const LV_START = { alpha: 0.8, beta: 0.45, delta: 0.3, gamma: 0.6 };
const lvData = noisyLotkaVolterra(LV, 41);
const lv = { state: ['x', 'y'] };
const HYBRID = '(let ((p (* x y))) [(- (growth x) (* beta p)) (- (* delta p) (death y))])';
const nets = (dtype: 'float32' | 'float64') => ({
  growth: nn.mlp([1, 8, 8, 1], { seed: 30, dtype }),
  death: nn.mlp([1, 8, 8, 1], { seed: 31, dtype }),
});
type Mode = 'forward' | 'reverse';
/** A fit's options but its epochs (the helpers set them). */
type Options = Partial<FitOptions>;
type Method = Pick<FitOdeOptions, 'method' | 'step' | 'rtol' | 'atol'>;

interface Model {
  source: string;
  params: Record<string, number>;
  functions?: (dtype: 'float32' | 'float64') => Record<string, Mlp>;
  dtype?: 'float32' | 'float64';
}

/** The first step's loss and gradient: every parameter's (flat, by name), and the start states' (flat). */
interface FirstStep {
  loss: number;
  grads: Record<string, number[]>;
  startGrads?: number[];
}

type OdeData = { t: number[]; observations: number[][] };

/** Each window's first observation (one for the whole trajectory): where trained starts begin. */
const firstRows = (data: OdeData, k: number) =>
  Array.from({ length: k === 0 ? 1 : Math.floor((data.t.length - 1) / k) }, (_, w) => data.observations[w * k]);

/** One SGD step of rate `rate` from the model's values: its loss, and the moves over the rate (the gradient). */
async function sgdStep(model: Model, data: OdeData, options: Options, mode: Mode, rate: number): Promise<FirstStep> {
  const dtype = model.dtype ?? 'float64';
  const m = compile(model.source, { params: model.params, dtype, functions: model.functions?.(dtype) ?? {} });
  const before = Object.fromEntries(Object.entries(m.namedParameters()).map(([k, t]) => [k, flatten(t.toArray())]));
  const steps: { loss: number; params: Record<string, number[]> }[] = [];
  try {
    const result = await fit(m, data, {
      optimizer: 'sgd',
      lr: rate,
      schedule: 'none',
      ...options,
      ode: { ...options.ode, sensitivities: mode },
      epochs: 1,
      // The first step's values, whatever steps follow it in the epoch (minibatches).
      onProgress: (p) =>
        steps.push({
          loss: p.loss,
          params: Object.fromEntries(Object.entries(p.params).map(([k, v]) => [k, flatten(v)])),
        }),
      progressEvery: 1,
    });
    expect([result.tier, result.odeGradient]).toEqual([true, mode]);
    const grads = Object.fromEntries(
      Object.entries(before).map(([k, v]) => [k, v.map((x, i) => (x - steps[0].params[k][i]) / rate)]),
    );
    // Trained starts are not in the progress: their gradient is taken over a full-batch epoch of one step.
    const starts = options.ode?.trainStarts ? firstRows(data, options.ode.windowSteps ?? 0).flat() : undefined;
    const startGrads = starts && result.startStates!.flat().map((v, i) => (starts[i] - v) / rate);
    return { loss: steps[0].loss, grads, startGrads };
  } finally {
    m.dispose();
  }
}

/**
 * The first step's gradient to rounding: a first step of a tiny rate gives its size, and a second
 * of rate 2^-5 / (its largest entry), a power of two, moves each value by at most about 0.03, so
 * that the moves hold the gradient to a few ulps of the values over the rate, and the model stays
 * near its values for what follows in the fit (the final loss).
 */
async function firstStep(model: Model, data: OdeData, options: Options, mode: Mode): Promise<FirstStep> {
  const rough = await sgdStep(model, data, options, mode, model.dtype === 'float32' ? 2 ** -12 : 2 ** -30);
  const largest = Math.max(
    ...Object.values(rough.grads).flat().map(Math.abs),
    ...(rough.startGrads ?? []).map(Math.abs),
  );
  return sgdStep(model, data, options, mode, 2 ** Math.round(Math.log2(2 ** -5 / largest)));
}

/** Each component within `tolerance` of the other's, relative to the larger of its own size and 1e-3 of the vector's. */
function expectSameVector(got: number[], want: number[], tolerance: number): void {
  expect(got).toHaveLength(want.length);
  const scale = Math.max(...want.map(Math.abs));
  expect(scale).toBeGreaterThan(0); // a real gradient, not zeros on both sides
  got.forEach((v, i) => {
    expect(Number.isFinite(v)).toBe(true);
    expect(Math.abs(v - want[i])).toBeLessThanOrEqual(tolerance * Math.max(Math.abs(want[i]), 1e-3 * scale));
  });
}

/** Forward and reverse: the same first loss bit for bit, gradients within `tolerance`. */
async function expectSameGradient(
  model: Model,
  data: OdeData,
  options: Options,
  tolerance = 1e-10,
): Promise<FirstStep> {
  const forward = await firstStep(model, data, options, 'forward');
  const reverse = await firstStep(model, data, options, 'reverse');
  expect(forward.loss).toBe(reverse.loss);
  expect(Number.isFinite(reverse.loss)).toBe(true);
  const names = Object.keys(reverse.grads);
  expect(Object.keys(forward.grads)).toEqual(names);
  expectSameVector(
    names.flatMap((k) => forward.grads[k]),
    names.flatMap((k) => reverse.grads[k]),
    tolerance,
  );
  if (reverse.startGrads) expectSameVector(forward.startGrads!, reverse.startGrads, tolerance);
  return reverse;
}

const lvModel: Model = { source: LV, params: LV_START };

describe('forward sensitivities give the reverse sweep’s gradient (float64, within 1e-10)', () => {
  test.each<[string, Method]>([
    ['euler with substeps', { method: 'euler', step: 0.03 }],
    ['rk4', { method: 'rk4' }],
    ['dopri5', { method: 'dopri5', rtol: 1e-7, atol: 1e-9 }],
  ])('Lotka-Volterra, the whole trajectory, %s', async (_, method) => {
    await expectSameGradient(lvModel, lvData, { ode: { ...lv, ...method, windowSteps: 0 } });
  });

  test('shooting windows drawn in minibatches (the first step’s index: a shuffled subset)', async () => {
    for (const method of [{ method: 'rk4' }, { method: 'dopri5', rtol: 1e-8, atol: 1e-10 }] as Method[])
      await expectSameGradient(lvModel, lvData, { batchSize: 3, seed: 7, ode: { ...lv, ...method, windowSteps: 5 } });
  });

  test('trained start states, windows and the whole trajectory: the constants’ and the starts’ gradients', async () => {
    for (const windowSteps of [8, 0]) {
      const r = await expectSameGradient(lvModel, lvData, {
        ode: { ...lv, method: 'rk4', windowSteps, trainStarts: true },
      });
      expect(r.startGrads).toHaveLength((windowSteps === 0 ? 1 : 5) * 2);
    }
  });

  test('a right-hand side reading the time and a constant, per-window start times, dopri5', async () => {
    const t = Array.from({ length: 31 }, (_, i) => i * 0.2);
    const observations = t.map((x) => [Math.cos(1.3 * x), -1.3 * Math.sin(1.3 * x)]);
    await expectSameGradient(
      { source: '[v (- (* F (cos (* w t))) (* k x) (* c v))]', params: { k: 3, c: 0.3, F: 0.8 } },
      { t, observations },
      { ode: { state: ['x', 'v'], time: 't', inputs: { w: 1.3 }, windowSteps: 6, rtol: 1e-7, atol: 1e-9 } },
    );
  });

  test('an if in the right-hand side (a spring that only pushes), both branches taken; a param never reached stays', async () => {
    // q sits in a branch no state takes (x never falls below -100): autograd gives it no gradient,
    // and neither way of the tier's may, so that AdamW leaves it alone (its weight decay would move it).
    const source = '[v (- (if (< x 0) (* -1 k x) (if (< x -100) (* q x) 0)) (* c v))]';
    const t = Array.from({ length: 41 }, (_, i) => i / 10);
    // From x = 1 moving left at 2: x crosses 0 and comes back, so both branches are taken.
    const observations = t.map((x) => [
      Math.cos(2 * x) * Math.exp(-0.2 * x),
      -2 * Math.cos(2 * x) * Math.exp(-0.2 * x),
    ]);
    const model = { source, params: { k: 4, c: 0.2, q: 1 } };
    const ode = { state: ['x', 'v'], windowSteps: 0 };
    for (const method of [{ method: 'rk4' }, { method: 'dopri5', rtol: 1e-8, atol: 1e-10 }] as Method[]) {
      const r = await expectSameGradient(model, { t, observations }, { ode: { ...ode, ...method } });
      expect(r.grads.q).toEqual([0]);
    }
    for (const mode of ['forward', 'reverse'] as const) {
      const m = compile(source, { params: model.params, dtype: 'float64' });
      const options: FitOptions = { optimizer: 'adamw', lr: 0.05, epochs: 5, ode: { ...ode, sensitivities: mode } };
      const result = await fit(m, { t, observations }, options);
      m.dispose();
      expect(result.odeGradient).toBe(mode);
      expect(result.params.q).toBe(1);
      expect(result.params.k).not.toBe(4);
    }
  });

  test('MLPs in the right-hand side: every weight’s gradient, rk4 and dopri5', async () => {
    const hybrid: Model = { source: HYBRID, params: { beta: 0.45, delta: 0.3 }, functions: nets };
    for (const method of [{ method: 'rk4' }, { method: 'dopri5', rtol: 1e-7, atol: 1e-9 }] as Method[])
      await expectSameGradient(hybrid, lvData, { ode: { ...lv, ...method, windowSteps: 0 } });
    await expectSameGradient(hybrid, lvData, { batchSize: 2, seed: 3, ode: { ...lv, method: 'rk4', windowSteps: 8 } });
  });

  test('past the 64 MB of stage register files the solve keeps for reverse, reverse recomputes them: the same gradient', async () => {
    // RK4 in steps of 0.0001 over t = 0 to 4: 40,000 steps of 4 stages, each stage's registers (80
    // float64s for the two 1-8-8-1 MLPs and the rest) 102 MB in all (TapeOde::kKeptBytes).
    const hybrid: Model = { source: HYBRID, params: { beta: 0.45, delta: 0.3 }, functions: nets };
    await expectSameGradient(hybrid, lvData, {
      ode: { ...lv, method: 'rk4', step: 0.0001, maxSteps: 100_000, windowSteps: 0 },
    });
  }, 120_000);

  test('float32: the same loss, gradients within float32 rounding', async () => {
    await expectSameGradient(
      { ...lvModel, dtype: 'float32' },
      lvData,
      { ode: { ...lv, method: 'rk4', windowSteps: 8, trainStarts: true } },
      1e-4,
    );
  });
});

describe('the forward gradient is the loss’s', () => {
  test('against central differences of a plain-JS RK4: the pendulum’s constants and its trained start', async () => {
    const h = 0.05;
    const t = Array.from({ length: 61 }, (_, i) => i * h);
    const observations = t.map((x) => [
      Math.cos(3 * x) * Math.exp(-0.15 * x),
      -3 * Math.sin(3 * x) * Math.exp(-0.15 * x),
    ]);
    const source = '[omega (- (- 0 (* g_L (sin theta))) (* b omega))]';
    const params = { g_L: 8, b: 0.5 };
    /** The MSE of RK4 (one step per interval) from y0 against the observations. */
    const loss = ([gL, b, th0, om0]: number[]) => {
      const f = ([th, om]: number[]) => [om, -gL * Math.sin(th) - b * om];
      let y = [th0, om0];
      let sum = 0;
      for (let i = 0; i < t.length; i++) {
        if (i > 0) {
          const add = (a: number[], d: number[], w: number) => a.map((v, j) => v + w * d[j]);
          const k1 = f(y);
          const k2 = f(add(y, k1, h / 2));
          const k3 = f(add(y, k2, h / 2));
          const k4 = f(add(y, k3, h));
          y = y.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]));
        }
        sum += (y[0] - observations[i][0]) ** 2 + (y[1] - observations[i][1]) ** 2;
      }
      return sum / (2 * t.length);
    };
    const got = await firstStep(
      { source, params },
      { t, observations },
      { ode: { state: ['theta', 'omega'], method: 'rk4', windowSteps: 0, trainStarts: true } },
      'forward',
    );
    const at = [params.g_L, params.b, ...observations[0]];
    const fd = at.map((_, i) => {
      const e = 1e-6;
      const shifted = (d: number) => at.map((v, j) => (j === i ? v + d : v));
      return (loss(shifted(e)) - loss(shifted(-e))) / (2 * e);
    });
    const gradient = [got.grads.g_L[0], got.grads.b[0], ...got.startGrads!];
    gradient.forEach((g, i) => expect(Math.abs(g - fd[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd[i]))));
    expect(Math.min(...fd.map(Math.abs))).toBeGreaterThan(1e-3);
    expect(got.loss).toBeCloseTo(loss(at), 14);
  });
});

describe('fit() with ode.sensitivities', () => {
  test('forward and reverse train alike: Adam over minibatches of windows with trained starts (float64, 1e-9)', async () => {
    const options: FitOptions = {
      optimizer: 'adam',
      lr: 0.02,
      epochs: 6,
      batchSize: 2,
      seed: 5,
      ode: { ...lv, method: 'rk4', windowSteps: 8, trainStarts: true },
    };
    const run = async (mode: Mode) => {
      const m = compile(LV, { params: LV_START, dtype: 'float64' });
      try {
        return await fit(m, lvData, { ...options, ode: { ...options.ode, sensitivities: mode } });
      } finally {
        m.dispose();
      }
    };
    const [a, b] = [await run('forward'), await run('reverse')];
    expect([a.odeGradient, b.odeGradient]).toEqual(['forward', 'reverse']);
    expect([a.steps, a.stopReason]).toEqual([b.steps, b.stopReason]);
    expect(a.steps).toBe(18);
    for (const name of Object.keys(LV_START)) {
      const [x, y] = [a.params[name] as number, b.params[name] as number];
      expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(y)));
      expect(y).not.toBe(LV_START[name as keyof typeof LV_START]);
    }
    const [s, r] = [a.startStates!.flat(), b.startStates!.flat()];
    s.forEach((v, i) => expect(Math.abs(v - r[i])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(r[i]))));
    expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-9 * b.loss);
  });

  test("'auto' takes the reverse sweep, for one state component (MLPs or not) as for more; forcing either holds", async () => {
    const decay = { t: [0, 0.5, 1, 1.5, 2], observations: [[2], [1.4], [1], [0.7], [0.5]] };
    const neural: Model = {
      source: '(+ (* (- k) y) (net y))',
      params: { k: 0.5 },
      functions: (dtype) => ({ net: nn.mlp([1, 8, 8, 1], { seed: 7, dtype }) }),
    };
    const cases: [Model, Parameters<typeof fit>[1], Options, string][] = [
      [{ source: '(* (- k) y)', params: { k: 0.5 } }, decay, { ode: { state: ['y'], method: 'rk4' } }, 'reverse'],
      [neural, decay, { ode: { state: ['y'], method: 'dopri5' } }, 'reverse'],
      [neural, decay, { ode: { state: ['y'], method: 'dopri5', sensitivities: 'forward' } }, 'forward'],
      [lvModel, lvData, { ode: { ...lv, method: 'rk4', windowSteps: 0 } }, 'reverse'],
      [lvModel, lvData, { ode: { ...lv, method: 'rk4', windowSteps: 0, sensitivities: 'forward' } }, 'forward'],
    ];
    for (const [model, data, options, want] of cases) {
      const m = compile(model.source, { params: model.params, functions: model.functions?.('float32') ?? {} });
      const result = await fit(m, data, { ...options, epochs: 2 });
      m.dispose();
      expect(result.odeGradient).toBe(want);
    }
    expect([undefined, 'auto', 'reverse', 'forward'].map((asked) => odeGradientOption('fit', asked))).toEqual([
      'reverse',
      'reverse',
      'reverse',
      'forward',
    ]);
  });

  test('off the tier and for algebraic fits there is no odeGradient; the option is accepted and changes nothing there', async () => {
    const options: FitOptions = {
      optimizer: 'adam',
      lr: 0.02,
      epochs: 3,
      ode: { ...lv, method: 'rk4', windowSteps: 0 },
    };
    const results = [];
    for (const sensitivities of ['forward', 'reverse'] as const) {
      const m = compile(LV, { params: LV_START, dtype: 'float64', tier: false });
      results.push(await fit(m, lvData, { ...options, ode: { ...options.ode, sensitivities } }));
      m.dispose();
    }
    expect(results.map((r) => [r.tier, r.odeGradient])).toEqual([
      [false, undefined],
      [false, undefined],
    ]);
    expect(results[0].params).toEqual(results[1].params);
    const line = compile('(* a x)', { params: { a: 1 } });
    const algebraic = await fit(line, { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] }, { epochs: 2 });
    line.dispose();
    expect([algebraic.tier, algebraic.odeGradient]).toEqual([true, undefined]);
  });

  test('a solution that blows up fails the same way in both modes', async () => {
    // y' = y^2 from 1, one RK4 step per unit of time: finite at first, overflowing within ten steps.
    const t = Array.from({ length: 11 }, (_, i) => i);
    const observations = t.map(() => [1]);
    const messages: string[] = [];
    for (const sensitivities of ['forward', 'reverse'] as const) {
      const m = compile('(* a y y)', { params: { a: 1 }, dtype: 'float64' });
      await fit(m, { t, observations }, { epochs: 1, ode: { state: ['y'], method: 'rk4', sensitivities } }).catch(
        (e: Error) => messages.push(e.message),
      );
      m.dispose();
    }
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/not finite at t = /);
    expect(messages[1]).toBe(messages[0]);
  });

  test('a value other than auto, reverse or forward is refused', async () => {
    const m = compile(LV, { params: LV_START });
    try {
      const asked = (sensitivities: unknown) => fit(m, lvData, { epochs: 1, ode: { ...lv, sensitivities } as never });
      await expect(asked('sideways')).rejects.toThrow(
        "fit: unknown ode.sensitivities 'sideways'; expected one of auto, reverse, forward",
      );
      await expect(asked(1)).rejects.toThrow(
        /^fit: unknown ode\.sensitivities .*1.*; expected one of auto, reverse, forward$/,
      );
    } finally {
      m.dispose();
    }
  });
});
