// fit()'s defaults for a few constants (L-BFGS) and for long trajectories (windows, then the whole),
// and its `starts` option: several starting points, the lowest final loss kept, every start reported.
import * as fs from 'fs';
import * as path from 'path';
import { compile, fit, nn } from '../src';
import { noisyLotkaVolterra } from '../src/fuzz/soak';

/** The logistic growth y' = r y (1 - y / K) from y0 = 2, exactly (r 0.9, K 50), at t = 0, 0.5, ..., 12. */
function logisticData(r = 0.9, K = 50, y0 = 2) {
  const t = Array.from({ length: 25 }, (_, i) => i / 2);
  return { t, observations: t.map((x) => [K / (1 + ((K - y0) / y0) * Math.exp(-r * x))]) };
}
const LOGISTIC = '(* r y (- 1 (/ y K)))';

describe("fit's default optimizer", () => {
  test("a few constants on the whole data: L-BFGS, which converges and says so (the issue's logistic growth)", async () => {
    const model = compile(LOGISTIC, { params: { r: 0.5, K: 30 }, dtype: 'float64' });
    const result = await fit(model, logisticData(), { epochs: 50, ode: { state: ['y'], method: 'rk4', step: 0.05 } });
    expect(result.optimizer).toBe('lbfgs');
    expect(result.converged).toBe(true);
    expect(Math.abs((result.params.r as number) - 0.9) / 0.9).toBeLessThan(1e-3);
    expect(Math.abs((result.params.K as number) - 50) / 50).toBeLessThan(1e-3);
    model.dispose();
  });

  test('minibatches, or more than 20 trainable numbers: Adam', async () => {
    const xs = Array.from({ length: 32 }, (_, i) => i / 32);
    const data = { inputs: { x: xs }, target: xs.map((x) => 2 * x) };
    const line = compile('(* a x)', { params: { a: 1 } });
    expect((await fit(line, data, { epochs: 1, batchSize: 8 })).optimizer).toBe('adam');
    expect((await fit(line, data, { epochs: 1 })).optimizer).toBe('lbfgs');
    expect((await fit(line, data, { epochs: 1, optimizer: 'sgd' })).optimizer).toBe('sgd');
    line.dispose();
    const net = nn.mlp([1, 8, 1], { seed: 1 }); // 25 numbers
    const hybrid = compile('(+ (* a x) (net x))', { params: { a: 1 }, functions: { net } });
    expect((await fit(hybrid, data, { epochs: 1 })).optimizer).toBe('adam');
    hybrid.dispose();
    net.dispose();
  });
});

describe('fit with starts', () => {
  // sin(w t) sampled over two periods at w = 3: from w = 0.5 gradient descent stalls in a local minimum.
  const t = Array.from({ length: 60 }, (_, i) => (i * 4) / 60);
  const data = { inputs: { t }, target: t.map((x) => Math.sin(3 * x)) };
  const SINE = '(sin (* w t))';

  test('one start from w = 0.5 stalls; the listed starts find w = 3 and keep it', async () => {
    const single = compile(SINE, { params: { w: 0.5 }, dtype: 'float64' });
    const stuck = await fit(single, data, { epochs: 30 });
    expect(Math.abs((stuck.params.w as number) - 3)).toBeGreaterThan(0.5);
    expect(stuck.starts).toBeUndefined();
    single.dispose();

    const model = compile(SINE, { params: { w: 0.5 }, dtype: 'float64' });
    const result = await fit(model, data, { epochs: 30, starts: [{ w: 1.5 }, { w: 2.8 }, { w: 5 }] });
    expect(result.start).toBe(2);
    expect(Math.abs((result.params.w as number) - 3)).toBeLessThan(1e-6);
    // The model holds the kept start's parameters; every start is reported, the kept one lowest.
    expect(model.namedParameters().w.item()).toBe(result.params.w);
    expect(result.starts!.map((s) => s.stopReason !== undefined)).toEqual([true, true, true, true]);
    expect(result.starts![0].loss).toBeCloseTo(stuck.loss, 12);
    const lowest = Math.min(...result.starts!.map((s) => s.loss));
    expect(result.loss).toBe(lowest);
    expect(result.starts![2].loss).toBe(lowest);
    model.dispose();
  });

  test('a count draws log-spaced starts around the values, seeded', async () => {
    const run = async (seed: number) => {
      const model = compile('(+ (* a x) b)', { params: { a: 2, b: 0 }, dtype: 'float64' });
      const xs = [0, 1, 2, 3];
      const result = await fit(
        model,
        { inputs: { x: xs }, target: xs.map((x) => 3 * x + 1) },
        { epochs: 1, starts: 5, seed, optimizer: 'sgd', lr: 1e-9 },
      );
      model.dispose();
      return result;
    };
    const [first, again, other] = [await run(7), await run(7), await run(8)];
    expect(first.starts!.length).toBe(5);
    // With a negligible rate, each start ends where it began: the draws themselves.
    const begun = first.starts!.map((s) => s.params as { a: number; b: number });
    expect(begun[0].a).toBeCloseTo(2, 6);
    expect(begun[0].b).toBeCloseTo(0, 6);
    for (const s of begun.slice(1)) {
      expect(s.a / 2).toBeGreaterThanOrEqual(0.1 - 1e-6);
      expect(s.a / 2).toBeLessThan(10);
      expect(Math.abs(s.b)).toBeLessThanOrEqual(1); // a zero is drawn as u in [-1, 1)
    }
    expect(new Set(begun.map((s) => s.a)).size).toBe(5);
    expect(again.starts!.map((s) => s.params)).toEqual(first.starts!.map((s) => s.params));
    expect(other.starts!.map((s) => s.params)).not.toEqual(first.starts!.map((s) => s.params));
  });

  test('a start that blows up is reported and the others win; all failing rejects', async () => {
    const decay = { t: [0, 2, 4, 6, 8, 10], observations: [0, 2, 4, 6, 8, 10].map((x) => [Math.exp(-x)]) };
    const ode = { state: ['y'], method: 'rk4' as const, step: 0.1 };
    const model = compile('(* a y)', { params: { a: -0.5 } });
    const result = await fit(model, decay, { epochs: 20, ode, starts: [{ a: 2000 }] });
    expect(result.start).toBe(0);
    expect(result.starts![1].loss).toBeNaN();
    expect(result.starts![1].error).toMatch(/not finite|loss is (inf|nan)/);
    expect(Math.abs((result.params.a as number) + 1)).toBeLessThan(1e-3);
    model.dispose();

    const doomed = compile('(* a y)', { params: { a: 2000 } });
    await expect(fit(doomed, decay, { epochs: 5, ode, starts: [{ a: 3000 }] })).rejects.toThrow(/not finite|loss is/);
    doomed.dispose();
  });

  test('bad starts are clear errors', async () => {
    const model = compile('(* a x)', { params: { a: 1 } });
    const data = { inputs: { x: [1, 2] }, target: [2, 4] };
    await expect(fit(model, data, { epochs: 1, starts: 0 })).rejects.toThrow(/starts must be .*1/);
    await expect(fit(model, data, { epochs: 1, starts: [] })).rejects.toThrow(
      /starts must be a number of starts or a non-empty array/,
    );
    await expect(fit(model, data, { epochs: 1, starts: [{ b: 1 }] })).rejects.toThrow(
      /starts\[0\] names 'b', which is not a trainable parameter \(a\)/,
    );
    await expect(fit(model, data, { epochs: 1, starts: [{ a: [1, 2] }] })).rejects.toThrow(
      /starts\[0\] gives 'a' shape \[2\]/,
    );
    model.dispose();
  });
});

describe("fit's default shooting for a long trajectory", () => {
  const LV = fs.readFileSync(path.join(__dirname, '..', 'examples', 'lotka_volterra.neural'), 'utf8');
  const data = noisyLotkaVolterra(LV, 121); // 120 intervals of 0.1, 2% noise; truth 1, 0.5, 0.25, 0.5
  const FAR = { alpha: 2, beta: 0.1, delta: 0.1, gamma: 2 };
  const ode = { state: ['x', 'y'], method: 'rk4' as const };

  test('windows of 20 intervals first, then the whole trajectory: found from far off, where one trajectory is stuck', async () => {
    const whole = compile(LV, { params: FAR });
    const stuck = await fit(whole, data, { epochs: 100, ode: { ...ode, windowSteps: 0 } });
    whole.dispose();
    expect(stuck.shooting).toBeUndefined();

    const model = compile(LV, { params: FAR });
    const result = await fit(model, data, { epochs: 100, ode });
    model.dispose();
    expect(result.shooting).toMatchObject({ windowSteps: 20 });
    expect(result.steps).toBeGreaterThan(result.shooting!.steps);
    const truth = { alpha: 1, beta: 0.5, delta: 0.25, gamma: 0.5 };
    for (const [name, value] of Object.entries(truth))
      expect(Math.abs((result.params[name] as number) - value) / value).toBeLessThan(0.03);
    // The same loss on the whole trajectory as the explicit single shooting measures: far lower.
    expect(result.loss).toBeLessThan(stuck.loss / 100);
  });

  test("when the whole trajectory then fails, the windows' result stands and says why", async () => {
    // RK4 steps of 0.01: a window of 20 intervals takes 200, the whole trajectory 1,200 > maxSteps.
    const model = compile(LV, { params: { alpha: 0.9, beta: 0.45, delta: 0.3, gamma: 0.55 } });
    const result = await fit(model, data, { epochs: 20, ode: { ...ode, step: 0.01, maxSteps: 500 } });
    expect(result.shooting!.error).toMatch(/more than maxSteps = 500 steps/);
    expect(result.loss).toBe(result.shooting!.loss);
    expect(result.steps).toBe(result.shooting!.steps);
    const kept = Object.fromEntries(Object.entries(model.namedParameters()).map(([k, t]) => [k, t.item()]));
    expect(kept).toEqual(result.params);
    model.dispose();
  });

  test('short or unevenly spaced trajectories are fitted whole; with a batchSize, in windows only', async () => {
    const short = { t: data.t.slice(0, 41), observations: data.observations.slice(0, 41) };
    const uneven = { t: data.t.map((x, i) => x + (i % 2) * 0.01), observations: data.observations };
    for (const d of [short, uneven]) {
      const model = compile(LV, { params: { alpha: 0.9, beta: 0.45, delta: 0.3, gamma: 0.55 } });
      expect((await fit(model, d, { epochs: 3, ode })).shooting).toBeUndefined();
      model.dispose();
    }
    const model = compile(LV, { params: { alpha: 0.9, beta: 0.45, delta: 0.3, gamma: 0.55 } });
    const batched = await fit(model, data, { epochs: 2, batchSize: 2, seed: 1, ode });
    expect([batched.optimizer, batched.shooting, batched.steps]).toEqual(['adam', undefined, 6]); // 6 windows in 3 batches, 2 epochs
    model.dispose();
  });
});
