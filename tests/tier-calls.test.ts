// Calls on the small-program tier: a call runs its function's tape per sample on a frame stack of its
// own (recursion, mutual recursion included), and its reverse sweep records every frame and walks
// them backward. Values and gradients must equal the libtorch path's (compile option tier: false)
// and finite differences; the depth limit must fail as the libtorch path's does, at the call.
import fs from 'fs';
import path from 'path';
import { compile, CompileError, nn, tensor, type Module } from '../src';
import { centralDifference, maxRelativeError } from './helpers/finite-diff';
import {
  derivativesThroughTensors,
  expectDecayFitAsLibtorch,
  expectFitFromTruthAsLibtorch,
  expectFloat32NearLibtorch,
  expectSameValueAndGrad,
  expectTierAsLibtorch,
  failure,
  numbers as values,
  withTierPair,
} from './helpers/tier';
import * as tape from '../src/compiler/tape';

const example = (name: string) => fs.readFileSync(path.join(__dirname, '..', 'examples', 'loops', name), 'utf8');

/** x0 taken 12 times through g y + sin y + c, by non-tail recursion: reads a param and two captures. */
const ITERATE = '(letrec ((f (lambda (k) (if (<= k 0) x0 (let ((y (f (- k 1)))) (+ (* g y) (sin y) c)))))) (f 12))';
const ITERATE_OPTIONS = { inputs: { x0: 'scalar', c: 'scalar' }, params: { g: 0.7 } } as const;

describe('calls on the tier equal the libtorch path', () => {
  test.each([
    ['factorial.neural', { n: [0, 1, 5, 9] }],
    ['even_odd.neural', { n: [0, 1, 6, 11] }],
  ] as const)('%s: every sample recursing to its own depth, value and gradient', async (file, data) => {
    await withTierPair(example(file), { inputs: { n: 'scalar' } }, async (m, off) => {
      expect(m.tier([true])).toBeDefined();
      const a = expectSameValueAndGrad(m, off, { n: [...data.n] }, { batch: true, wrt: ['n'] });
      if (file === 'factorial.neural') expect(values(a.value)).toEqual([1, 1, 120, 362880]);
      else expect(values(a.value)).toEqual([1, 0, 1, 0]);
    });
  });

  test('a non-tail recursion reading a param and captures: values, gradients, and finite differences', async () => {
    await withTierPair(ITERATE, ITERATE_OPTIONS, async (m, off) => {
      expect(m.tier([true, true])).toBeDefined();
      const data = { x0: [0.3, -1.2, 2], c: [0.1, 0.5, -0.2] };
      const a = expectSameValueAndGrad(m, off, data, { batch: true, wrt: ['x0', 'c'] });
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
    });
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
  ] as const)('%s: values and gradients as on libtorch and finite differences', async (_, source) => {
    await withTierPair(source, { inputs: { x: 'scalar' }, params: { g: 0.8 } }, async (m, off) => {
      expect(m.singleSampleTier()).toBeDefined();
      const data = { x: [0.3, 1.1, -0.7] };
      const a = expectSameValueAndGrad(m, off, data, { batch: true, wrt: ['x'] });
      const total = (x: number[]) => values(m.valueAndGrad({ x }, { batch: true }).value).reduce((s, v) => s + v, 0);
      expect(maxRelativeError(values(a.grads.x as ArrayLike<number>), centralDifference(total, data.x))).toBeLessThan(
        1e-7,
      );
    });
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
      const a = expectSameValueAndGrad(m, off, { y0: [0.3, -1.2, 2] }, { batch: true, wrt: ['y0'] });
      expect(Object.keys(a.grads).length).toBeGreaterThan(2); // y0 and the MLP's weights and biases
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('through Tensors: forward, sum().backward(), and second derivatives (create_graph replays the frames)', async () => {
    const run = (m: Module) => derivativesThroughTensors(m, { x0: [0.3, -1.2, 2], c: [0.1, 0.5, -0.2] }, 'x0');
    await withTierPair(ITERATE, ITERATE_OPTIONS, async (m, off) => {
      const want = expectTierAsLibtorch(m, off, run);
      expect(Math.max(...want[2].map(Math.abs))).toBeGreaterThan(1e-3);
    });
  });

  test('float32 within a few ulps of the libtorch path', async () => {
    const data = { x0: [0.3, -1.2, 2], c: [0.1, 0.5, -0.2] };
    await expectFloat32NearLibtorch(ITERATE, ITERATE_OPTIONS, data, ['x0']);
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
    const inputs = { x0: [0.3, -1.2, 2, 0.8, -0.4], c: [0.1, 0.5, -0.2, 0, 0.3] };
    await expectFitFromTruthAsLibtorch(ITERATE, ITERATE_OPTIONS, inputs, 'g', 0.55);
  });

  test('an ODE fit whose right-hand side recurses trains on the tier as on the libtorch path', async () => {
    // dy/dt = -k y, as 8 times k y halved 3 times by recursion
    const source = '(letrec ((f (lambda (j s) (if (<= j 0) s (* 0.5 (f (- j 1) s)))))) (- (* 8 (f 3 (* k y)))))';
    await expectDecayFitAsLibtorch(source);
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

  test('batches past 256 samples go to libtorch (each call once over the batch), with the same values', async () => {
    await withTierPair(example('factorial.neural'), { inputs: { n: 'scalar' } }, async (m, off) => {
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
    });
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
