// The small-program tier (native/tape.cpp through module.valueAndGrad) against the libtorch path:
// every pointwise primitive and the Feynman equations, float64 values within 1e-12 relative and
// gradients within 1e-10, unbatched, batched and with a shared input; float32 within a few ulps of
// the float64 result; the special values (NaN, infinities) where libtorch gives them.
import fs from 'fs';
import path from 'path';
import { compile, grad, tensor, type Module } from '../src';
import { PRIMITIVES, TAPE_FORMS } from '../src/ops';
import { DOMAIN as FUZZ_DOMAIN } from '../src/fuzz/typed';
import { declaredNames } from './helpers/feynman';

type Values = Float32Array | Float64Array;

/** d(sum of out)/d(params and the named inputs) through Tensors, as a user of forward() would: each input a leaf when its gradient is wanted. */
function throughTensors(m: Module, inputs: Record<string, number | number[]>, wrt: string[]) {
  const leaves = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => {
      const t = m.inputTensor(k, v).tensor;
      if (wrt.includes(k)) t.requiresGrad = true;
      return [k, t] as const;
    }),
  );
  const out = m.forward(leaves);
  const value = Array.from(out.toTypedArray());
  const grads: Record<string, number[]> = {};
  if (out.requiresGrad) {
    const total = out.sum();
    total.backward();
    total.dispose();
  }
  for (const [name, p] of Object.entries(m.namedParameters())) {
    const g = p.grad;
    grads[name] = g ? Array.from(g.toTypedArray()) : [0];
    g?.dispose();
    p.zeroGrad();
  }
  for (const name of wrt) {
    const g = leaves[name].grad;
    grads[name] = g ? Array.from(g.toTypedArray()) : Array.from(leaves[name].toTypedArray(), () => 0);
    g?.dispose();
  }
  out.dispose();
  for (const t of Object.values(leaves)) t.dispose();
  return { value, grads };
}

const asArray = (v: number | Values): number[] => (typeof v === 'number' ? [v] : Array.from(v));

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
  test.each(forms.map((f) => [`${f.op.name}/${f.arity}`, f.op.name, f.arity] as const))('%s', (_label, op, arity) => {
    const names = ARGS.slice(0, arity);
    const source = `(* a (${op} ${names.join(' ')}))`;
    const m = compile(source, {
      inputs: Object.fromEntries(names.map((n) => [n, 'scalar'])),
      params: { a: 1.5 },
      dtype: 'float64',
    });
    expect(m.singleSampleTier()).toBeDefined();
    const columns = names.map((_, k) => points(op, k, 7));
    // one sample at a time
    for (let s = 0; s < 7; s++) {
      const inputs = Object.fromEntries(names.map((n, k) => [n, columns[k][s]]));
      const tier = m.valueAndGrad(inputs, { wrt: names });
      const ref = throughTensors(m, inputs, names);
      expect(close(asArray(tier.value), ref.value, 1e-12)).toBeUndefined();
      for (const [name, g] of Object.entries(ref.grads))
        expect([name, close(asArray(tier.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
    }
    // a batch, the first input shared
    const inputs: Record<string, number | number[]> = Object.fromEntries(
      names.map((n, k) => [n, k === 0 && arity > 1 ? columns[0][0] : columns[k]]),
    );
    const tier = m.valueAndGrad(inputs, { batch: true, wrt: names });
    const ref = throughTensors(
      compile(source, {
        inputs: Object.fromEntries(names.map((n) => [n, 'scalar'])),
        params: { a: 1.5 },
        dtype: 'float64',
      }),
      inputs,
      names,
    );
    expect(close(asArray(tier.value), ref.value, 1e-12)).toBeUndefined();
    for (const [name, g] of Object.entries(ref.grads))
      expect([name, close(asArray(tier.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
    m.dispose();
  });

  test('every pointwise primitive has a tier form', () => {
    const pointwise = PRIMITIVES.filter((p) => p.pointwise && p.name !== 'clamp').map((p) => p.name);
    expect(pointwise.filter((name) => !TAPE_FORMS.some((f) => f.op.name === name))).toEqual([]);
  });
});

const FEYNMAN = path.join(__dirname, '..', 'examples', 'feynman');

describe('the Feynman equations on the tier', () => {
  const files = fs.readdirSync(FEYNMAN).filter((f) => f.endsWith('.neural'));
  test.each(files)('%s', (file) => {
    const source = fs.readFileSync(path.join(FEYNMAN, file), 'utf8');
    const { inputs, params } = declaredNames(source);
    const m = compile(source, {
      inputs: Object.fromEntries(inputs.map((n) => [n, 'scalar'])),
      params: Object.fromEntries(params.map((p, k) => [p, 0.8 + 0.3 * k])),
      dtype: 'float64',
    });
    expect(m.singleSampleTier()).toBeDefined();
    const batch = Object.fromEntries(inputs.map((n, k) => [n, points('sqrt', k, 5)]));
    const tier = m.valueAndGrad(batch, { batch: true, wrt: inputs });
    const ref = throughTensors(m, batch, inputs);
    expect(close(asArray(tier.value), ref.value, 1e-12)).toBeUndefined();
    for (const [name, g] of Object.entries(ref.grads))
      expect([name, close(asArray(tier.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
    m.dispose();
  });
});

describe('branching and small vectors on the tier (valueAndGrad)', () => {
  test.each([
    ['a nested if, a NaN in the untaken branches', '(if (> x 0) (* a (sqrt x)) (if (> x -1) (* a x y) (log (- y))))'],
    ['an if on a vector literal', '(if (< x y) (dot [x a] [y y]) (vsum (scale a [x y 1])))'],
    ['matrices', '(trace (matmul (mat [x a] [y 1]) (transpose (mat [a y] [x x]))))'],
  ])('%s', (_, source) => {
    const m = compile(source, { inputs: { x: 'scalar', y: 'scalar' }, params: { a: 1.5 }, dtype: 'float64' });
    const batch = { x: [-2, -1.5, -0.5, 0, 0.5, 2], y: [3, -1, 0.25, 2, -3, 1] };
    // The batched call must take the tier, else this would hold libtorch against itself.
    const spy = jest.spyOn(m, 'tier');
    const tier = m.valueAndGrad(batch, { batch: true, wrt: ['x', 'y'] });
    expect(spy.mock.results.map((r) => r.value !== undefined)).toContain(true);
    spy.mockRestore();
    const ref = throughTensors(m, batch, ['x', 'y']);
    expect(close(asArray(tier.value), ref.value, 1e-12)).toBeUndefined();
    for (const [name, g] of Object.entries(ref.grads))
      expect([name, close(asArray(tier.grads[name]), g, 1e-10)]).toEqual([name, undefined]);
    m.dispose();
  });

  test('forward with tier: true runs a branching program (on libtorch: its create_graph cannot replay a branch)', () => {
    const m = compile('(if (> x 0) (* a x) (* a a))', { inputs: { x: 'scalar' }, params: { a: 2 }, tier: true });
    const y = m.forward({ x: [1, -1] }, { batch: true });
    expect(y.toArray()).toEqual([2, 4]);
    y.dispose();
    m.dispose();
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

test('special values follow libtorch: infinities and NaN through the gradient', () => {
  const m = compile('(+ (sqrt x) (* 0 (log y)))', { inputs: { x: 'scalar', y: 'scalar' }, dtype: 'float64' });
  const tier = m.valueAndGrad({ x: 0, y: 0 }, { wrt: ['x', 'y'] });
  const ref = throughTensors(m, { x: 0, y: 0 }, ['x', 'y']);
  expect([tier.value, tier.grads.x, tier.grads.y]).toEqual([ref.value[0], ref.grads.x[0], ref.grads.y[0]]);
  expect(tier.grads.x).toBe(Infinity);
  m.dispose();
});

test('programs the tier does not run give the same answers through libtorch', () => {
  const m = compile('(dot v (scale k v))', { inputs: { v: [3] }, params: { k: 2 }, dtype: 'float64' });
  expect(m.singleSampleTier()).toBeUndefined();
  const r = m.valueAndGrad({ v: [1, 2, 3] } as never, { wrt: ['v'] });
  expect(r.value).toBe(28);
  expect(r.grads.k).toBe(14);
  expect(Array.from(r.grads.v as Float64Array)).toEqual([4, 8, 12]);
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

describe('forward on the tier (compile option tier: true)', () => {
  const source = '(* k (exp (- (* 0.3 t))) (sin (+ (* w t) phase)))';
  const options = {
    inputs: { t: 'scalar' as const },
    params: { k: 1.2, w: 2.1, phase: 0.4 },
    dtype: 'float64' as const,
  };

  test('values and every gradient equal the libtorch path', () => {
    const onTier = compile(source, { ...options, tier: true });
    const off = compile(source, options);
    const t = [0.1, 0.7, 1.3, 2.9];
    const a = throughTensors(onTier, { t }, ['t']);
    const b = throughTensors(off, { t }, ['t']);
    expect(close(a.value, b.value, 1e-12)).toBeUndefined();
    for (const name of ['k', 'w', 'phase', 't'])
      expect([name, close(a.grads[name], b.grads[name], 1e-10)]).toEqual([name, undefined]);
    onTier.dispose();
    off.dispose();
  });

  test('a full upstream gradient and second derivatives (create_graph replays the program through libtorch)', () => {
    const onTier = compile(source, { ...options, tier: true });
    const off = compile(source, options);
    const second = (m: Module) => {
      const t = tensor([0.4, 1.1], { dtype: 'float64', requiresGrad: true });
      const y = m.forward({ t });
      const [dy] = grad(y, [t], { createGraph: true });
      const [d2y] = grad(dy, [t]);
      const out = [Array.from(y.toTypedArray()), Array.from(dy.toTypedArray()), Array.from(d2y.toTypedArray())];
      for (const x of [t, y, dy, d2y]) x.dispose();
      return out;
    };
    const [a, b] = [second(onTier), second(off)];
    for (let k = 0; k < 3; k++) expect(close(a[k], b[k], 1e-10)).toBeUndefined();
    onTier.dispose();
    off.dispose();
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
