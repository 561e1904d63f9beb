// Backward through a large fused node given the gradient of a sum (y.sum(), y.mean()) when only
// single elements (the params) require a gradient: once the node's backward has been given one
// value, its forward takes those gradients in its own pass over the blocks (native/fused.cpp,
// block_forward's sum_grads), and backward scales them by that value instead of reading the inputs
// again. Held to float64 sums of the closed-form derivatives; to exactly the one pass's sums times
// the value in the dtype (the arithmetic of that path); and, in a sequence of sums and per-element
// gradients, to the kept values that pass stored, which a per-element backward reads.
//
// Tolerances: float64 within 1e-12 of the sum of the terms' magnitudes; float32 within 4e-6 of it
// (a sum in another order, as tests/one-pass.test.ts).
import { compile, grad, tensor, type DType, type Module, type Tensor } from '../src';
import { inputs } from './helpers/fusible-ops';

type Values = Float32Array | Float64Array;

const N = 2 * 4096 + 3; // a partial last block
const A = 0.7;
const K = 0.3;
const TOLERANCE: Record<DType, number> = { float64: 1e-12, float32: 4e-6 };

/** y = A exp(k x): the exp step's value is kept for backward. */
const model = (dtype: DType): Module =>
  compile('(* A (exp (* k x)))', { inputs: { x: 'scalar' }, params: { A, k: K }, dtype, tier: false });

/** Sums of w_i dy_i/dA and w_i dy_i/dk in float64, and the sums of their magnitudes. */
function reference(x: Float64Array, w: (i: number) => number) {
  const r = { A: 0, k: 0, scaleA: 0, scaleK: 0 };
  x.forEach((xi, i) => {
    const dA = w(i) * Math.exp(K * xi);
    const dk = w(i) * A * xi * Math.exp(K * xi);
    r.A += dA;
    r.k += dk;
    r.scaleA += Math.abs(dA);
    r.scaleK += Math.abs(dk);
  });
  return r;
}

/** Runs forward on x, then `seed` on the result; the params' gradients. */
function gradsAfter(m: Module, x: Float64Array, seed: (y: Tensor) => void): { A: number; k: number } {
  const leaf = m.inputTensor('x', Array.from(x)).tensor;
  const y = m.forward({ x: leaf }, { batch: true });
  seed(y);
  const params = m.namedParameters();
  const read = (name: 'A' | 'k') => {
    const g = params[name].grad!;
    const v = g.item();
    g.dispose();
    params[name].zeroGrad();
    return v;
  };
  const grads = { A: read('A'), k: read('k') };
  y.dispose();
  leaf.dispose();
  return grads;
}

const sumSeed = (y: Tensor) => {
  const total = y.sum();
  total.backward();
  total.dispose();
};
const meanSeed = (y: Tensor) => {
  const mean = y.mean();
  mean.backward();
  mean.dispose();
};
const thirdSeed = (y: Tensor) => {
  const total = y.sum();
  const third = total.mul(1 / 3);
  third.backward();
  [total, third].forEach((t) => t.dispose());
};

describe.each(['float64', 'float32'] as DType[])('%s', (dtype) => {
  const x = inputs(N, 'signed', 7);
  const w = inputs(N, 'signed', 8);
  const weightedSeed = (y: Tensor) => {
    const seed = tensor(w, { dtype });
    y.backward(seed);
    seed.dispose();
  };
  let m: Module;
  beforeEach(() => (m = model(dtype)));
  afterEach(() => m.dispose());

  const round = dtype === 'float64' ? (v: number) => v : Math.fround;
  /**
   * A param's gradient from the sum forward took: that sum (in double) times c, rounded to the
   * dtype. valueAndGrad gives the sum rounded to the dtype: in float64 the same bits; in float32
   * within the two roundings.
   */
  const expectScaledSum = (got: number, sum: number, c: number) => {
    if (dtype === 'float64') expect(got).toBe(sum * c);
    else expect(Math.abs(got - sum * round(c))).toBeLessThanOrEqual(2.4e-7 * Math.abs(sum * c));
  };

  /** dy_i/dx_i = c A k exp(k x_i), within the dtype's tolerance of each element. */
  const expectInputGrads = (dx: ArrayLike<number>, c: number) =>
    x.forEach((xi, i) => {
      const want = c * A * K * Math.exp(K * xi);
      expect(Math.abs(dx[i] - want)).toBeLessThanOrEqual((dtype === 'float64' ? 1e-12 : 2e-6) * Math.abs(want));
    });

  const expectNear = (got: { A: number; k: number }, want: ReturnType<typeof reference>) => {
    expect(Math.abs(got.A - want.A)).toBeLessThanOrEqual(TOLERANCE[dtype] * want.scaleA);
    expect(Math.abs(got.k - want.k)).toBeLessThanOrEqual(TOLERANCE[dtype] * want.scaleK);
  };

  test.each([
    ['y.mean()', meanSeed, 1 / N],
    ['y.sum() times 1/3', thirdSeed, 1 / 3],
  ])("once a sum's gradient came back, %s: the one pass's sums times its scale, in the dtype", (_, seed, c) => {
    gradsAfter(m, x, sumSeed); // the node has now been given the gradient of a sum
    const got = gradsAfter(m, x, seed);
    expectNear(
      got,
      reference(x, () => c),
    );
    const typed = dtype === 'float64' ? Float64Array.from(x) : Float32Array.from(x);
    const sums = m.valueAndGrad({ x: typed }, { batch: true }).grads as { A: number; k: number };
    expectScaledSum(got.A, sums.A, c);
    expectScaledSum(got.k, sums.k, c);
  });

  test('sums, means and per-element gradients in turn, each right (the kept values that pass stored read back)', () => {
    const seeds: [(y: Tensor) => void, (i: number) => number][] = [
      [sumSeed, () => 1],
      [sumSeed, () => 1],
      [weightedSeed, (i) => w[i]],
      [meanSeed, () => 1 / N],
      [thirdSeed, () => 1 / 3],
      [weightedSeed, (i) => w[i]],
      [weightedSeed, (i) => w[i]],
      [sumSeed, () => 1],
    ];
    // Each call on other inputs, so that no block the allocator hands back holds the values asked for.
    seeds.forEach(([seed, weight], k) => {
      const xk = inputs(N, 'signed', 100 + k);
      expectNear(gradsAfter(m, xk, seed), reference(xk, weight));
    });
  });

  test("with the input requiring a gradient too: the one pass's gradients times the scale", () => {
    const typed = dtype === 'float64' ? Float64Array.from(x) : Float32Array.from(x);
    const pass = m.valueAndGrad({ x: typed }, { batch: true, wrt: ['x'] }).grads as Record<string, number | Values>;
    [
      [sumSeed, 1],
      [sumSeed, 1],
      [thirdSeed, 1 / 3],
    ].forEach(([seed, c], call) => {
      const leaf = m.inputTensor('x', Array.from(x)).tensor;
      leaf.requiresGrad = true;
      const y = m.forward({ x: leaf }, { batch: true });
      (seed as (y: Tensor) => void)(y);
      const dx = leaf.grad!.toTypedArray();
      const scale = c as number;
      const params = m.namedParameters();
      const dA = params.A.grad!.item();
      expectNear(
        { A: dA, k: params.k.grad!.item() },
        reference(x, () => scale),
      );
      if (call === 0) {
        // before any sum's gradient came back: to the closed form
        expectInputGrads(dx, 1);
      } else {
        // once a sum's gradient came back: the pass's bits times the scale
        expect(Array.from(dx)).toEqual(Array.from(pass.x as Values, (g) => round(g * round(scale))));
        expectScaledSum(dA, pass.A as number, scale);
      }
      [params.A.grad!, params.k.grad!, leaf.grad!, y, leaf].forEach((t) => t.dispose());
      Object.values(params).forEach((p) => p.zeroGrad());
    });
  });

  test("grad() of the sum for the input alone: the pass's bits, and again on the same graph", () => {
    gradsAfter(m, x, sumSeed);
    const typed = dtype === 'float64' ? Float64Array.from(x) : Float32Array.from(x);
    const pass = m.valueAndGrad({ x: typed }, { batch: true, wrt: ['x'] }).grads.x as Values;
    const leaf = m.inputTensor('x', Array.from(x)).tensor;
    leaf.requiresGrad = true;
    const y = m.forward({ x: leaf }, { batch: true });
    // the params require a gradient too, but only x's is asked for; every element of the seed is 1/3
    const third = tensor(new Float64Array(N).fill(1 / 3), { dtype });
    const [first] = grad(y, [leaf], { gradOutputs: third });
    expect(Array.from(first.toTypedArray())).toEqual(Array.from(pass, (g) => round(g * round(1 / 3))));
    const [second] = grad(y, [leaf]); // the sums went with the first: the inputs are read again
    expectInputGrads(second.toTypedArray(), 1);
    [first, second, third, y, leaf].forEach((t) => t.dispose());
  });
});
