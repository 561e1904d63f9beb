// valueAndGrad at large batches (ONE_PASS_MIN_BATCH and up) when the program's result is a fused
// node: forward and the backward of the sum in one pass over the blocks (native/fused.cpp,
// GraphModule::value_and_sum_grad). Held to the unfused libtorch path (fuse: false, forward, sum,
// backward through Tensors) for every fused op form (tests/helpers/fusible-ops.ts) in float64 and
// float32, with a partial last block (4,099 = eight blocks of 512 and 3) and a batch below the
// block path's kFusedMinElements; to central differences; with shared inputs, computed operands
// and two threads (bit for bit).
//
// Tolerances: float64 values within 1e-12 relative and gradients within 1e-10; float32 as in
// tests/fused-ops.test.ts (elementwise 2e-6 relative; the param's gradient, a sum in another
// order, within 4e-6 of the sum of its terms' magnitudes).
import { compile, setNumThreads, type CompileOptions, type DType, type Module } from '../src';
import { ONE_PASS_MIN_BATCH } from '../src/api/value-and-grad';
import { FUSED_CASES, inputs, PARAM_VALUE, type FusedCase } from './helpers/fusible-ops';
import { worstRelative } from './helpers/finite-diff';
import { numbers as asArray, throughTensors, tierPair } from './helpers/tier';

type Values = Float32Array | Float64Array;
const DTYPES: DType[] = ['float64', 'float32'];
const SIZES = [4096 + 3, ONE_PASS_MIN_BATCH + 5];
/** A tier pair's twin (tests/helpers/tier.ts) as the reference: unfused, on libtorch. */
const UNFUSED: CompileOptions = { fuse: false };

/** valueAndGrad, checking that it took the one pass. */
function onePass(m: Module, given: Record<string, number | Values>, wrt: string[]) {
  const spy = jest.spyOn(m, 'withFusedResult');
  const r = m.valueAndGrad(given, { batch: true, wrt });
  expect(spy).toHaveReturnedWith(expect.anything());
  spy.mockRestore();
  return r;
}

describe.each(FUSED_CASES)('$name: $source', (c) => {
  test.each(DTYPES.flatMap((dtype) => SIZES.map((n) => [dtype, n] as const)))(
    '%s, batch %i: value and gradients equal the unfused libtorch path',
    (dtype, n) => {
      // the reference on libtorch (tier: false): the small-program tier would take its smaller batch
      const [fused, plain] = tierPair(
        c.source,
        { inputs: { x: 'scalar' }, params: { a: PARAM_VALUE }, dtype },
        UNFUSED,
      );
      const x = inputs(n, c.domain, n);
      const got = onePass(fused, { x: dtype === 'float64' ? x : Float32Array.from(x) }, ['x']);
      const want = throughTensors(plain, { x }, ['x'], { batch: true });
      const strict = dtype === 'float64';
      expect(worstRelative(got.value as Values, want.value)).toBeLessThanOrEqual(strict ? 1e-12 : 2e-6);
      const floor = c.cancellingDerivative ? () => PARAM_VALUE : undefined;
      expect(worstRelative(got.grads.x as Values, want.grads.x, floor)).toBeLessThanOrEqual(strict ? 1e-10 : 2e-6);
      // The param's gradient is a sum: bounded by the sum of its terms' magnitudes (a batched).
      const perSample = compile(c.source, {
        inputs: { x: 'scalar', a: 'scalar' },
        dtype: 'float64',
        fuse: false,
        tier: false,
      });
      const terms = throughTensors(perSample, { x, a: new Float64Array(n).fill(PARAM_VALUE) }, ['a'], { batch: true })
        .grads.a;
      const scale = terms.reduce((s, t) => s + Math.abs(t), 0);
      expect(Math.abs((got.grads.a as number) - want.grads.a[0])).toBeLessThanOrEqual((strict ? 1e-10 : 4e-6) * scale);
      [fused, plain, perSample].forEach((m) => m.dispose());
    },
  );
});

const GRAVITY = '(/ (* G (* m1 m2)) (pow r 2))';
const GRAVITY_OPTIONS: CompileOptions = {
  inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' },
  params: { G: 0.8 },
  dtype: 'float64',
};
const gravity = () => compile(GRAVITY, GRAVITY_OPTIONS);

test('shared inputs, computed operands and frozen params, against the libtorch path', () => {
  const n = 4099;
  const given = { m1: inputs(n, 'positive', 1), m2: 1.7, r: inputs(n, 'positive', 2) };
  const [m, plain] = tierPair(GRAVITY, GRAVITY_OPTIONS, UNFUSED);
  const got = onePass(m, given, ['m1', 'm2', 'r']);
  const want = throughTensors(plain, given, ['m1', 'm2', 'r'], { batch: true });
  expect(worstRelative(got.value as Values, want.value)).toBeLessThanOrEqual(1e-12);
  for (const name of ['G', 'm1', 'm2', 'r'])
    expect([name, worstRelative(asArray(got.grads[name]), want.grads[name]) <= 1e-10]).toEqual([name, true]);
  // (pow c 2) is computed outside the fused node: its gradient reaches c through autograd.
  const [rel, plainRel] = tierPair(
    '(/ (* m (pow c 2)) (sqrt (- 1 (pow (/ v c) 2))))',
    { inputs: { m: 'scalar', v: 'scalar' }, params: { c: 3 } },
    UNFUSED,
  );
  const rg = { m: inputs(n, 'positive', 3), v: inputs(n, 'positive', 4).map((v) => v - 0.5) };
  const a = onePass(rel, rg, ['v']);
  const b = throughTensors(plainRel, rg, ['v'], { batch: true });
  expect(worstRelative(a.value as Values, b.value)).toBeLessThanOrEqual(1e-12);
  expect(worstRelative([a.grads.c as number], b.grads.c)).toBeLessThanOrEqual(1e-10);
  expect(worstRelative(a.grads.v as Values, b.grads.v)).toBeLessThanOrEqual(1e-10);
  m.freeze();
  expect(Object.keys(onePass(m, given, []).grads)).toEqual([]);
  [m, plain, rel, plainRel].forEach((x) => x.dispose());
});

test('gradients agree with central differences', () => {
  const n = 2000;
  const m = gravity();
  const given = { m1: inputs(n, 'positive', 5), m2: inputs(n, 'positive', 6), r: inputs(n, 'positive', 7) };
  const got = onePass(m, given, ['r']);
  // d(sum)/d r_i is d y_i / d r_i: the difference of y_i alone.
  const valueAt = (r: Float64Array, i: number) => (m.valueAndGrad({ ...given, r }, { batch: true }).value as Values)[i];
  const h = 1e-6;
  for (const i of [0, 1234, n - 1]) {
    const [up, down] = [Float64Array.from(given.r), Float64Array.from(given.r)];
    up[i] += h;
    down[i] -= h;
    const fd = (valueAt(up, i) - valueAt(down, i)) / (2 * h);
    expect(Math.abs((got.grads.r as Values)[i] - fd)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(fd)));
  }
  // d sum / d G = sum / G for gravity
  const sum = Array.from(got.value as Values).reduce((s, v) => s + v, 0);
  expect(Math.abs((got.grads.G as number) - sum / 0.8)).toBeLessThanOrEqual(1e-10 * Math.abs(sum / 0.8));
  m.dispose();
});

test('with 2 intra-op threads the pass gives the same bits', () => {
  const n = 16 * 512 * 4 + 7;
  const m = gravity();
  const given = { m1: inputs(n, 'positive', 8), m2: inputs(n, 'positive', 9), r: inputs(n, 'positive', 10) };
  const one = onePass(m, given, ['r']);
  setNumThreads(2);
  let two: typeof one;
  try {
    two = onePass(m, given, ['r']);
  } finally {
    setNumThreads(1);
  }
  const bits = (v: number | Values) => Buffer.from((typeof v === 'number' ? Float64Array.of(v) : v).buffer);
  expect(bits(two.value).equals(bits(one.value))).toBe(true);
  expect(bits(two.grads.r).equals(bits(one.grads.r))).toBe(true);
  expect(Object.is(two.grads.G, one.grads.G)).toBe(true);
  m.dispose();
});

test('programs whose result is not a fused node, small batches and fuse: false take the other paths', () => {
  const notFused = compile('(if (> x 0) (* a x) (- x))', {
    inputs: { x: 'scalar' },
    params: { a: 2 },
    dtype: 'float64',
  });
  const spy = jest.spyOn(notFused, 'withFusedResult');
  const r = notFused.valueAndGrad({ x: inputs(1000, 'signed', 1) }, { batch: true, wrt: ['x'] });
  expect(spy).toHaveReturnedWith(undefined);
  expect((r.value as Values).length).toBe(1000);
  const m = gravity();
  const small = jest.spyOn(m, 'withFusedResult');
  m.valueAndGrad({ m1: [1, 2], m2: [3, 4], r: [1, 2] }, { batch: true });
  expect(small).not.toHaveBeenCalled();
  [notFused, m].forEach((x) => x.dispose());
});

test('out receives the value on every path, and a bad one is an Error', () => {
  const m = gravity();
  const n = 600;
  const given = { m1: inputs(n, 'positive', 11), m2: inputs(n, 'positive', 12), r: inputs(n, 'positive', 13) };
  const fresh = m.valueAndGrad(given, { batch: true, wrt: ['r'] });
  const out = new Float64Array(n);
  const a = m.valueAndGrad(given, { batch: true, wrt: ['r'], out });
  expect(a.value).toBe(out);
  expect(Array.from(out)).toEqual(Array.from(fresh.value as Values));
  expect(a.grads).toEqual(fresh.grads);
  const small = new Float64Array(3);
  const onTier = { m1: [1, 2, 3], m2: 2, r: [1, 2, 3] };
  expect(m.valueAndGrad(onTier, { batch: true, out: small }).value).toBe(small);
  expect(Array.from(small)).toEqual(Array.from(m.valueAndGrad(onTier, { batch: true }).value as Values));
  const notFused = compile('(if (> x 0) (* a x) (- x))', {
    inputs: { x: 'scalar' },
    params: { a: 2 },
    dtype: 'float64',
  });
  const branchOut = new Float64Array(2);
  expect(notFused.valueAndGrad({ x: [1, -3] }, { batch: true, out: branchOut }).value).toBe(branchOut);
  expect(Array.from(branchOut)).toEqual([2, 3]);
  expect(() => m.valueAndGrad(given, { batch: true, out: new Float32Array(n) })).toThrow(
    'valueAndGrad: out must be a Float64Array',
  );
  expect(() => m.valueAndGrad(given, { out })).toThrow('it needs batch: true');
  expect(() => m.valueAndGrad(given, { batch: true, out: new Float64Array(n - 1) })).toThrow(
    `out holds ${n - 1} values, the value ${n}`,
  );
  expect(() => m.valueAndGrad({ m1: 1, m2: 2, r: 3 }, { batch: true, out })).toThrow('every input is one number');
  [m, notFused].forEach((x) => x.dispose());
});

test('a new value array, taken unzeroed, holds every sample of this call (the one pass and the tier)', () => {
  // Each call's inputs differ, so an element left unwritten would hold the last call's value (or
  // whatever the reused memory held), not this call's.
  const m = gravity();
  const notFused = compile('(if (> x 0) (* a x) (- x))', { inputs: { x: 'scalar' }, params: { a: 2 } });
  // 300,001 float64s pass the 1 MiB from which the one pass streams the value out (stream_copy).
  for (const n of [300_001, 4096 + 3, 40, 1]) {
    for (let call = 0; call < 4; call++) {
      const given = { m1: inputs(n, 'positive', 20 + call), m2: 1.5 + call, r: inputs(n, 'positive', 30 + call) };
      const value = m.valueAndGrad(given, { batch: true }).value as Float64Array;
      expect(value).toBeInstanceOf(Float64Array);
      const expected = Array.from(given.r, (r, i) => (0.8 * given.m1[i] * given.m2) / (r * r));
      expect(worstRelative(Array.from(value), expected)).toBeLessThan(1e-14);
      const x = inputs(n, 'signed', 40 + call);
      const onTier = notFused.valueAndGrad({ x }, { batch: true }).value as Float32Array;
      expect(Array.from(onTier)).toEqual(Array.from(Float32Array.from(x, (v) => (v > 0 ? 2 * v : -v))));
    }
  }
  [m, notFused].forEach((x) => x.dispose());
});

test('the native entry point refuses bad arguments with Errors', () => {
  const m = gravity();
  const g = m.nativeGraph(['m1', 'm2', 'r'].map((name) => ({ name, shape: [], batched: true })));
  const x = new Float64Array(600);
  const wanted = [false, false, false];
  expect(() => g.valueAndSumGrad([x, x, new Float32Array(600)], [true, true, true], 600, x, wanted)).toThrow(
    'valueAndSumGrad: an input must be a Float64Array',
  );
  expect(() => g.valueAndSumGrad([x, x, x], [true, true, true], 601, x, wanted)).toThrow('holds fewer than 601 values');
  expect(() => g.valueAndSumGrad([x, x], [true, true], 600, x, [false, false])).toThrow('the program takes 3 inputs');
  expect(() => g.valueAndSumGrad([x, x, x], [true], 600, x, wanted)).toThrow('one batched flag and one wanted flag');
  expect(() => g.valueAndSumGrad([x, x, x], [true, true, true], 0, x, wanted)).toThrow('at least 1');
  expect(() => g.valueAndSumGrad([x, x, x], [true, true, true], 600, x, null as never)).toThrow('valueAndSumGrad(');
  m.dispose();
});
