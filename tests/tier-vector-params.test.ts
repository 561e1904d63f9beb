// Vector and matrix params on the small-program tier: a weight block read element by element, its
// gradient summed per element. Values and gradients must equal the libtorch path's (compile option
// tier: false) through valueAndGrad, Tensors and fit(), and finite differences.
import { fit, grad, tensor, type CompileOptions, type FitOptions, type Module } from '../src';
import { centralDifference, flatten, maxRelativeError } from './helpers/finite-diff';
import { expectSameValueAndGrad, expectTierAsLibtorch, numbers as values, withTierPair } from './helpers/tier';

/** A polynomial with vector coefficients and a rotation by a matrix param, read through dot, ref and matvec. */
const SOURCE = '(+ (dot w (vec 1 x (* x x))) (ref (matvec A (vec x y)) 1) (* k y))';
const PARAMS = {
  w: [0.5, -1.2, 0.3],
  A: [
    [1, 0.2],
    [-0.4, 0.9],
  ],
  k: 2,
};
const OPTIONS: CompileOptions = { inputs: { x: 'scalar', y: 'scalar' }, params: PARAMS };

test('valueAndGrad: the value and every param and input gradient as on libtorch, and finite differences', async () => {
  await withTierPair(SOURCE, OPTIONS, (m, off) => {
    expect(m.singleSampleTier()).toBeDefined();
    const data = { x: [0.3, -1.1, 2], y: [1, 0.5, -0.25] };
    const a = expectSameValueAndGrad(m, off, data, { batch: true, wrt: ['x', 'y'] });
    expect(Object.keys(a.grads).sort()).toEqual(['A', 'k', 'w', 'x', 'y']);
    // d(sum)/dw_j = sum over samples of x^j: the coefficients' gradient by hand
    expect(values(a.grads.w as ArrayLike<number>)).toEqual(
      [3, 0.3 - 1.1 + 2, 0.09 + 1.21 + 4].map((v) => expect.closeTo(v, 12)),
    );
    const w = m.namedParameters().w;
    const fd = centralDifference((v) => {
      w.handle.assign(tensor(v, { dtype: 'float64' }).handle);
      return values(m.valueAndGrad(data, { batch: true }).value).reduce((s, x) => s + x, 0);
    }, PARAMS.w);
    w.handle.assign(tensor(PARAMS.w, { dtype: 'float64' }).handle);
    expect(maxRelativeError(values(a.grads.w as ArrayLike<number>), fd)).toBeLessThan(1e-8);
  });
});

test('through Tensors: forward, sum().backward() into the params, and second derivatives', async () => {
  const run = (m: Module) => {
    const x = tensor([0.3, -1.1], { dtype: 'float64', requiresGrad: true });
    const y = tensor([1, 0.5], { dtype: 'float64' });
    const out = m.forward({ x, y });
    const [dx] = grad(out, [x], { createGraph: true });
    const [d2x] = grad(dx, [x]);
    const s = out.sum();
    s.backward();
    const { w, A } = m.namedParameters();
    const got = [out, dx, d2x, w.grad!, A.grad!].map((t) => values(t.toTypedArray()));
    for (const p of m.parameters()) p.zeroGrad();
    for (const t of [x, y, out, dx, d2x, s]) t.dispose();
    return got;
  };
  await withTierPair(SOURCE, OPTIONS, (m, off) => expectTierAsLibtorch(m, off, run));
});

test('fit() trains vector and matrix params on the tier as on the libtorch path', async () => {
  const xs = [0.1, 0.4, -0.8, 1.3, 2, -1.5];
  const ys = [0.5, -0.2, 1, 0.3, -0.7, 0.9];
  const target = xs.map((x, i) => 1 - 2 * x + 0.5 * x * x + (0.3 * x + 0.8 * ys[i]) + 1.5 * ys[i]);
  await withTierPair(SOURCE, OPTIONS, async (m, off) => {
    const options: FitOptions = { optimizer: 'adam', lr: 0.02, epochs: 25 };
    const a = await fit(m, { inputs: { x: xs, y: ys }, target }, options);
    const b = await fit(off, { inputs: { x: xs, y: ys }, target }, options);
    expect([a.tier, b.tier]).toEqual([true, false]);
    for (const name of ['w', 'A', 'k'])
      expect(maxRelativeError(flatten(a.params[name]), flatten(b.params[name]))).toBeLessThan(1e-9);
    expect(a.params.w).not.toEqual(PARAMS.w);
  });
});
