// Calls on the small-program tier: a call runs its function's tape per sample on a frame stack of its
// own (recursion, mutual recursion included), and its reverse sweep records every frame and walks
// them backward. Values and gradients must equal the libtorch path's (compile option tier: false)
// and finite differences; the depth limit must fail as the libtorch path's does, at the call.
import fs from 'fs';
import path from 'path';
import { compile, CompileError, fit, grad, nn, tensor, type FitOptions, type Module } from '../src';
import { centralDifference, maxRelativeError } from './helpers/finite-diff';
import { expectTierAsLibtorch } from './helpers/tier';
import * as tape from '../src/compiler/tape';

const example = (name: string) => fs.readFileSync(path.join(__dirname, '..', 'examples', 'loops', name), 'utf8');

/** x0 taken 12 times through g y + sin y + c, by non-tail recursion: reads a param and two captures. */
const ITERATE = '(letrec ((f (lambda (k) (if (<= k 0) x0 (let ((y (f (- k 1)))) (+ (* g y) (sin y) c)))))) (f 12))';
const ITERATE_OPTIONS = { inputs: { x0: 'scalar', c: 'scalar' }, params: { g: 0.7 } } as const;

/** The module on the tier and its twin on the libtorch path. */
function pair(source: string, options: Parameters<typeof compile>[1] = {}): [Module, Module] {
  return [
    compile(source, { dtype: 'float64', ...options }),
    compile(source, { dtype: 'float64', ...options, tier: false }),
  ];
}

const values = (v: number | ArrayLike<number>): number[] => (typeof v === 'number' ? [v] : Array.from(v));

/** valueAndGrad of both modules: values within 1e-12, every gradient within 1e-10; returns the tier's. */
function expectSameValueAndGrad(m: Module, off: Module, data: Record<string, number[]>, wrt: string[]) {
  const a = m.valueAndGrad(data, { batch: true, wrt });
  const b = off.valueAndGrad(data, { batch: true, wrt });
  expect(maxRelativeError(values(a.value), values(b.value))).toBeLessThanOrEqual(1e-12);
  expect(Object.keys(a.grads).sort()).toEqual(Object.keys(b.grads).sort());
  for (const name of Object.keys(b.grads))
    expect([
      name,
      maxRelativeError(values(a.grads[name] as ArrayLike<number>), values(b.grads[name] as ArrayLike<number>)) <= 1e-10,
    ]).toEqual([name, true]);
  return a;
}

describe('calls on the tier equal the libtorch path', () => {
  test.each([
    ['factorial.neural', { n: [0, 1, 5, 9] }],
    ['even_odd.neural', { n: [0, 1, 6, 11] }],
  ] as const)('%s: every sample recursing to its own depth, value and gradient', (file, data) => {
    const [m, off] = pair(example(file), { inputs: { n: 'scalar' } });
    try {
      expect(m.tier([true])).toBeDefined();
      const a = expectSameValueAndGrad(m, off, { n: [...data.n] }, ['n']);
      if (file === 'factorial.neural') expect(values(a.value)).toEqual([1, 1, 120, 362880]);
      else expect(values(a.value)).toEqual([1, 0, 1, 0]);
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('a non-tail recursion reading a param and captures: values, gradients, and finite differences', () => {
    const [m, off] = pair(ITERATE, ITERATE_OPTIONS);
    try {
      expect(m.tier([true, true])).toBeDefined();
      const data = { x0: [0.3, -1.2, 2], c: [0.1, 0.5, -0.2] };
      const a = expectSameValueAndGrad(m, off, data, ['x0', 'c']);
      const total = (x0: number[], c: number[]) =>
        values(m.valueAndGrad({ x0, c }, { batch: true }).value).reduce((s, v) => s + v, 0);
      expect(
        maxRelativeError(
          values(a.grads.x0 as ArrayLike<number>),
          centralDifference((x) => total(x, data.c), data.x0),
        ),
      ).toBeLessThan(1e-7);
      const g = m.namedParameters().g;
      const fd = centralDifference(
        ([gg]) => {
          g.handle.assign(tensor(gg, { dtype: 'float64' }).handle);
          return total(data.x0, data.c);
        },
        [0.7],
      );
      g.handle.assign(tensor(0.7, { dtype: 'float64' }).handle);
      expect(maxRelativeError(values(a.grads.g as number), fd)).toBeLessThan(1e-7);
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test.each([
    [
      'vector arguments and a vector result',
      '(letrec ((f (lambda (v k) (if (<= k 0) v (* g (f (vec (ref v 1) (sin (ref v 0))) (- k 1))))))) (dot (f (vec x g) 4) (vec 1 2)))',
    ],
    [
      'mutual recursion carrying a value',
      '(letrec ((a (lambda (k y) (if (<= k 0) y (b (- k 1) (* g (sin y)))))) (b (lambda (k y) (if (<= k 0) y (a (- k 1) (+ y x)))))) (a 7 x))',
    ],
    [
      'two calls of the program, one in each branch of an if',
      '(letrec ((f (lambda (k y) (if (<= k 0) y (* g (cos (f (- k 1) y))))))) (if (> x 0) (f 3 x) (+ 1 (f 5 (* 2 x)))))',
    ],
  ] as const)('%s: values and gradients as on libtorch and finite differences', (_, source) => {
    const [m, off] = pair(source, { inputs: { x: 'scalar' }, params: { g: 0.8 } });
    try {
      expect(m.singleSampleTier()).toBeDefined();
      const data = { x: [0.3, 1.1, -0.7] };
      const a = expectSameValueAndGrad(m, off, data, ['x']);
      const total = (x: number[]) => values(m.valueAndGrad({ x }, { batch: true }).value).reduce((s, v) => s + v, 0);
      expect(maxRelativeError(values(a.grads.x as ArrayLike<number>), centralDifference(total, data.x))).toBeLessThan(
        1e-7,
      );
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('an MLP called in a recursive function: the weights gradients as on libtorch', () => {
    const source =
      '(letrec ((f (lambda (k y) (if (<= k 0) y (let ((z (f (- k 1) y))) (+ z (* 0.1 (net z)))))))) (f 4 y0))';
    const make = (tier: boolean) =>
      compile(source, {
        inputs: { y0: 'scalar' },
        functions: { net: nn.mlp([1, 5, 1], { seed: 4, dtype: 'float64' }) },
        dtype: 'float64',
        tier,
      });
    const [m, off] = [make(true), make(false)];
    try {
      expect(m.singleSampleTier()).toBeDefined();
      const a = expectSameValueAndGrad(m, off, { y0: [0.3, -1.2, 2] }, ['y0']);
      expect(Object.keys(a.grads).length).toBeGreaterThan(2); // y0 and the MLP's weights and biases
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('through Tensors: forward, sum().backward(), and second derivatives (create_graph replays the frames)', () => {
    const run = (m: Module) => {
      const x0 = tensor([0.3, -1.2, 2], { dtype: 'float64', requiresGrad: true });
      const c = tensor([0.1, 0.5, -0.2], { dtype: 'float64' });
      const y = m.forward({ x0, c });
      const [dy] = grad(y, [x0], { createGraph: true });
      const [d2y] = grad(dy, [x0]);
      const s = y.sum();
      s.backward();
      const out = [y, dy, d2y, x0.grad!, m.parameters()[0].grad!].map((t) => values(t.toTypedArray()));
      for (const t of [x0, c, y, dy, d2y, s]) t.dispose();
      return out;
    };
    const [m, off] = pair(ITERATE, ITERATE_OPTIONS);
    try {
      const want = expectTierAsLibtorch(m, off, run);
      expect(Math.max(...want[2].map(Math.abs))).toBeGreaterThan(1e-3);
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('float32 within a few ulps of the libtorch path', () => {
    const [m, off] = [compile(ITERATE, ITERATE_OPTIONS), compile(ITERATE, { ...ITERATE_OPTIONS, tier: false })];
    try {
      const data = { x0: [0.3, -1.2, 2], c: [0.1, 0.5, -0.2] };
      const a = m.valueAndGrad(data, { batch: true, wrt: ['x0'] });
      const b = off.valueAndGrad(data, { batch: true, wrt: ['x0'] });
      expect(maxRelativeError(values(a.value), values(b.value))).toBeLessThan(1e-5);
      expect(
        maxRelativeError(values(a.grads.x0 as ArrayLike<number>), values(b.grads.x0 as ArrayLike<number>)),
      ).toBeLessThan(1e-4);
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('recursion 9,000 deep at the default limit: the frames need no deep native stack', () => {
    const source = '(letrec ((s (lambda (k) (if (<= k 0) 0 (+ (* x k) (s (- k 1))))))) (s n))';
    const m = compile(source, { inputs: { x: 'scalar', n: 'scalar' }, dtype: 'float64' });
    try {
      expect(m.singleSampleTier()).toBeDefined();
      const n = 9000;
      const got = m.valueAndGrad({ x: 0.5, n }, { wrt: ['x'] });
      expect(got.value).toBe((0.5 * n * (n + 1)) / 2);
      expect(got.grads.x).toBe((n * (n + 1)) / 2);
    } finally {
      m.dispose();
    }
  });

  test('fit() trains a recursive program on the tier as on the libtorch path', async () => {
    const x0 = [0.3, -1.2, 2, 0.8, -0.4];
    const c = [0.1, 0.5, -0.2, 0, 0.3];
    const [truth] = pair(ITERATE, { ...ITERATE_OPTIONS, params: { g: 0.55 } });
    const target = values(truth.valueAndGrad({ x0, c }, { batch: true }).value);
    truth.dispose();
    const [m, off] = pair(ITERATE, ITERATE_OPTIONS);
    try {
      const options = { optimizer: 'adam', lr: 0.01, epochs: 20 } as const;
      const a = await fit(m, { inputs: { x0, c }, target }, options);
      const b = await fit(off, { inputs: { x0, c }, target }, options);
      expect([a.tier, b.tier]).toEqual([true, false]);
      expect(Math.abs((a.params.g as number) - (b.params.g as number))).toBeLessThan(1e-9);
      expect(a.params.g).not.toBe(0.7);
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('an ODE fit whose right-hand side recurses trains on the tier as on the libtorch path', async () => {
    // dy/dt = -k y, as 8 times k y halved 3 times by recursion
    const source = '(letrec ((f (lambda (j s) (if (<= j 0) s (* 0.5 (f (- j 1) s)))))) (- (* 8 (f 3 (* k y)))))';
    const t = Array.from({ length: 21 }, (_, i) => i / 10);
    const data = { t, observations: t.map((x) => [Math.exp(-0.8 * x)]) };
    const [m, off] = pair(source, { params: { k: 0.5 } });
    try {
      const options: FitOptions = { optimizer: 'adam', lr: 0.05, epochs: 15, ode: { state: ['y'], method: 'rk4' } };
      const a = await fit(m, data, options);
      const b = await fit(off, data, options);
      expect([a.tier, b.tier]).toEqual([true, false]);
      expect(Math.abs((a.params.k as number) - (b.params.k as number))).toBeLessThan(1e-9);
      expect(a.params.k).not.toBe(0.5);
    } finally {
      m.dispose();
      off.dispose();
    }
  });
});

describe('the depth limit and what stays on libtorch', () => {
  test('recursion past the limit fails on the tier as on the libtorch path, at the call', () => {
    const source = '(letrec ((s (lambda (k) (if (<= k 0) 0 (+ k (s (- k 1))))))) (s n))';
    const spans: unknown[] = [];
    for (const tier of [true, false]) {
      const m = compile(source, { inputs: { n: 'scalar' }, limit: 50, tier });
      expect(m.singleSampleTier() !== undefined).toBe(tier);
      expect(m.valueAndGrad({ n: 49 }).value).toBe(1225);
      const failure = (run: () => unknown) => {
        try {
          run();
        } catch (e) {
          return e;
        }
        throw new Error('expected a failure');
      };
      for (const run of [() => m.valueAndGrad({ n: 50 }), () => m.forward({ n: [3, 80] })]) {
        const e = failure(run);
        expect(e).toBeInstanceOf(CompileError);
        const d = (e as CompileError).diagnostics[0];
        expect(d.code).toBe('E0205');
        expect(d.message).toContain('50');
        spans.push(d.span?.start);
      }
      m.dispose();
    }
    expect(new Set(spans).size).toBe(1); // the same place on both paths
  });

  test('batches past 256 samples go to libtorch (each call once over the batch), with the same values', () => {
    const [m, off] = pair(example('factorial.neural'), { inputs: { n: 'scalar' } });
    try {
      const takes = jest.spyOn(tape, 'tierTakes');
      for (const [samples, onTier] of [
        [256, true],
        [257, false],
      ] as const) {
        takes.mockClear();
        const n = Float64Array.from({ length: samples }, (_, i) => i % 12);
        const got = m.valueAndGrad({ n }, { batch: true, wrt: ['n'] });
        expect([samples, takes.mock.results.at(-1)?.value]).toEqual([samples, onTier]);
        const want = off.valueAndGrad({ n }, { batch: true, wrt: ['n'] });
        expect(maxRelativeError(values(got.value), values(want.value))).toBeLessThanOrEqual(1e-12);
        expect(
          maxRelativeError(values(got.grads.n as ArrayLike<number>), values(want.grads.n as ArrayLike<number>)),
        ).toBeLessThanOrEqual(1e-10);
      }
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test.each([
    [
      'a function that calls twice (the count of calls depends on the values)',
      '(letrec ((fib (lambda (k) (if (< k 2) k (+ (fib (- k 1)) (fib (- k 2))))))) (fib n))',
      {},
      55,
    ],
    [
      'a call inside a loop body',
      '(letrec ((sq (lambda (v) (* v v)))) (loop ((i 0) (s 0)) (if (>= i n) s (recur (+ i 1) (+ s (sq i))))))',
      {},
      285,
    ],
    [
      'calls whose depth limit exceeds the step budget',
      '(letrec ((s (lambda (k) (if (<= k 0) 0 (+ k (s (- k 1))))))) (s n))',
      { limit: 500, maxSteps: 100 },
      55,
    ],
  ] as const)('%s stays on libtorch', (_, source, options, want) => {
    const m = compile(source, { inputs: { n: 'scalar' }, dtype: 'float64', ...options });
    try {
      expect(m.singleSampleTier()).toBeUndefined();
      expect(m.valueAndGrad({ n: 10 }).value).toBe(want);
    } finally {
      m.dispose();
    }
  });
});
