// Every fusible op through the fused block kernels (native/fused_blocks.inc), forward and backward,
// float32 and float64, against the same program compiled with fuse: false (each op its own libtorch
// kernel and autograd node). The block path starts at kFusedMinElements = 4,096 elements with
// blocks of 512, so the batches are 4,099 (eight whole blocks and a partial one of 3) and 8,192
// (sixteen whole blocks). Each program fuses around a batched input x and a broadcast scalar param
// a (tests/helpers/fusible-ops.ts), so the gradients of a full-size input and of a broadcast scalar
// both run, under a full upstream gradient (weights) and under the one of a sum (an expanded
// scalar, which the kernels read as one value).
//
// Tolerances: values and input gradients are elementwise, the same ops in the same order up to
// SIMD transcendentals (SLEEF, 1 ulp) and contraction into FMA: 1e-12 relative in float64, 2e-6
// (17 ulp) in float32 (tanh's 1 - y^2 cancels, so its input gradient is compared at the scale of
// upstream * a). The param's gradient is a sum over the batch in another order (the kernels
// sum per block in double), so it is bounded relative to the sum of the magnitudes of its terms,
// which the unfused program gives when a is a batched input: 1e-12 (float64) and 4e-6 (float32) of it.
import { compile, PRIMITIVES, setNumThreads, tensor, type DType, type Module } from '../src';
import { FUSED_FORMS } from '../src/ops';
import type { FusedNode } from '../src/compiler/ir';
import { FUSED_CASES, FUSIBLE_OPS, inputs, PARAM_VALUE, type FusedCase } from './helpers/fusible-ops';
import { worstRelative } from './helpers/finite-diff';

const SIZES = [4096 + 3, 16 * 512];
const DTYPES: DType[] = ['float64', 'float32'];
const TOLERANCE: Record<DType, { elementwise: number; sum: number }> = {
  float64: { elementwise: 1e-12, sum: 1e-12 },
  float32: { elementwise: 2e-6, sum: 4e-6 },
};

const weights = (n: number) => Float64Array.from({ length: n }, (_, i) => 0.5 + ((i * 37) % 101) / 100);

const fusedNodes = (m: Module) =>
  m.graph!.regions.flatMap((r) => r.nodes).filter((n) => n.op === 'fused') as FusedNode[];

interface Run {
  value: Float32Array | Float64Array;
  dx: Float32Array | Float64Array;
  da: number;
}

function runOnce(m: Module, x0: Float64Array, dtype: DType, upstream: 'weights' | 'sum'): Run {
  const n = x0.length;
  const x = tensor(x0, { shape: [n], dtype, requiresGrad: true });
  const y = m.forward({ x });
  const total = y.sum();
  const w = tensor(weights(n), { shape: [n], dtype });
  if (upstream === 'weights') y.backward(w);
  else total.backward();
  const [dx, da] = [x.grad!, m.parameters()[0].grad!];
  const run = { value: y.toTypedArray(), dx: dx.toTypedArray(), da: da.item() };
  m.parameters()[0].zeroGrad();
  for (const t of [x, y, total, w, dx, da]) t.dispose();
  return run;
}

/** Sum over the batch of |upstream_i * d y_i / d a|, with a as a batched input (the terms of a's gradient). */
function termMagnitudes(perSample: Module, x0: Float64Array, dtype: DType, upstream: 'weights' | 'sum'): number {
  const n = x0.length;
  const x = tensor(x0, { shape: [n], dtype });
  const a = tensor(new Float64Array(n).fill(PARAM_VALUE), { shape: [n], dtype, requiresGrad: true });
  const y = perSample.forward({ x, a });
  const up = upstream === 'weights' ? weights(n) : new Float64Array(n).fill(1);
  y.backward(tensor(up, { shape: [n], dtype }));
  const g = a.grad!;
  const s = Array.from(g.toTypedArray()).reduce((acc, v) => acc + Math.abs(v), 0);
  for (const t of [x, a, y, g]) t.dispose();
  return s;
}

/** Largest |a_i - b_i| / max(|b_i|, floor_i) (with no floor, b_i = 0 must match exactly). */
test('every fusible op has a case, and every case names a fusible op', () => {
  expect([...new Set(FUSED_CASES.map((c) => c.op))].sort()).toEqual([...FUSIBLE_OPS].sort());
});

test('every fused form of the registry (op and arity) has a case', () => {
  const covered = new Set(
    FUSED_CASES.map((c) => `${c.op}/${c.arity ?? (['+', '-', '*', '/'].includes(c.op) ? 2 : 1)}`),
  );
  expect(FUSED_FORMS.map((f) => `${f.op.name}/${f.arity}`).filter((k) => !covered.has(k))).toEqual([]);
});

test('no primitive fuses that FUSIBLE_OPS leaves out', () => {
  // Each one- or two-argument primitive applied to a fused-able chain: whatever the pass puts in a
  // fused node must be listed (pow with a literal exponent is the pow-scalar step).
  const fusedOps = new Set<string>();
  for (const p of PRIMITIVES) {
    if (p.minArgs > 2 || p.constArgs?.length) continue;
    const source = p.minArgs <= 1 ? `(${p.name} (* a x))` : `(${p.name} (* a x) ${p.name === 'pow' ? '2.5' : 'x'})`;
    let m: Module;
    try {
      m = compile(source, { inputs: { x: 'scalar' }, params: { a: PARAM_VALUE }, tier: false });
    } catch {
      continue; // not applicable to scalars
    }
    try {
      m.forward({ x: [1, 2] }, { batch: true }).dispose();
      for (const n of fusedNodes(m)) for (const step of n.steps) fusedOps.add(step.op);
    } catch {
      // a runtime domain error is no concern here
    }
    m.dispose();
  }
  expect([...fusedOps].filter((op) => !(FUSIBLE_OPS as readonly string[]).includes(op))).toEqual([]);
  expect(fusedOps.size).toBeGreaterThan(10);
});

describe.each(FUSED_CASES)('$name: $source', (c) => {
  describe.each(DTYPES)('%s', (dtype) => {
    const build = (fuse: boolean) =>
      compile(c.source, { inputs: { x: 'scalar' }, params: { a: PARAM_VALUE }, dtype, fuse });
    let fused: Module;
    let plain: Module;
    let perSample: Module;
    beforeAll(() => {
      fused = build(true);
      plain = build(false);
      perSample = compile(c.source, { inputs: { x: 'scalar', a: 'scalar' }, dtype, fuse: false });
    });
    afterAll(() => [fused, plain, perSample].forEach((m) => m.dispose()));

    test('the op is a step of a fused node (and fuse: false has none)', () => {
      runOnce(fused, inputs(SIZES[0], c.domain, 1), dtype, 'sum');
      runOnce(plain, inputs(SIZES[0], c.domain, 1), dtype, 'sum');
      const nodes = fusedNodes(fused);
      expect(nodes).toHaveLength(1);
      const arity = c.arity ?? (['+', '-', '*', '/'].includes(c.op) ? 2 : 1);
      const steps = nodes[0].steps.filter((s) => s.op === c.op && s.args.length === arity);
      expect(steps.length).toBeGreaterThan(0);
      if (c.exponent !== undefined) expect(steps.map((s) => s.attrs[0])).toContain(c.exponent);
      expect(fusedNodes(plain)).toEqual([]);
    });

    test.each(SIZES.flatMap((n) => (['weights', 'sum'] as const).map((upstream) => [n, upstream] as const)))(
      'batch %i, upstream gradient %s: values and gradients equal the unfused graph',
      (n, upstream) => {
        const x0 = inputs(n, c.domain, n);
        const a = runOnce(fused, x0, dtype, upstream);
        const b = runOnce(plain, x0, dtype, upstream);
        const tol = TOLERANCE[dtype];
        expect(a.value.length).toBe(n);
        expect(b.value.every(Number.isFinite) && b.dx.every(Number.isFinite)).toBe(true);
        expect(worstRelative(a.value, b.value)).toBeLessThanOrEqual(tol.elementwise);
        const w = weights(n);
        const upstreamAt = (i: number) => (upstream === 'weights' ? w[i] : 1);
        const floor = c.cancellingDerivative ? (i: number) => PARAM_VALUE * upstreamAt(i) : undefined;
        expect(worstRelative(a.dx, b.dx, floor)).toBeLessThanOrEqual(tol.elementwise);
        const scale = termMagnitudes(perSample, x0, dtype, upstream);
        expect(Math.abs(a.da - b.da)).toBeLessThanOrEqual(tol.sum * scale);
      },
    );
  });
});

test('with 2 intra-op threads the blocks give the same values and gradients, bit for bit', () => {
  const c = FUSED_CASES.find((k) => k.name === 'sin')!;
  const m = compile(c.source, { inputs: { x: 'scalar' }, params: { a: PARAM_VALUE }, dtype: 'float64' });
  const x0 = inputs(16 * 512 * 4, c.domain, 3);
  const one = runOnce(m, x0, 'float64', 'weights');
  setNumThreads(2);
  let two: Run;
  try {
    two = runOnce(m, x0, 'float64', 'weights');
  } finally {
    setNumThreads(1);
  }
  expect(Buffer.from(two.value.buffer).equals(Buffer.from(one.value.buffer))).toBe(true);
  expect(Buffer.from(two.dx.buffer).equals(Buffer.from(one.dx.buffer))).toBe(true);
  // the param's gradient: per-block sums added in block order, whichever thread ran the block
  expect(Object.is(two.da, one.da)).toBe(true);
  m.dispose();
});
