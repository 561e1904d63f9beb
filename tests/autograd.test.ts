// grad(): derivatives of outputs with respect to inputs, checked against finite differences, and
// differentiable again with createGraph (what a physics-informed residual needs).
import { compile } from '../src/api';
import { mlp } from '../src/nn/mlp';
import { tensor } from '../src/runtime/tensor';
import { grad } from '../src/train';

const f64 = { dtype: 'float64' as const };

describe('grad', () => {
  test('per-sample derivatives of a network with respect to its inputs match central differences', () => {
    const net = mlp([2, 8, 1], { seed: 5, ...f64 });
    const u = compile('(net x t)', { functions: { net }, ...f64 });
    const xs = [0.3, -0.8, 1.2];
    const ts = [0.1, 0.5, -0.4];
    const x = tensor(xs, { ...f64, requiresGrad: true });
    const t = tensor(ts, { ...f64, requiresGrad: true });
    const [ux, ut] = grad(u.forward({ x, t }, { batch: true }), [x, t]);
    const at = (a: number[], b: number[]) => u.forward({ x: a, t: b }, { batch: true }).toArray() as number[];
    const h = 1e-6;
    const fd = (dx: number, dt: number) => {
      const plus = at(
        xs.map((v) => v + dx),
        ts.map((v) => v + dt),
      );
      const minus = at(
        xs.map((v) => v - dx),
        ts.map((v) => v - dt),
      );
      return plus.map((p, i) => (p - minus[i]) / (2 * h));
    };
    expect(ux.toArray()).toEqual(fd(h, 0).map((v) => expect.closeTo(v, 7)));
    expect(ut.toArray()).toEqual(fd(0, h).map((v) => expect.closeTo(v, 7)));
  });

  test('with createGraph the derivative is differentiable: d2/dx2 sin(k x) and its gradient in k', () => {
    const m = compile('(sin (* k x))', { params: { k: 2 }, ...f64 });
    const x = tensor([0.4, 1.1], { ...f64, requiresGrad: true });
    const [dx] = grad(m.forward({ x }, { batch: true }), [x], { createGraph: true });
    const [dxx] = grad(dx, [x], { createGraph: true });
    expect(dxx.toArray()).toEqual([0.4, 1.1].map((v) => expect.closeTo(-4 * Math.sin(2 * v), 12)));
    dxx.sum().backward();
    // d/dk of -k^2 sin(k x) = -2k sin(kx) - k^2 x cos(kx), summed over both samples
    const want = [0.4, 1.1].reduce((s, v) => s - 4 * Math.sin(2 * v) - 4 * v * Math.cos(2 * v), 0);
    expect(m.namedParameters().k.grad!.item()).toBeCloseTo(want, 12);
  });

  test('gradOutputs weights the outputs; an unused input gets zeros; inputs must require a gradient', () => {
    const x = tensor([1, 2], { ...f64, requiresGrad: true });
    const unused = tensor([5], { ...f64, requiresGrad: true });
    const [gx, gu] = grad(x.mul(x), [x, unused], { gradOutputs: tensor([3, -1], f64) });
    expect(gx.toArray()).toEqual([6, -4]);
    expect(gu.toArray()).toEqual([0]);
    expect(() => grad(x.mul(x), [tensor([1], f64)])).toThrow(/must require a gradient/);
  });
});
