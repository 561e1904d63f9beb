// The small-program tier (native/tape.cpp through module.valueAndGrad) against the libtorch path:
// every pointwise primitive and the Feynman equations, float64 values within 1e-12 relative and
// gradients within 1e-10, unbatched, batched and with a shared input; float32 within a few ulps of
// the float64 result; the special values (NaN, infinities) where libtorch gives them.
import fs from 'fs';
import path from 'path';
import { compile, CompileError, grad, tensor, type Module, type Tensor } from '../src';
import { PRIMITIVES, TAPE_FORMS } from '../src/ops';
import { DOMAIN as FUZZ_DOMAIN } from '../src/fuzz/typed';
import { declaredNames } from './helpers/feynman';
import { expectTierAsLibtorch, failure, numbers as asArray, throughTensors, withTierPair } from './helpers/tier';

function close(a: number[], b: number[], rel: number): string | undefined {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i], b[i]];
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= rel * Math.max(1, Math.abs(y)))) return `element ${i}: tier ${x}, libtorch ${y}`;
  }
  return undefined;
}

/** Deterministic points in an op's domain. */
function points(op: string, k: number, n: number): number[] {
  const positive = op in FUZZ_DOMAIN || ['pow'].includes(op);
  return Array.from({ length: n }, (_, i) => {
    const u = Math.sin(12.9898 * (i + 1) + 78.233 * (k + 1)) * 43758.5453;
    const f = u - Math.floor(u);
    if (op === 'asin' || op === 'acos') return 1.8 * f - 0.9;
    if (op === 'tan') return 2.4 * f - 1.2;
    return positive ? 0.3 + 2 * f : 4 * f - 2;
  });
}

const ARGS = ['x', 'y', 'z'];

describe('every pointwise primitive on the tier equals the libtorch path (float64)', () => {
  const forms = TAPE_FORMS.filter((f) => f.op.group !== 'internal');
  test.each(forms.map((f) => [`${f.op.name}/${f.arity}`, f.op.name, f.arity] as const))(
    '%s',
    async (_label, op, arity) => {
      const names = ARGS.slice(0, arity);
      const source = `(* a (${op} ${names.join(' ')}))`;
      const options = { inputs: Object.fromEntries(names.map((n) => [n, 'scalar' as const])), params: { a: 1.5 } };
      await withTierPair(source, options, (m, off) => {
        expect(m.singleSampleTier()).toBeDefined();
        const columns = names.map((_, k) => points(op, k, 7));
        // one sample at a time
        for (let s = 0; s < 7; s++) {
          const inputs = Object.fromEntries(names.map((n, k) => [n, columns[k][s]]));
          const tier = m.valueAndGrad(inputs, { wrt: names });
          const ref = throughTensors(off, inputs, names);
          expect(close(asArray(tier.value), ref.value, 1e-12)).toBeUndefined();
          for (const [name, g] of Object.entries(ref.grads))
            expect([name, close(asArray(tier.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
        }
        // a batch, the first input shared
        const inputs: Record<string, number | number[]> = Object.fromEntries(
          names.map((n, k) => [n, k === 0 && arity > 1 ? columns[0][0] : columns[k]]),
        );
        const tier = m.valueAndGrad(inputs, { batch: true, wrt: names });
        const ref = throughTensors(off, inputs, names);
        expect(close(asArray(tier.value), ref.value, 1e-12)).toBeUndefined();
        for (const [name, g] of Object.entries(ref.grads))
          expect([name, close(asArray(tier.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
        // forward through Tensors takes the tier by default: the same as the libtorch path
        const viaForward = throughTensors(m, inputs, names);
        expect(close(viaForward.value, ref.value, 1e-12)).toBeUndefined();
        for (const [name, g] of Object.entries(ref.grads))
          expect([name, close(viaForward.grads[name], g, 1e-10)]).toEqual([name, undefined]);
      });
    },
  );

  test('every pointwise primitive has a tier form', () => {
    const pointwise = PRIMITIVES.filter((p) => p.pointwise && p.name !== 'clamp').map((p) => p.name);
    expect(pointwise.filter((name) => !TAPE_FORMS.some((f) => f.op.name === name))).toEqual([]);
  });
});

const FEYNMAN = path.join(__dirname, '..', 'examples', 'feynman');

describe('the Feynman equations on the tier', () => {
  const files = fs.readdirSync(FEYNMAN).filter((f) => f.endsWith('.neural'));
  test.each(files)('%s', async (file) => {
    const source = fs.readFileSync(path.join(FEYNMAN, file), 'utf8');
    const { inputs, params } = declaredNames(source);
    const options = {
      inputs: Object.fromEntries(inputs.map((n) => [n, 'scalar' as const])),
      params: Object.fromEntries(params.map((p, k) => [p, 0.8 + 0.3 * k])),
    };
    await withTierPair(source, options, (m, off) => {
      expect(m.singleSampleTier()).toBeDefined();
      const batch = Object.fromEntries(inputs.map((n, k) => [n, points('sqrt', k, 5)]));
      const tier = m.valueAndGrad(batch, { batch: true, wrt: inputs });
      const viaForward = throughTensors(m, batch, inputs);
      const ref = throughTensors(off, batch, inputs);
      expect(close(asArray(tier.value), ref.value, 1e-12)).toBeUndefined();
      expect(close(viaForward.value, ref.value, 1e-12)).toBeUndefined();
      for (const [name, g] of Object.entries(ref.grads)) {
        expect([name, close(asArray(tier.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
        expect([name, close(viaForward.grads[name], g, 1e-10)]).toEqual([name, undefined]);
      }
    });
  });
});

describe('branching and small vectors on the tier (valueAndGrad)', () => {
  test.each([
    ['a nested if, a NaN in the untaken branches', '(if (> x 0) (* a (sqrt x)) (if (> x -1) (* a x y) (log (- y))))'],
    ['an if on a vector literal', '(if (< x y) (dot [x a] [y y]) (vsum (scale a [x y 1])))'],
    ['matrices', '(trace (matmul (mat [x a] [y 1]) (transpose (mat [a y] [x x]))))'],
    [
      'linear solves and inverses (LU with partial pivoting)',
      '(+ (vsum (solve (mat [x a 1] [y x 2] [a y 3]) [1 x y])) (trace (inv (mat [x a] [y 3]))) (trace (solve (mat [2 x] [y 4]) (mat [1 x] [y a]))))',
    ],
    [
      'determinants (cofactor expansion, as the kernel)',
      '(+ (det (mat [x a 1] [y x 2] [a y x])) (det (mat [x 1 0 a] [y x 2 1] [a y x 0] [1 a y x])))',
    ],
    // at x = 0.5 three elements tie (each gets a third of the gradient: a chain of binary max would
    // give them 1/4, 1/4, 1/2); at x = -2 a NaN element makes the extremum and every share NaN
    [
      'vmax and vmin, ties and NaN',
      '(+ (vmax [x (- 1 x) (* 0.25 (+ x 1.5))]) (vmin [(* 2 x) y (sqrt (+ x 1.8))]) (vsum (vmax (mat [x y] [a x]))))',
    ],
  ])('%s', async (_, source) => {
    const options = { inputs: { x: 'scalar', y: 'scalar' } as const, params: { a: 1.5 } };
    await withTierPair(source, options, (m, off) => {
      const batch = { x: [-2, -1.5, -0.5, 0, 0.5, 2], y: [3, -1, 0.25, 2, -3, 1] };
      // The batched calls must take the tier, else this would hold libtorch against itself.
      const spy = jest.spyOn(m, 'tier');
      const tier = m.valueAndGrad(batch, { batch: true, wrt: ['x', 'y'] });
      const viaForward = throughTensors(m, batch, ['x', 'y']);
      expect(spy.mock.results.filter((r) => r.value !== undefined).length).toBe(2);
      spy.mockRestore();
      const ref = throughTensors(off, batch, ['x', 'y']);
      for (const ours of [{ value: asArray(tier.value), grads: tier.grads }, viaForward]) {
        expect(close(asArray(ours.value), ref.value, 1e-12)).toBeUndefined();
        for (const [name, g] of Object.entries(ref.grads))
          expect([name, close(asArray(ours.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
      }
    });
  });

  test("forward's second derivatives of a branching program: create_graph replays each sample's branch", async () => {
    const source = '(if (> x 0) (* a x x) (if (> x -1) (sqrt (- x)) (* a a x)))';
    const second = (m: Module) => {
      const x = tensor([1.5, -0.25, -3, 0.5], { dtype: 'float64', requiresGrad: true });
      const y = m.forward({ x });
      const [dy] = grad(y, [x], { createGraph: true });
      const [d2y, da] = grad(dy, [x, m.parameters()[0]]);
      const out = [y, dy, d2y, da].map((t) => Array.from(t.toTypedArray()));
      for (const t of [x, y, dy, d2y, da]) t.dispose();
      return out;
    };
    const b = await withTierPair(source, { inputs: { x: 'scalar' }, params: { a: 2 } }, (m, off) =>
      expectTierAsLibtorch(m, off, second),
    );
    // by hand: x > 0: a x^2 (2 a x, 2 a; d(2 a x)/da = 2 x); -1 < x <= 0: sqrt(-x); else a^2 x (a^2, 0, 0)
    expect(b[0]).toEqual([4.5, 0.5, -12, 0.5]);
    expect(b[2]).toEqual([4, -1 / (4 * 0.25 ** 1.5), 0, 4]);
  });
});

describe('linear solves on the tier: second derivatives and singular matrices', () => {
  const source = '(vsum (solve (mat [x a] [(* x x) 3]) [1 (sin x)]))';
  const options = { inputs: { x: 'scalar' }, params: { a: 1.5 } } as const;

  test('create_graph replays the solve through linalg_solve', async () => {
    const second = (m: Module) => {
      const x = tensor([0.3, -1.2, 2.5], { dtype: 'float64', requiresGrad: true });
      const y = m.forward({ x });
      const [dy] = grad(y, [x], { createGraph: true });
      const [d2y] = grad(dy, [x]);
      const out = [y, dy, d2y].map((t) => Array.from(t.toTypedArray()));
      for (const t of [x, y, dy, d2y]) t.dispose();
      return out;
    };
    const b = await withTierPair(source, options, (m, off) => expectTierAsLibtorch(m, off, second));
    expect(Math.max(...b[2].map(Math.abs))).toBeGreaterThan(1e-3);
  });

  test('a singular matrix fails on the tier as on the libtorch path, at the solve', async () => {
    // det = 3 x - 1.5 x^2: singular at x = 2
    const found = await withTierPair(source, options, (m, off) =>
      [m, off].map((module) => {
        expect(module.singleSampleTier() !== undefined).toBe(module === m);
        expect(Number.isFinite(module.valueAndGrad({ x: 0.5 }).value as number)).toBe(true);
        const d = (failure(() => module.valueAndGrad({ x: 2 })) as CompileError).diagnostics[0];
        return [d.code, d.span?.start, d.message.includes('singular')];
      }),
    );
    expect(found[0]).toEqual(['E0209', 6, true]);
    expect(found[1]).toEqual(found[0]);
  });
});

test('float32 on the tier is within a few ulps of float64', () => {
  const source = '(/ (* G (* m1 m2)) (pow r 2))';
  const inputs = { m1: [1.5, 2, 0.7], m2: [3, 0.25, 1.1], r: [1.3, 0.6, 2.2] };
  const m64 = compile(source, {
    params: { G: 0.8 },
    inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' },
    dtype: 'float64',
  });
  const m32 = compile(source, {
    params: { G: 0.8 },
    inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' },
    dtype: 'float32',
  });
  const a = m64.valueAndGrad(inputs, { batch: true, wrt: ['r'] });
  const b = m32.valueAndGrad(inputs, { batch: true, wrt: ['r'] });
  expect(b.value).toBeInstanceOf(Float32Array);
  expect(close(asArray(b.value), asArray(a.value), 4 * 2 ** -23)).toBeUndefined();
  expect(close(asArray(b.grads.r), asArray(a.grads.r), 8 * 2 ** -23)).toBeUndefined();
  expect(close([b.grads.G as number], [a.grads.G as number], 8 * 2 ** -23)).toBeUndefined();
});

test('gradients agree with central differences', () => {
  const m = compile('(* k (exp (- (* 0.3 t))) (sin (+ (* w t) phase)))', {
    inputs: { t: 'scalar' },
    params: { k: 1.2, w: 2.1, phase: 0.4 },
    dtype: 'float64',
  });
  const t = 0.9;
  const { grads } = m.valueAndGrad({ t }, { wrt: ['t'] });
  const f = (tt: number) => m.valueAndGrad({ t: tt }).value as number;
  const h = 1e-6;
  expect(grads.t as number).toBeCloseTo((f(t + h) - f(t - h)) / (2 * h), 8);
  m.dispose();
});

test('special values follow libtorch: infinities and NaN through the gradient', async () => {
  await withTierPair('(+ (sqrt x) (* 0 (log y)))', { inputs: { x: 'scalar', y: 'scalar' } }, (m, off) => {
    const tier = m.valueAndGrad({ x: 0, y: 0 }, { wrt: ['x', 'y'] });
    const ref = throughTensors(off, { x: 0, y: 0 }, ['x', 'y']);
    expect([tier.value, tier.grads.x, tier.grads.y]).toEqual([ref.value[0], ref.grads.x[0], ref.grads.y[0]]);
    expect(tier.grads.x).toBe(Infinity);
  });
});

test.each([
  ['a division by 0 under a logical and', '(and x (/ (remainder 0 (+ 0.25 (abs x)))))', 0],
  [
    'a call whose infinite result is compared',
    '(letrec ((f (lambda (k y) (if (<= k 0) (/ y) (f (- k 1) y))))) (> (f 2 (- x x)) 0))',
    0,
  ],
  [
    "a call inside a function's frame, off its gradient path",
    '(letrec ((f (lambda (k y) (if (<= k 0) y (+ y (* 0 (> (f (- k 1) (/ (- y y))) 0))))))) (f 2 x))',
    1,
  ],
])(
  'what no gradient reaches is never differentiated (%s): no 0 * inf where libtorch has no graph',
  async (_, source, dx) => {
    await withTierPair(source, { inputs: { x: 'scalar' } }, (m, off) => {
      expect(m.singleSampleTier()).toBeDefined();
      for (const module of [m, off]) expect(module.valueAndGrad({ x: 0.5 }, { wrt: ['x'] }).grads.x).toBe(dx);
    });
  },
);

test('programs the tier does not run give the same answers through libtorch', () => {
  // 100 elements a sample: beyond the tier's 64 a value
  const m = compile('(dot v (scale k v))', { inputs: { v: [100] }, params: { k: 2 }, dtype: 'float64' });
  expect(m.singleSampleTier()).toBeUndefined();
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  const r = m.valueAndGrad({ v }, { wrt: ['v'] });
  expect(r.value).toBe(2 * 338350);
  expect(r.grads.k).toBe(338350);
  expect(Array.from(r.grads.v as Float64Array)).toEqual(v.map((x) => 4 * x));
  m.dispose();
});

test('frozen parameters have no gradient; wrt and batches are checked', () => {
  const m = compile('(* k x)', { inputs: { x: 'scalar' }, params: { k: 3 }, dtype: 'float64' });
  expect(m.valueAndGrad({ x: 2 })).toEqual({ value: 6, grads: { k: 2 } });
  m.freeze();
  expect(m.valueAndGrad({ x: 2 })).toEqual({ value: 6, grads: {} });
  m.unfreeze();
  expect(() => m.valueAndGrad({ x: 2 }, { wrt: ['y'] })).toThrow(
    "valueAndGrad: wrt names 'y', which is not an input (the inputs are x)",
  );
  expect(() => m.valueAndGrad({ x: 2 }, { wtr: ['x'] } as never)).toThrow("valueAndGrad: unknown option 'wtr'");
  const two = compile('(* x y)', { inputs: { x: 'scalar', y: 'scalar' }, dtype: 'float64' });
  expect(() => two.valueAndGrad({ x: [1, 2], y: [1, 2, 3] }, { batch: true })).toThrow(
    "input 'y' has 3 samples, the others 2",
  );
  expect(() => m.valueAndGrad(null as never)).toThrow('valueAndGrad() takes an object mapping input names to values');
  m.dispose();
  two.dispose();
});

describe('forward on the tier (the default; compile option tier: false turns it off)', () => {
  const source = '(* k (exp (- (* 0.3 t))) (sin (+ (* w t) phase)))';
  const options = { inputs: { t: 'scalar' as const }, params: { k: 1.2, w: 2.1, phase: 0.4 } };

  test('values and every gradient equal the libtorch path', async () => {
    await withTierPair(source, options, (onTier, off) => {
      const spy = jest.spyOn(onTier, 'tier');
      const t = [0.1, 0.7, 1.3, 2.9];
      const a = throughTensors(onTier, { t }, ['t']);
      expect(spy.mock.results.some((r) => r.value !== undefined)).toBe(true);
      const b = throughTensors(off, { t }, ['t']);
      expect(close(a.value, b.value, 1e-12)).toBeUndefined();
      for (const name of ['k', 'w', 'phase', 't'])
        expect([name, close(a.grads[name], b.grads[name], 1e-10)]).toEqual([name, undefined]);
    });
  });

  test('a full upstream gradient and second derivatives (create_graph replays the program through libtorch)', async () => {
    const second = (m: Module) => {
      const t = tensor([0.4, 1.1], { dtype: 'float64', requiresGrad: true });
      const y = m.forward({ t });
      const [dy] = grad(y, [t], { createGraph: true });
      const [d2y] = grad(dy, [t]);
      const out = [Array.from(y.toTypedArray()), Array.from(dy.toTypedArray()), Array.from(d2y.toTypedArray())];
      for (const x of [t, y, dy, d2y]) x.dispose();
      return out;
    };
    await withTierPair(source, { ...options, tier: true }, (m, off) => expectTierAsLibtorch(m, off, second));
  });
});

test("valueAndGrad leaves the parameters' accumulated gradients alone (the libtorch path uses grad, not backward)", () => {
  const m = compile('(dot v (scale k v))', { inputs: { v: [2] }, params: { k: 2 }, dtype: 'float64' });
  const y = m.forward({ v: [1, 1] });
  y.backward();
  const before = m.parameters()[0].grad!;
  expect(before.item()).toBe(2);
  expect(m.valueAndGrad({ v: [1, 2] } as never).grads.k).toBe(5);
  const after = m.parameters()[0].grad!;
  expect(after.item()).toBe(2);
  for (const t of [y, before, after]) t.dispose();
  m.dispose();
});

describe("backward of a tier result without libtorch's engine (sum(y).backward(), or y's own of one element)", () => {
  const source = '(/ (* G (* m1 m2)) (pow r 2))';
  const options = { inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' }, params: { G: 0.8 } } as const;
  const data = { m1: [1.5, 2, 0.7], m2: [3, 0.25, 1.1], r: [1.3, 0.6, 2.2] };

  /** Three forward + backward rounds accumulating into the leaves' and the param's .grad. */
  function rounds(m: Module, backward: (y: Tensor) => void) {
    const leaves = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, tensor(v, { dtype: m.dtype, requiresGrad: true })]),
    );
    for (let k = 0; k < 3; k++) {
      const y = m.forward(leaves);
      backward(y);
      y.dispose();
    }
    const grads = [...Object.values(leaves), ...m.parameters()].map((t) => {
      const g = t.grad!;
      const values = Array.from(g.toTypedArray());
      g.dispose();
      return values;
    });
    for (const t of Object.values(leaves)) t.dispose();
    for (const p of m.parameters()) p.zeroGrad();
    return grads;
  }
  const viaSum = (y: Tensor) => {
    const s = y.sum();
    s.backward();
    s.dispose();
  };
  // An explicit upstream gradient takes libtorch's engine through the same TapeBackward node.
  const viaEngine = (y: Tensor) => {
    const ones = tensor(
      Array.from(y.toTypedArray(), () => 1),
      { dtype: y.dtype },
    );
    y.backward(ones);
    ones.dispose();
  };

  test.each(['float32', 'float64'] as const)(
    '%s: accumulated gradients equal the engine bit for bit, and the libtorch path',
    async (dtype) => {
      await withTierPair(source, { ...options, dtype }, (m, off) => {
        const direct = rounds(m, viaSum);
        expect(direct).toEqual(rounds(m, viaEngine));
        const libtorch = rounds(off, viaSum);
        const ulps = dtype === 'float32' ? 16 * 2 ** -23 : 1e-12;
        direct.forEach((g, k) => expect([k, close(g, libtorch[k], ulps)]).toEqual([k, undefined]));
      });
    },
  );

  test("a one-element result's own backward, a leaf given twice, frozen params", () => {
    const m = compile('(* k x y)', { inputs: { x: 'scalar', y: 'scalar' }, params: { k: 3 }, dtype: 'float64' });
    const x = tensor([2], { dtype: 'float64', requiresGrad: true });
    let y = m.forward({ x, y: x }); // d(k x^2)/dx = 2 k x
    y.backward();
    y.dispose();
    const g = [x.grad!, m.parameters()[0].grad!];
    expect(g.map((t) => t.item())).toEqual([12, 4]);
    m.freeze();
    y = m.forward({ x, y: 5 });
    y.backward();
    y.dispose();
    const after = [x.grad!, m.parameters()[0].grad!];
    expect(after.map((t) => t.item())).toEqual([12 + 15, 4]);
    for (const t of [...g, ...after, x]) t.dispose();
    m.dispose();
  });

  test('a second backward through the same graph is an error, as on the libtorch path', async () => {
    await withTierPair(source, options, (m, off) => {
      for (const module of [m, off]) {
        const leaves = Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, tensor(v, { dtype: 'float64', requiresGrad: true })]),
        );
        const s = module.forward(leaves).sum();
        s.backward();
        expect(() => s.backward()).toThrow(/backward through the graph a second time/);
        s.dispose();
        for (const t of Object.values(leaves)) t.dispose();
      }
    });
  });
});
