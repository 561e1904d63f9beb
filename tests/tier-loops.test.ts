// Loops on the small-program tier: a loop over scalar state runs its body's own tape per sample, and
// its reverse sweep recomputes the iterations and differentiates them last first. Values and
// gradients must equal the libtorch path's (compile option tier: false) and finite differences; its
// limit must fail as the libtorch path's does, at the loop in the source.
import fs from 'fs';
import path from 'path';
import { compile, CompileError, fit, grad, nn, tensor, type FitOptions, type Module } from '../src';
import { centralDifference, maxRelativeError } from './helpers/finite-diff';
import {
  derivativesThroughTensors,
  expectDecayFitAsLibtorch,
  expectFitFromTruthAsLibtorch,
  expectFloat32NearLibtorch,
  expectTierAsLibtorch,
  failure,
  numbers as values,
  withTierPair,
} from './helpers/tier';
import * as tape from '../src/compiler/tape';

const example = (name: string) => fs.readFileSync(path.join(__dirname, '..', 'examples', 'loops', name), 'utf8');

/** x0 iterated 12 times through k x + sin x + c: reads a param, a capture and its own state. */
const ITERATE = '(loop ((i 0) (x x0)) (if (>= i 12) x (recur (+ i 1) (+ (* k x) (sin x) c))))';
const ITERATE_OPTIONS = { inputs: { x0: 'scalar', c: 'scalar' }, params: { k: 0.7 } } as const;

describe('loops on the tier equal the libtorch path', () => {
  test.each([
    ['sum_to_n.neural', { n: 'scalar' }, { n: [1, 4, 10, 0] }],
    ['gcd.neural', { a: 'scalar', b: 'scalar' }, { a: [12, 35, 7, 1], b: [18, 14, 5, 1] }],
    ['newton_sqrt.neural', { a: 'scalar' }, { a: [2, 9, 0.25, 1e4] }],
  ] as const)(
    '%s: every sample after its own number of iterations, value and gradients',
    async (file, inputs, data) => {
      await withTierPair(example(file), { inputs }, async (m, off) => {
        expect(m.tier(Object.keys(inputs).map(() => true))).toBeDefined();
        const wrt = Object.keys(inputs);
        const a = m.valueAndGrad(data, { batch: true, wrt });
        const b = off.valueAndGrad(data, { batch: true, wrt });
        expect(maxRelativeError(values(a.value), values(b.value))).toBeLessThanOrEqual(1e-12);
        for (const name of wrt)
          expect(
            maxRelativeError(values(a.grads[name] as ArrayLike<number>), values(b.grads[name] as ArrayLike<number>)),
          ).toBeLessThanOrEqual(1e-10);
      });
    },
  );

  test('a loop reading a param and a capture: values, and the gradients of the param, the capture and the initial state', async () => {
    await withTierPair(ITERATE, ITERATE_OPTIONS, async (m, off) => {
      const data = { x0: [0.3, -1.2, 2], c: [0.1, 0.5, -0.2] };
      const a = m.valueAndGrad(data, { batch: true, wrt: ['x0', 'c'] });
      const b = off.valueAndGrad(data, { batch: true, wrt: ['x0', 'c'] });
      expect(maxRelativeError(values(a.value), values(b.value))).toBeLessThanOrEqual(1e-12);
      for (const name of ['k', 'x0', 'c'])
        expect(maxRelativeError(values(a.grads[name] as number), values(b.grads[name] as number))).toBeLessThanOrEqual(
          1e-10,
        );
      // and the gradient is the value's: central differences of sum(value) in every input and k
      const total = (x0: number[], c: number[]) =>
        values(m.valueAndGrad({ x0, c }, { batch: true }).value).reduce((s, v) => s + v, 0);
      expect(
        maxRelativeError(
          values(a.grads.x0 as ArrayLike<number>),
          centralDifference((x) => total(x, data.c), data.x0),
        ),
      ).toBeLessThan(1e-7);
      expect(
        maxRelativeError(
          values(a.grads.c as ArrayLike<number>),
          centralDifference((c) => total(data.x0, c), data.c),
        ),
      ).toBeLessThan(1e-7);
      const k = m.namedParameters().k;
      const fd = centralDifference(
        ([kk]) => {
          k.handle.assign(tensor(kk, { dtype: 'float64' }).handle);
          return total(data.x0, data.c);
        },
        [0.7],
      );
      k.handle.assign(tensor(0.7, { dtype: 'float64' }).handle);
      expect(maxRelativeError(values(a.grads.k as number), fd)).toBeLessThan(1e-7);
    });
  });

  test('through Tensors: forward, sum().backward(), and second derivatives (create_graph replays the iterations)', async () => {
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

  test('fit() trains a loop program on the tier as on the libtorch path', async () => {
    const inputs = { x0: [0.3, -1.2, 2, 0.8, -0.4], c: [0.1, 0.5, -0.2, 0, 0.3] };
    await expectFitFromTruthAsLibtorch(ITERATE, ITERATE_OPTIONS, inputs, 'k', 0.55);
  });
});

test('an ODE fit whose right-hand side loops trains on the tier as on the libtorch path', async () => {
  // dy/dt = -k y, with k y summed over 3 iterations of the loop and divided by 3
  const source = '(/ (loop ((i 0) (s 0)) (if (>= i 3) s (recur (+ i 1) (- s (* k y))))) 3)';
  await expectDecayFitAsLibtorch(source);
});

describe('loops over vectors, with vector results, and nested', () => {
  test.each([
    [
      'a state vector (an Euler step of a pendulum), a scalar result',
      '(loop ((i 0) (v (vec x (* k x)))) (if (>= i 8) (vsum v) (recur (+ i 1) (vec (+ (ref v 0) (* 0.1 (ref v 1))) (- (ref v 1) (* 0.1 k (sin (ref v 0))))))))',
      {},
    ],
    [
      'a vector result, read by dot',
      '(dot (loop ((i 0) (v (vec x k))) (if (>= i 4) v (recur (+ i 1) (scale k (vec (ref v 1) (sin (ref v 0))))))) (vec 1 2))',
      {},
    ],
    [
      'a loop inside a loop, capturing the outer state (limit 50: 50 x 51 iterations within the budget)',
      '(loop ((i 0) (s 0)) (if (>= i 3) s (recur (+ i 1) (+ s (loop ((j 0) (t x)) (if (>= j 4) t (recur (+ j 1) (* k t (cos (+ t i))))))))))',
      { limit: 50 },
    ],
  ] as const)('%s: on the tier, values and gradients as on libtorch', async (_, source, options) => {
    await withTierPair(source, { inputs: { x: 'scalar' }, params: { k: 0.8 }, ...options }, async (m, off) => {
      expect(m.singleSampleTier()).toBeDefined();
      const data = { x: [0.3, 1.1, -0.7] };
      const a = m.valueAndGrad(data, { batch: true, wrt: ['x'] });
      const b = off.valueAndGrad(data, { batch: true, wrt: ['x'] });
      expect(maxRelativeError(values(a.value), values(b.value))).toBeLessThanOrEqual(1e-12);
      for (const name of ['x', 'k'])
        expect(
          maxRelativeError(values(a.grads[name] as ArrayLike<number>), values(b.grads[name] as ArrayLike<number>)),
        ).toBeLessThanOrEqual(1e-10);
      const total = (x: number[]) => values(m.valueAndGrad({ x }, { batch: true }).value).reduce((p, v) => p + v, 0);
      expect(maxRelativeError(values(a.grads.x as ArrayLike<number>), centralDifference(total, data.x))).toBeLessThan(
        1e-7,
      );
    });
  });
});

test('second derivatives through a nested loop with a vector result (create_graph replays both)', async () => {
  const source =
    '(dot (loop ((i 0) (v (vec x k))) (if (>= i 3) v (recur (+ i 1) (vec (loop ((j 0) (t (ref v 1))) (if (>= j 2) t (recur (+ j 1) (sin (* k t))))) (* x (ref v 0)))))) (vec 1 2))';
  const second = (m: Module) => {
    const x = tensor([0.3, 1.1], { dtype: 'float64', requiresGrad: true });
    const y = m.forward({ x });
    const [dy] = grad(y, [x], { createGraph: true });
    const [d2y] = grad(dy, [x]);
    const out = [y, dy, d2y].map((t) => values(t.toTypedArray()));
    for (const t of [x, y, dy, d2y]) t.dispose();
    return out;
  };
  await withTierPair(source, { inputs: { x: 'scalar' }, params: { k: 0.8 }, limit: 20 }, async (m, off) => {
    expect(m.singleSampleTier()).toBeDefined();
    const [a, b] = [second(m), second(off)];
    a.forEach((got, i) => expect(maxRelativeError(got, b[i])).toBeLessThanOrEqual(1e-10));
    expect(Math.max(...b[2].map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe('an MLP called inside a loop (the body shares the program weight blocks)', () => {
  // Five Euler steps of dy/dt = net(y) - k y from y0: a hybrid written as an explicit loop.
  const SOURCE = '(loop ((i 0) (y y0)) (if (>= i 5) y (recur (+ i 1) (+ y (* 0.1 (- (net y) (* k y)))))))';
  const make = (tier: boolean) =>
    compile(SOURCE, {
      inputs: { y0: 'scalar' },
      params: { k: 0.4 },
      functions: { net: nn.mlp([1, 6, 1], { seed: 3, dtype: 'float64' }) },
      dtype: 'float64',
      tier,
    });

  test("valueAndGrad: the weights', k's and y0's gradients as on libtorch", () => {
    const [m, off] = [make(true), make(false)];
    try {
      expect(m.singleSampleTier()).toBeDefined();
      const data = { y0: [0.3, -1.2, 2] };
      const a = m.valueAndGrad(data, { batch: true, wrt: ['y0'] });
      const b = off.valueAndGrad(data, { batch: true, wrt: ['y0'] });
      expect(maxRelativeError(values(a.value), values(b.value))).toBeLessThanOrEqual(1e-12);
      expect(Object.keys(a.grads).sort()).toEqual(Object.keys(b.grads).sort());
      for (const name of Object.keys(b.grads))
        expect([
          name,
          maxRelativeError(values(a.grads[name] as ArrayLike<number>), values(b.grads[name] as ArrayLike<number>)) <=
            1e-10,
        ]).toEqual([name, true]);
    } finally {
      m.dispose();
      off.dispose();
    }
  });

  test('through Tensors, second derivatives included, and fit()', async () => {
    const [m, off] = [make(true), make(false)];
    try {
      expectTierAsLibtorch(m, off, (module) => {
        const y0 = tensor([0.3, -1.2], { dtype: 'float64', requiresGrad: true });
        const y = module.forward({ y0 });
        const [dy] = grad(y, [y0], { createGraph: true });
        const [d2y] = grad(dy, [y0]);
        const out = [y, dy, d2y].map((t) => values(t.toTypedArray()));
        for (const t of [y0, y, dy, d2y]) t.dispose();
        return out;
      });
      const data = { inputs: { y0: [0.3, -1.2, 2, 0.7] }, target: [0.2, -0.9, 1.5, 0.6] };
      const options: FitOptions = { optimizer: 'adam', lr: 0.01, epochs: 10 };
      const [a, b] = [await fit(m, data, options), await fit(off, data, options)];
      expect([a.tier, b.tier]).toEqual([true, false]);
      expect(Math.abs((a.params.k as number) - (b.params.k as number))).toBeLessThan(1e-9);
    } finally {
      m.dispose();
      off.dispose();
    }
  });
});

describe('loop limits and what stays on libtorch', () => {
  test('a loop past its limit fails on the tier as on the libtorch path, at the loop', () => {
    const source = '(loop ((i 0)) (if (>= i n) i (recur (+ i 1))))';
    for (const tier of [true, false]) {
      const m = compile(source, { inputs: { n: 'scalar' }, limit: 50, tier });
      expect(m.valueAndGrad({ n: 10 }).value).toBe(10);
      for (const run of [() => m.valueAndGrad({ n: 80 }), () => m.forward({ n: [3, 80] })]) {
        const e = failure(run);
        expect(e).toBeInstanceOf(CompileError);
        const d = (e as CompileError).diagnostics[0];
        expect([d.code, d.span?.start]).toEqual(['E0205', 0]); // the loop opens the source
        expect(d.message).toContain('50');
      }
      m.dispose();
    }
  });

  test('batches of a loop past 256 samples go to libtorch (each iteration once over the batch), with the same values', async () => {
    await withTierPair(example('newton_sqrt.neural'), { inputs: { a: 'scalar' } }, async (m, off) => {
      const takes = jest.spyOn(tape, 'tierTakes'); // valueAndGrad's choice of the tier for the batch
      for (const [samples, onTier] of [
        [256, true],
        [257, false],
      ] as const) {
        takes.mockClear();
        const a = Float64Array.from({ length: samples }, (_, i) => 1 + i / 7);
        const got = m.valueAndGrad({ a }, { batch: true, wrt: ['a'] });
        expect([samples, takes.mock.results.at(-1)?.value]).toEqual([samples, onTier]);
        const want = off.valueAndGrad({ a }, { batch: true, wrt: ['a'] });
        expect(maxRelativeError(values(got.value), values(want.value))).toBeLessThanOrEqual(1e-12);
        expect(
          maxRelativeError(values(got.grads.a as ArrayLike<number>), values(want.grads.a as ArrayLike<number>)),
        ).toBeLessThanOrEqual(1e-10);
      }
    });
  });

  test('loops whose limits, multiplied where they nest, exceed the step budget stay on libtorch', () => {
    const nested =
      '(loop ((i 0) (s 0)) (if (>= i 3) s (recur (+ i 1) (+ s (loop ((j 0)) (if (>= j x) j (recur (+ j 1))))))))';
    const byDefault = compile(nested, { inputs: { x: 'scalar' } }); // 10,000 x 10,001 iterations > 1,000,000
    const budget = compile('(loop ((i 0)) (if (>= i n) i (recur (+ i 1))))', {
      inputs: { n: 'scalar' },
      limit: 500,
      maxSteps: 100,
    });
    try {
      for (const m of [byDefault, budget]) expect(m.singleSampleTier()).toBeUndefined();
      expect(byDefault.valueAndGrad({ x: 2 }).value).toBe(6);
      expect(budget.valueAndGrad({ n: 50 }).value).toBe(50);
    } finally {
      for (const m of [byDefault, budget]) m.dispose();
    }
  });
});
