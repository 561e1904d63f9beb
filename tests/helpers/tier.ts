// The same work on a module compiled for the small-program tier and on its tier: false twin.
import {
  compile,
  fit,
  grad,
  tensor,
  type CompileOptions,
  type FitOptions,
  type Module,
  type Tensor,
  type ValueAndGrad,
  type ValueAndGradOptions,
} from '../../src';
import { maxRelativeError } from './finite-diff';

/**
 * Runs `run` on the tier's module, which must take the tier (its `tier` finds a program), and on
 * its libtorch twin; expects each array of the results within `tolerance` of the twin's (relative,
 * absolute below 1) and returns the twin's.
 */
export function expectTierAsLibtorch(
  m: Module,
  off: Module,
  run: (module: Module) => number[][],
  tolerance = 1e-10,
): number[][] {
  const spy = jest.spyOn(m, 'tier');
  const got = run(m);
  expect(spy.mock.results.some((r) => r.value !== undefined)).toBe(true);
  spy.mockRestore();
  const want = run(off);
  got.forEach((values, i) => expect([i, maxRelativeError(values, want[i]) <= tolerance]).toEqual([i, true]));
  return want;
}

/**
 * The module compiled for the tier (float64 unless the options say) and its twin on the libtorch
 * path, which also takes the `twin` options (fuse: false for the unfused path).
 */
export function tierPair(source: string, options: CompileOptions = {}, twin: CompileOptions = {}): [Module, Module] {
  return [
    compile(source, { dtype: 'float64', ...options }),
    compile(source, { dtype: 'float64', ...options, tier: false, ...twin }),
  ];
}

/** A value or a gradient as an array of numbers. */
export const numbers = (v: number | ArrayLike<number>): number[] => (typeof v === 'number' ? [v] : Array.from(v));

/**
 * valueAndGrad of the tier's module and of its twin: the values within 1e-12, the same gradients
 * (names, kinds and lengths) each within 1e-10; returns the tier's.
 */
export function expectSameValueAndGrad(
  m: Module,
  off: Module,
  data: Parameters<Module['valueAndGrad']>[0],
  options: ValueAndGradOptions,
): ValueAndGrad {
  const a = m.valueAndGrad(data, options);
  const b = off.valueAndGrad(data, options);
  expect(numbers(a.value).length).toBe(numbers(b.value).length);
  expect(maxRelativeError(numbers(a.value), numbers(b.value))).toBeLessThanOrEqual(1e-12);
  expect(Object.keys(a.grads).sort()).toEqual(Object.keys(b.grads).sort());
  for (const name of Object.keys(b.grads)) {
    const [ga, gb] = [numbers(a.grads[name]), numbers(b.grads[name])];
    expect([name, typeof a.grads[name], ga.length, maxRelativeError(ga, gb) <= 1e-10]).toEqual([
      name,
      typeof b.grads[name],
      gb.length,
      true,
    ]);
  }
  return a;
}

/**
 * fit() of the tier's module and of its twin on the same data and options: the first on the tier,
 * the second not, and the param `name` trained to the same value (within 1e-9), away from `initial`.
 */
export async function expectFitAsLibtorch(
  m: Module,
  off: Module,
  data: Parameters<typeof fit>[1],
  options: FitOptions,
  name: string,
  initial: number,
): Promise<void> {
  const a = await fit(m, data, options);
  const b = await fit(off, data, options);
  expect([a.tier, b.tier]).toEqual([true, false]);
  expect(Math.abs((a.params[name] as number) - (b.params[name] as number))).toBeLessThan(1e-9);
  expect(a.params[name]).not.toBe(initial);
}

/**
 * The value and d(sum of out)/d(params and the inputs named in `wrt`) through Tensors, as a user of
 * forward() gets them: each input a leaf, requiring a gradient when named; a gradient that nothing
 * reaches reads as zeros. `batch` is forward()'s option.
 */
export function throughTensors(
  m: Module,
  inputs: Record<string, number | ArrayLike<number>>,
  wrt: string[],
  options: { batch?: boolean } = {},
) {
  const leaves = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => {
      const t = m.inputTensor(k, typeof v === 'number' ? v : Array.from(v)).tensor;
      if (wrt.includes(k)) t.requiresGrad = true;
      return [k, t] as const;
    }),
  );
  const out = m.forward(leaves, options);
  const value = numbers(out.toTypedArray());
  if (out.requiresGrad) {
    const total = out.sum();
    total.backward();
    total.dispose();
  }
  const grads: Record<string, number[]> = {};
  const read = (name: string, t: Tensor, zeros: () => number[]) => {
    const g = t.grad;
    grads[name] = g ? numbers(g.toTypedArray()) : zeros();
    g?.dispose();
    t.zeroGrad();
  };
  for (const [name, p] of Object.entries(m.namedParameters())) read(name, p, () => [0]);
  for (const name of wrt) read(name, leaves[name], () => numbers(leaves[name].toTypedArray()).map(() => 0));
  out.dispose();
  for (const t of Object.values(leaves)) t.dispose();
  return { value, grads };
}

/**
 * Through Tensors, batched inputs with `leaf` requiring a gradient: the value, its first and second
 * derivatives by the leaf (create_graph), and after sum().backward() the leaf's and the first param's .grad.
 */
export function derivativesThroughTensors(m: Module, inputs: Record<string, number[]>, leaf: string): number[][] {
  const tensors = Object.fromEntries(
    Object.entries(inputs).map(([n, v]) => [n, tensor(v, { dtype: 'float64', requiresGrad: n === leaf })]),
  );
  const x = tensors[leaf];
  const y = m.forward(tensors);
  const [dy] = grad(y, [x], { createGraph: true });
  const [d2y] = grad(dy, [x]);
  const s = y.sum();
  s.backward();
  const out = [y, dy, d2y, x.grad!, m.parameters()[0].grad!].map((t) => numbers(t.toTypedArray()));
  for (const t of [...Object.values(tensors), y, dy, d2y, s]) t.dispose();
  return out;
}

/** The error `run` throws (a test failure if it throws none). */
export function failure(run: () => unknown): unknown {
  try {
    run();
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
}

/** Runs `body` on a module compiled for the tier and its twin (tierPair), disposing both after. */
export async function withTierPair<R>(
  source: string,
  options: CompileOptions,
  body: (m: Module, off: Module) => R | Promise<R>,
): Promise<R> {
  const [m, off] = tierPair(source, options);
  try {
    return await body(m, off);
  } finally {
    m.dispose();
    off.dispose();
  }
}

/**
 * fit() on both paths of a program with a scalar param `name`: the target made by the program at
 * `truth` on these batched inputs, trained from the options' initial value by 20 Adam steps.
 */
export async function expectFitFromTruthAsLibtorch(
  source: string,
  options: CompileOptions & { params: Record<string, number> },
  inputs: Record<string, number[]>,
  name: string,
  truth: number,
): Promise<void> {
  const truthful = { ...options, params: { ...options.params, [name]: truth } };
  const target = await withTierPair(source, truthful, (m) => numbers(m.valueAndGrad(inputs, { batch: true }).value));
  await withTierPair(source, options, (m, off) =>
    expectFitAsLibtorch(
      m,
      off,
      { inputs, target },
      { optimizer: 'adam', lr: 0.01, epochs: 20 },
      name,
      options.params[name],
    ),
  );
}

/** fit() on both paths of a right-hand side `source` for dy/dt = -k y, k from 0.5, to y = exp(-0.8 t) by RK4. */
export async function expectDecayFitAsLibtorch(source: string): Promise<void> {
  const t = Array.from({ length: 21 }, (_, i) => i / 10);
  const data = { t, observations: t.map((x) => [Math.exp(-0.8 * x)]) };
  const options: FitOptions = { optimizer: 'adam', lr: 0.05, epochs: 15, ode: { state: ['y'], method: 'rk4' } };
  await withTierPair(source, { params: { k: 0.5 } }, (m, off) => expectFitAsLibtorch(m, off, data, options, 'k', 0.5));
}

/** In float32, valueAndGrad of a batch on the tier within a few ulps of the libtorch path (values 1e-5, gradients 1e-4). */
export async function expectFloat32NearLibtorch(
  source: string,
  options: CompileOptions,
  data: Record<string, number[]>,
  wrt: string[],
): Promise<void> {
  await withTierPair(source, { ...options, dtype: 'float32' }, (m, off) => {
    const a = m.valueAndGrad(data, { batch: true, wrt });
    const b = off.valueAndGrad(data, { batch: true, wrt });
    expect(maxRelativeError(numbers(a.value), numbers(b.value))).toBeLessThan(1e-5);
    for (const name of wrt) expect(maxRelativeError(numbers(a.grads[name]), numbers(b.grads[name]))).toBeLessThan(1e-4);
  });
}
