// odeint and multipleShooting against closed forms: exact discrete solutions of Euler and RK4 on
// linear problems (R(z)^N), exp/cos/sin for the continuous solutions, analytic and central
// finite-difference derivatives, all in float64.
import { compile, Module } from '../src/api';
import { Tensor, tensor } from '../src/runtime/tensor';
import { losses, multipleShooting, odeint, optim, type OdeintOptions } from '../src/train';
import { odeAddon } from '../src/train/native-ode';
import { centralDifference } from './helpers/finite-diff';

const values = (t: Tensor): number[] => Array.from(t.toTypedArray());
const decay = (k: number): Module => compile('(* (- 0 k) y)', { inputs: ['y'], params: { k }, dtype: 'float64' });
const oscillator = (w2: number): Module =>
  compile('[v (- 0 (* w2 x))]', { inputs: ['x', 'v'], params: { w2 }, dtype: 'float64' });
const OSC: OdeintOptions = { state: ['x', 'v'] };

/** Largest |a_i - b_i| / max(scale, |b_i|). */
function relError(a: number[], b: number[], scale = 1e-300): number {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.max(scale, Math.abs(b[i]))));
}

/** y(T) of the scalar decay from 1, as a plain function of k (for finite differences). */
function decayAt(k: number, T: number, options: OdeintOptions): number {
  const m = decay(k);
  m.freeze();
  const out = values(odeint(m, [1], [0, T], { state: ['y'], ...options }));
  m.dispose();
  return out[1];
}

// RK4's amplification factor on y' = lambda y: one step multiplies y by R(z), z = lambda h.
const rk4Factor = (z: number): number => 1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24;
const rk4FactorDz = (z: number): number => 1 + z + z ** 2 / 2 + z ** 3 / 6;

describe("exponential decay y' = -k y", () => {
  const k = 0.7;
  const times = [0, 0.5, 1, 1.5, 2];

  test('euler and rk4 give exactly (1 - kh)^N and R(-kh)^N', () => {
    const m = decay(k);
    const h = 0.1;
    const euler = values(odeint(m, [1], times, { state: ['y'], method: 'euler', step: h }));
    const rk4 = values(odeint(m, [1], times, { state: ['y'], method: 'rk4', step: h }));
    const steps = times.map((t) => Math.round(t / h));
    expect(
      relError(
        euler,
        steps.map((N) => (1 - k * h) ** N),
      ),
    ).toBeLessThan(1e-13);
    expect(
      relError(
        rk4,
        steps.map((N) => rk4Factor(-k * h) ** N),
      ),
    ).toBeLessThan(1e-13);
    // And close to the true solution: each step errs by about (kh)^5 / 120 relative to exp(-kh).
    expect(
      relError(
        rk4,
        times.map((t) => Math.exp(-k * t)),
      ),
    ).toBeLessThan((1.1 * 20 * (k * h) ** 5) / 120);
  });

  test('rk4 is fourth order: halving h divides the error by about 16', () => {
    const m = decay(k);
    const error = (h: number): number =>
      Math.abs(values(odeint(m, [1], [0, 2], { state: ['y'], method: 'rk4', step: h }))[1] - Math.exp(-2 * k));
    const errors = [0.1, 0.05, 0.025].map(error);
    const ratios = errors.slice(1).map((e, i) => errors[i] / e);
    for (const ratio of ratios) {
      expect(ratio).toBeGreaterThan(15.5);
      expect(ratio).toBeLessThan(17.5);
    }
    // The leading error term takes over as h shrinks: the ratio tends to 2^4 = 16 from above.
    expect(ratios[1]).toBeLessThan(ratios[0]);
  });

  test('without step, one step per reported interval', () => {
    const m = decay(k);
    const out = values(odeint(m, [1], [0, 0.3, 1], { state: ['y'], method: 'rk4' }));
    expect(relError(out, [1, rk4Factor(-k * 0.3), rk4Factor(-k * 0.3) * rk4Factor(-k * 0.7)])).toBeLessThan(1e-14);
  });

  test('steps of at most h fit each interval evenly', () => {
    const m = decay(k);
    // 0.25 with h = 0.1 takes 3 steps of 1/12; 0.2 takes exactly 2 steps of 0.1.
    const out = values(odeint(m, [1], [0, 0.25, 0.45], { state: ['y'], method: 'rk4', step: 0.1 }));
    const a = rk4Factor((-k * 0.25) / 3) ** 3;
    expect(relError(out, [1, a, a * rk4Factor(-k * 0.1) ** 2])).toBeLessThan(1e-14);
  });

  test.each([1e-4, 1e-6, 1e-8])('dopri5 with rtol %p stays within 10 rtol of exp(-kt)', (rtol) => {
    const m = decay(k);
    const out = values(odeint(m, [1], times, { state: ['y'], rtol, atol: rtol * 1e-2 }));
    const err = relError(
      out,
      times.map((t) => Math.exp(-k * t)),
    );
    expect(err).toBeLessThan(10 * rtol);
  });

  test('dopri5 is the default method and its defaults (rtol 1e-6) hold over a long span', () => {
    const m = decay(k);
    const long = [0, 1, 5, 10];
    const out = values(odeint(m, [1], long, { state: ['y'] }));
    // A relative check: the solution falls to 1e-3, well above atol = 1e-8.
    expect(
      relError(
        out,
        long.map((t) => Math.exp(-k * t)),
      ),
    ).toBeLessThan(1e-5);
  });

  test('a vector input y holds the whole state', () => {
    const m = compile('(* (- 0 k) y)', { inputs: { y: [2] }, params: { k }, dtype: 'float64' });
    const out = odeint(m, [1, -3], times, { method: 'rk4', step: 0.05 });
    expect(out.shape).toEqual([times.length, 2]);
    const factor = (t: number): number => rk4Factor(-k * 0.05) ** Math.round(t / 0.05);
    expect(
      relError(
        values(out),
        times.flatMap((t) => [factor(t), -3 * factor(t)]),
      ),
    ).toBeLessThan(1e-13);
  });

  test('constants come from options.inputs, the time from t', () => {
    const m = compile('(+ (* (- 0 k) y) (cos t))', { inputs: ['y', 'k', 't'], dtype: 'float64' });
    // y' = -k y + cos t, y(0) = 0: y = (k cos t + sin t - k e^{-kt}) / (1 + k^2).
    const exact = (t: number): number => (k * Math.cos(t) + Math.sin(t) - k * Math.exp(-k * t)) / (1 + k * k);
    const out = values(odeint(m, [0], times, { state: ['y'], inputs: { k }, rtol: 1e-10, atol: 1e-12 }));
    expect(relError(out, times.map(exact), 1)).toBeLessThan(1e-8);
  });

  test('options.time names another time input', () => {
    const m = compile('(+ (* 0 y) (* 2 s))', { inputs: ['y', 's'], dtype: 'float64' });
    const out = values(odeint(m, [1], [1, 2, 3], { state: ['y'], time: 's', method: 'rk4' }));
    // y' = 2s: y = 1 + s^2 - 1 (RK4 is exact on polynomials of degree <= 4).
    expect(relError(out, [1, 4, 9])).toBeLessThan(1e-14);
  });
});

describe("harmonic oscillator x' = v, v' = -w2 x", () => {
  const w2 = 4;
  const w = 2;
  const times = [0, 0.4, 1.3, 2, 3];
  const exact = (x0: number, v0: number): number[] =>
    times.flatMap((t) => [
      x0 * Math.cos(w * t) + (v0 / w) * Math.sin(w * t),
      -x0 * w * Math.sin(w * t) + v0 * Math.cos(w * t),
    ]);

  test('dopri5 and rk4 against cos/sin', () => {
    const m = oscillator(w2);
    const adaptive = values(odeint(m, [0.5, 1], times, { ...OSC, rtol: 1e-10, atol: 1e-12 }));
    expect(relError(adaptive, exact(0.5, 1), 1)).toBeLessThan(1e-8);
    const rk4 = values(odeint(m, [0.5, 1], times, { ...OSC, method: 'rk4', step: 0.01 }));
    expect(relError(rk4, exact(0.5, 1), 1)).toBeLessThan(1e-7);
  });

  test('a batch of initial conditions equals per-sample runs', () => {
    const m = oscillator(w2);
    const starts = [
      [1, 0],
      [0, 1],
      [-0.3, 2],
    ];
    const batch = odeint(m, starts, times, { ...OSC, method: 'rk4', step: 0.05 });
    expect(batch.shape).toEqual([times.length, 3, 2]);
    const b = values(batch);
    starts.forEach((s, i) => {
      const single = values(odeint(m, s, times, { ...OSC, method: 'rk4', step: 0.05 }));
      const column = times.flatMap((_, j) => [b[(j * 3 + i) * 2], b[(j * 3 + i) * 2 + 1]]);
      expect(relError(column, single, 1)).toBeLessThan(1e-14);
    });
    // dopri5 shares one step size across the batch, so samples agree with the closed form instead.
    const adaptive = values(odeint(m, starts, times, { ...OSC, rtol: 1e-10, atol: 1e-12 }));
    starts.forEach(([x0, v0], i) => {
      const column = times.flatMap((_, j) => [adaptive[(j * 3 + i) * 2], adaptive[(j * 3 + i) * 2 + 1]]);
      expect(relError(column, exact(x0, v0), 1)).toBeLessThan(1e-8);
    });
  });

  test('a result without the batch dimension holds for every sample (raw binding: a rhs that reads only a constant)', () => {
    const m = compile('(* 2 c)', { inputs: ['c'], dtype: 'float64' });
    const graph = m.nativeGraph([{ name: 'c', shape: [], batched: false }]);
    const c = tensor(1.5, { dtype: 'float64' });
    const y0 = tensor([[0], [1]], { dtype: 'float64' });
    const config = { method: 'euler' as const, step: 0.5, rtol: 1e-6, atol: 1e-8, maxSteps: 10, needGrad: false };
    const out = new Tensor(
      odeAddon().odeint(
        graph,
        y0.handle,
        [0, 1],
        { slots: [{ kind: 'constant', tensor: c.handle }], resultBatched: false },
        config,
      ),
    );
    expect(out.shape).toEqual([2, 2, 1]);
    expect(values(out)).toEqual([0, 1, 3, 4]);
  });
});

describe('gradients', () => {
  test('d y(T)/dk of the decay: exact for RK4 steps, analytic for dopri5, and finite differences', () => {
    const k = 0.7;
    const T = 2;
    const h = 0.1;
    const N = 20;
    const rk4: OdeintOptions = { method: 'rk4', step: h };
    const m = decay(k);
    const y = odeint(m, [1], [0, T], { state: ['y'], ...rk4 });
    y.sum().backward();
    const grad = m.parameters()[0].grad!.item();
    // d/dk R(-kh)^N = N R^(N-1) R'(-kh) (-h)
    const exact = N * rk4Factor(-k * h) ** (N - 1) * rk4FactorDz(-k * h) * -h;
    expect(Math.abs(grad - exact) / Math.abs(exact)).toBeLessThan(1e-12);
    const [fd] = centralDifference(([kk]) => decayAt(kk, T, rk4), [k]);
    expect(Math.abs(grad - fd) / Math.abs(fd)).toBeLessThan(1e-8);

    const tight: OdeintOptions = { rtol: 1e-10, atol: 1e-12 };
    const md = decay(k);
    odeint(md, [1], [0, T], { state: ['y'], ...tight })
      .sum()
      .backward();
    const analytic = -T * Math.exp(-k * T);
    const adaptive = md.parameters()[0].grad!.item();
    expect(Math.abs(adaptive - analytic) / Math.abs(analytic)).toBeLessThan(1e-8);
    // Step sizes depend on k, so finite differences of dopri5 see steps of ~tol / h_fd.
    const [fdAdaptive] = centralDifference(([kk]) => decayAt(kk, T, tight), [k], 1e-4);
    expect(Math.abs(adaptive - fdAdaptive) / Math.abs(analytic)).toBeLessThan(1e-5);
  });

  test('d x(T)/dw2 of the oscillator against the analytic derivative and finite differences', () => {
    const w2 = 4;
    const T = 1.7;
    const xAt = (w: number, options: OdeintOptions): number => {
      const m = oscillator(w);
      m.freeze();
      return values(odeint(m, [1, 0], [0, T], { ...OSC, ...options }))[2];
    };
    const rk4: OdeintOptions = { method: 'rk4', step: 0.01 };
    const m = oscillator(w2);
    const out = odeint(m, [1, 0], [0, T], { ...OSC, ...rk4 });
    expect(out.requiresGrad).toBe(true);
    // x(T) = out[1][0]: pick it with a one-hot weight on the flattened [2, 2] result.
    out
      .mul(
        tensor(
          [
            [0, 0],
            [1, 0],
          ],
          { dtype: 'float64' },
        ),
      )
      .sum()
      .backward();
    const grad = m.parameters()[0].grad!.item();
    // x = cos(sqrt(w2) T): dx/dw2 = -sin(w T) T / (2 w).
    const w = Math.sqrt(w2);
    const analytic = (-Math.sin(w * T) * T) / (2 * w);
    expect(Math.abs(grad - analytic) / Math.abs(analytic)).toBeLessThan(1e-6);
    const [fd] = centralDifference(([ww]) => xAt(ww, rk4), [w2]);
    expect(Math.abs(grad - fd) / Math.abs(fd)).toBeLessThan(1e-7);
  });

  test('gradients reach y0; without anything to differentiate no graph is recorded', () => {
    const k = 0.7;
    const m = decay(k);
    m.freeze();
    const y0 = tensor([2], { dtype: 'float64', requiresGrad: true });
    const out = odeint(m, y0, [0, 1.5], { state: ['y'], rtol: 1e-10, atol: 1e-12 });
    expect(out.requiresGrad).toBe(true);
    out.sum().backward();
    // d(y0 + y(T))/dy0 = 1 + exp(-kT)
    expect(Math.abs(y0.grad!.item() - (1 + Math.exp(-k * 1.5)))).toBeLessThan(1e-9);
    expect(odeint(m, [2], [0, 1.5], { state: ['y'] }).requiresGrad).toBe(false);
    expect(odeint(decay(k), [2], [0, 1.5], { state: ['y'], grad: false }).requiresGrad).toBe(false);
  });
});

describe('multipleShooting', () => {
  const w2 = 4;
  const times = Array.from({ length: 22 }, (_, i) => i * 0.1);
  const observed = times.map((t) => [Math.cos(2 * t), -2 * Math.sin(2 * t)]);

  test('windows batched from observed starts match noiseless observations', () => {
    const m = oscillator(w2);
    // 21 intervals in windows of 5: 4 windows, the last observation is unused.
    const { predictions, targets } = multipleShooting(m, observed, times, {
      ...OSC,
      windowSteps: 5,
      rtol: 1e-10,
      atol: 1e-12,
    });
    expect(predictions.shape).toEqual([6, 4, 2]);
    expect(targets.shape).toEqual([6, 4, 2]);
    const target = values(targets);
    // targets[j][w] is observation 5w + j.
    for (let j = 0; j <= 5; j++)
      for (let w = 0; w < 4; w++)
        expect(target.slice((j * 4 + w) * 2, (j * 4 + w) * 2 + 2)).toEqual(observed[5 * w + j]);
    expect(relError(values(predictions), target, 1)).toBeLessThan(1e-8);
    // At the true parameter the loss and its gradient vanish (to integration accuracy).
    const loss = losses.mse(predictions, targets);
    expect(loss.item()).toBeLessThan(1e-16);
    loss.backward();
    expect(Math.abs(m.parameters()[0].grad!.item())).toBeLessThan(1e-8);
  });

  test("a time input sees each window's absolute time", () => {
    const m = compile('(+ (* 0 y) (cos t))', { inputs: ['y', 't'], dtype: 'float64' });
    const obs = times.map((t) => [Math.sin(t)]);
    const { predictions, targets } = multipleShooting(m, obs, times, {
      state: ['y'],
      windowSteps: 3,
      rtol: 1e-10,
      atol: 1e-12,
    });
    expect(predictions.shape).toEqual([4, 7, 1]);
    expect(relError(values(predictions), values(targets), 1)).toBeLessThan(1e-8);
  });

  test('given starts: each window integrates from its own, at its absolute time, and they get the gradient', () => {
    // y' = cos t from s_w at t_w: y(t) = s_w + sin t - sin t_w, whatever the observations say.
    const m = compile('(+ (* 0 y) (cos t))', { inputs: ['y', 't'], dtype: 'float64' });
    const obs = times.map((t) => [Math.sin(t)]);
    const s = [0.5, -1, 2, 0.25, 3, -0.75, 1.5];
    const starts = tensor(
      s.map((v) => [v]),
      { dtype: 'float64', requiresGrad: true },
    );
    const { predictions, targets } = multipleShooting(m, obs, times, {
      state: ['y'],
      windowSteps: 3,
      rtol: 1e-10,
      atol: 1e-12,
      starts,
    });
    const expected = [0, 1, 2, 3].flatMap((j) =>
      s.map((v, w) => v + Math.sin(times[3 * w + j]) - Math.sin(times[3 * w])),
    );
    expect(relError(values(predictions), expected, 1)).toBeLessThan(1e-8);
    // The observations stay the targets, row 0 included.
    expect(values(targets)).toEqual([0, 1, 2, 3].flatMap((j) => s.map((_, w) => obs[3 * w + j][0])));
    // d sum(predictions) / d s_w = 4: each start shifts its window's 4 reported states.
    predictions.sum().backward();
    expect(values(starts.grad!)).toEqual(s.map(() => 4));
    expect(starts.disposed).toBe(false);

    const shooting = (given: unknown) => () =>
      multipleShooting(m, obs, times, { state: ['y'], windowSteps: 3, starts: given as Tensor });
    expect(shooting([[1]])).toThrow(/starts must be a Tensor of shape \[7, 1\], got/);
    expect(shooting(tensor([[1], [2]], { dtype: 'float64' }))).toThrow(
      /starts must have shape \[7, 1\] \(one state per window\), got \[2,1\]/,
    );
    expect(shooting(tensor(s.map((v) => [v])))).toThrow(
      /starts is float32 on cpu but the right-hand side is float64 on cpu/,
    );
    const gone = tensor(
      s.map((v) => [v]),
      { dtype: 'float64' },
    );
    gone.dispose();
    expect(shooting(gone)).toThrow(/starts/);
  });

  test('bad windows', () => {
    const m = oscillator(w2);
    expect(() => multipleShooting(m, observed, times, { ...OSC, windowSteps: 22 })).toThrow(
      /windowSteps = 22 needs at least 23 observations, got 22/,
    );
    expect(() => multipleShooting(m, observed, times, { ...OSC, windowSteps: 0 })).toThrow(
      /windowSteps must be a whole number >= 1/,
    );
    expect(() => multipleShooting(m, observed, times.slice(1), { ...OSC, windowSteps: 2 })).toThrow(
      /22 observations but 21 times/,
    );
    const uneven = times.map((t, i) => (i > 10 ? t + 0.05 : t));
    expect(() => multipleShooting(m, observed, uneven, { ...OSC, windowSteps: 5 })).toThrow(
      /share one time spacing, but window 2 differs/,
    );
    expect(() => multipleShooting(m, [1, 2], [0, 1], { ...OSC, windowSteps: 1 })).toThrow(
      /observations must have shape \[T, n\]/,
    );
    expect(() => multipleShooting(m, observed, times, OSC as never)).toThrow(/windowSteps is required/);
  });
});

test('fitting k of exponential decay from noiseless rk4 data with Adam recovers it within 1%', () => {
  const kTrue = 0.8;
  const times = Array.from({ length: 21 }, (_, i) => i * 0.1);
  const rk4: OdeintOptions = { state: ['y'], method: 'rk4', step: 0.05 };
  const starts = [[1], [2.5]];
  const truth = decay(kTrue);
  truth.freeze();
  const data = odeint(truth, starts, times, rk4);
  const m = decay(0.3);
  const opt = optim.adam(m.parameters(), { lr: 0.05 });
  for (let i = 0; i < 300; i++) {
    opt.zeroGrad();
    const loss = losses.mse(odeint(m, starts, times, rk4), data);
    loss.backward();
    opt.step();
  }
  const k = m.parameters()[0].item();
  expect(Math.abs(k - kTrue) / kTrue).toBeLessThan(0.01);
});

describe('errors', () => {
  const m = decay(0.7);
  const y = { state: ['y'] };

  test('bad options and arguments', () => {
    expect(() => odeint(m, [1], [0, 1], { ...y, method: 'midpoint' as never })).toThrow(
      new RangeError("odeint: unknown method 'midpoint'; expected one of euler, rk4, dopri5"),
    );
    expect(() => odeint(m, [1], [0, 1, 1], y)).toThrow(
      /times must be strictly increasing, but t\[2\] = 1 follows t\[1\] = 1/,
    );
    expect(() => odeint(m, [1], [0, 2, 1], { ...y, method: 'rk4' })).toThrow(/strictly increasing/);
    expect(() => odeint(m, [1], [0, NaN], y)).toThrow('odeint: times must be finite, but t[1] = nan');
    expect(() => odeint(m, [1], [0, -Infinity], y)).toThrow('odeint: times must be finite, but t[1] = -inf');
    // A time float32 cannot hold was a bare libtorch overflow message from inside the integrator.
    const m32 = compile('(* -1 y)', { inputs: ['y'] });
    for (const method of ['rk4', 'dopri5'] as const)
      expect(() => odeint(m32, [1], [0, 1, 1e39], { ...y, method })).toThrow(
        "odeint: t[2] = 1e+39 is beyond the range of float32, the model's dtype; compile it with dtype 'float64'",
      );
    m32.dispose();
    expect(() => odeint(m, [1], [], y)).toThrow(/at least one time/);
    expect(() => odeint(m, [1], 'soon' as never, y)).toThrow(/t must be an array of numbers or a 1-D Tensor/);
    expect(() => odeint(m, [1], [0, 1], { ...y, step: 0.1 })).toThrow(
      /odeint: step sets the fixed step of 'euler' and 'rk4'; 'dopri5' chooses its own steps/,
    );
    expect(() => odeint(m, [1], [0, 1], { ...y, method: 'rk4', rtol: 1e-3 })).toThrow(
      /rtol and atol control the adaptive methods only; 'rk4' takes a fixed step/,
    );
    expect(() => odeint(m, [1], [0, 1], { ...y, method: 'rk4', step: -1 })).toThrow(/step must be a finite number > 0/);
    expect(() => odeint(m, [1], [0, 1], { ...y, rtol: -1 })).toThrow(/rtol must be a finite number >= 0/);
    expect(() => odeint(m, [1], [0, 1], { ...y, rtol: 0, atol: 0 })).toThrow('odeint: rtol and atol cannot both be 0');
    expect(() => odeint(m, [1], [0, 1], { ...y, maxSteps: 2.5 })).toThrow(/maxSteps must be a whole number/);
    expect(() => odeint(m, [1], [0, 1], { ...y, tol: 1 } as never)).toThrow(/unknown option 'tol'/);
    expect(() => odeint(m, [[[1]]], [0, 1], y)).toThrow(/y0 must have shape \[n\] or \[B, n\]/);
    expect(() => odeint(m, 'one' as never, [0, 1], y)).toThrow(/odeint: y0 must be a number or a nested array/);
    expect(() => odeint('(* y y)' as never, [1], [0, 1], y)).toThrow(/must be a compiled Module/);
  });

  test('names and shapes that do not fit the program', () => {
    const osc = oscillator(4);
    expect(() => odeint(osc, [1, 0, 0], [0, 1], OSC)).toThrow(/options.state names 2 inputs but y0 has 3 components/);
    // a state the program does not read is allowed (it accumulates); the input it then lacks is not
    expect(() => odeint(osc, [1, 0], [0, 1], { state: ['x', 'z'] })).toThrow(
      /no value for the input v; give constant values in options.inputs/,
    );
    expect(() => odeint(osc, [1, 0], [0, 1], { state: ['x', 3 as never] })).toThrow(
      /options.state must name the state's components, got number 3/,
    );
    expect(() => odeint(osc, [1, 0], [0, 1], { state: ['x', 'x'] })).toThrow(/names 'x' twice/);
    expect(() => odeint(osc, [1, 0], [0, 1])).toThrow(/no input 'y' to hold the state/);
    expect(() => odeint(osc, [1, 0], [0, 1], { ...OSC, inputs: { q: 1 } })).toThrow(
      /options.inputs names 'q' is not an input/,
    );
    expect(() => odeint(osc, [1, 0], [0, 1], { ...OSC, inputs: { x: 1 } })).toThrow(
      /'x' is the state input and cannot also be given/,
    );
    expect(() => odeint(osc, [1, 0], [0, 1], { ...OSC, time: 'v' })).toThrow(
      /'v' cannot be both the time and part of the state/,
    );
    const withK = compile('(* (- 0 k) (* y c))', { inputs: ['y', 'k', 'c'], dtype: 'float64' });
    expect(() => odeint(withK, [1], [0, 1], y)).toThrow(
      /no value for the inputs k, c; give constant values in options.inputs/,
    );
    const twice = compile('[y y]', { inputs: ['y'], dtype: 'float64' });
    expect(() => odeint(twice, [1], [0, 1], y)).toThrow(
      /returns a vector\[2\] but the state has 1 component; it must return a vector\[1\] or a scalar/,
    );
    expect(() => odeint(twice, [[1, 2]], [0, 1], y)).toThrow(/names 1 inputs but y0 has 2 components/);
  });

  test('a solution that blows up at t = 1 fails clearly instead of hanging, with the kind ode-blowup', () => {
    const blow = compile('(* y y)', { inputs: ['y'], dtype: 'float64' });
    const thrown = (f: () => unknown): Error & { kind?: string } => {
      try {
        f();
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a throw');
    };
    const limited = thrown(() => odeint(blow, [1], [0, 2], { ...y, maxSteps: 300 }));
    expect(limited.message).toMatch(/more than maxSteps = 300 steps needed to reach t = 2 \(reached t = (0\.99|1\.0)/);
    expect(limited.kind).toBeUndefined(); // a limit, not a blow-up: it may be stiffness
    // With the default 10,000 steps the step size collapses first, close to the singularity.
    const collapsed = thrown(() => odeint(blow, [1], [0, 2], y));
    expect(collapsed.message).toMatch(/dopri5's step size collapsed to .* at t = 1\.0000/);
    expect(collapsed.kind).toBe('ode-blowup');
    const infinite = thrown(() => odeint(blow, [1], [0, 2], { ...y, method: 'rk4', step: 0.01 }));
    expect(infinite.message).toMatch(/the solution is not finite at t = 2/);
    expect(infinite.kind).toBe('ode-blowup');
    // Fixed steps are counted before any work: 2632 + 7895 steps.
    expect(() => odeint(blow, [1], [0, 0.5, 2], { ...y, method: 'euler', step: 1.9e-4 })).toThrow(
      /more than maxSteps = 10000 steps needed to reach t = 2 \(reached t = 0\.5\)/,
    );
    // An infinite derivative at the start, before dopri5 takes a step.
    const pole = compile('(/ 1 (- y 1))', { inputs: ['y'], dtype: 'float64' });
    const start = thrown(() => odeint(pole, [1], [0, 1], y));
    expect(start.message).toBe('odeint: the right-hand side is not finite at the initial state (t = 0)');
    expect(start.kind).toBe('ode-blowup');
    blow.dispose();
    pole.dispose();
  });

  test('the raw binding rejects malformed arguments with Errors', () => {
    const graph = m.nativeGraph([{ name: 'y', shape: [], batched: false }]);
    const y0 = tensor([1], { dtype: 'float64' });
    const config = { method: 'rk4' as const, step: 0, rtol: 1e-6, atol: 1e-8, maxSteps: 10, needGrad: false };
    const ode = odeAddon();
    expect(() =>
      ode.odeint(graph, y0.handle, [0, 1], { slots: [{ kind: 'component', index: 3 }], resultBatched: false }, config),
    ).toThrow(/component 3 is out of range/);
    expect(() =>
      ode.odeint(graph, y0.handle, [0, 1], { slots: [{ kind: 'nope' } as never], resultBatched: false }, config),
    ).toThrow(/unknown input slot kind 'nope'/);
    expect(() => ode.odeint(graph, y0.handle, [0, 1], { slots: [], resultBatched: false }, config)).toThrow(
      /takes 1 inputs, got 0/,
    );
    const withConfig = (changes: object) =>
      ode.odeint(
        graph,
        y0.handle,
        [0, 1],
        { slots: [{ kind: 'state' }], resultBatched: false },
        { ...config, ...changes },
      );
    expect(() => withConfig({ method: 'x' })).toThrow(/unknown method 'x'/);
    expect(() => withConfig({ maxSteps: 0 })).toThrow(/maxSteps must be a whole number/);
    expect(() => ode.odeint({} as never, y0.handle, [0, 1], { slots: [], resultBatched: false }, config)).toThrow();
    // A result that does not match the state: the program's scalar against a 2-component state.
    expect(() =>
      ode.odeint(
        graph,
        tensor([1, 2], { dtype: 'float64' }).handle,
        [0, 1],
        { slots: [{ kind: 'component', index: 0 }], resultBatched: false },
        config,
      ),
    ).toThrow(/right-hand side returned shape \[1\] but the state has shape \[2\]/);
  });
});
