// Reference conv and tridiagonal-solve: float64 loops over scalar Values (direct sums; the Thomas
// algorithm), written without the native code in mind, so gradients come from the scalar chain rule.
// Values nest to any depth (rank-3 grids too).

import { Value, div, mul, sub, sum } from './value';
import type { Tensor } from './tensor';

type Nest = Value | readonly Nest[];

const dims = (t: Nest): number[] => (t instanceof Value ? [] : [t.length, ...dims(t[0])]);
const at = (t: Nest, index: readonly number[]): Value => index.reduce<Nest>((s, i) => (s as Nest[])[i], t) as Value;
/** The nested array of `shape` whose element at each index is f(index). */
const build = (shape: readonly number[], f: (index: number[]) => Value, prefix: number[] = []): Nest =>
  prefix.length === shape.length
    ? f(prefix)
    : Array.from({ length: shape[prefix.length] }, (_, i) => build(shape, f, [...prefix, i]));
/** Every index of a shape, in row-major order. */
const indices = (shape: readonly number[]): number[][] =>
  shape.reduce<number[][]>((acc, n) => acc.flatMap((p) => Array.from({ length: n }, (_, i) => [...p, i])), [[]]);

/** Valid cross-correlation: out[i] = sum over j of u[i + j] k[j]. */
export function conv(u: Tensor, k: Tensor): Tensor {
  const [us, ks] = [dims(u), dims(k)];
  if (us.length === 0 || ks.length !== us.length || ks.some((d, i) => d > us[i]))
    throw new Error(`conv: a kernel of shape [${ks}] does not fit a grid of shape [${us}]`);
  const taps = indices(ks);
  const out = us.map((d, i) => d - ks[i] + 1);
  return build(out, (i) =>
    sum(
      taps.map((j) =>
        mul(
          at(
            u,
            i.map((x, a) => x + j[a]),
          ),
          at(k, j),
        ),
      ),
    ),
  ) as Tensor;
}

/** One system by the Thomas algorithm: a, c of n - 1 (below and above the diagonal), b and d of n. */
function thomas(a: Value[], b: Value[], c: Value[], d: Value[]): Value[] {
  const n = b.length;
  const cp: Value[] = [];
  const dp: Value[] = [];
  for (let i = 0; i < n; i++) {
    const pivot = i === 0 ? b[0] : sub(b[i], mul(a[i - 1], cp[i - 1]));
    if (i + 1 < n) cp.push(div(c[i], pivot));
    dp.push(div(i === 0 ? d[0] : sub(d[i], mul(a[i - 1], dp[i - 1])), pivot));
  }
  const x = dp.slice();
  for (let i = n - 2; i >= 0; i--) x[i] = sub(dp[i], mul(cp[i], x[i + 1]));
  return x;
}

/**
 * x with A x = rhs along the last axis, A[i][i] = diag[i], A[i+1][i] = lower[i], A[i][i+1] = upper[i];
 * an argument without leading axes serves every row. A zero pivot gives non-finite values.
 */
export function tridiagonalSolve(args: Tensor[]): Tensor {
  const shapes = args.map(dims);
  const leading = shapes.reduce((w, s) => (s.length > w.length ? s : w)).slice(0, -1);
  const n = shapes[3][shapes[3].length - 1];
  const row = (t: Tensor, s: number[], index: number[]): Value[] =>
    Array.from({ length: s[s.length - 1] }, (_, i) => at(t, s.length > 1 ? [...index, i] : [i]));
  const solutions = new Map(
    indices(leading).map((index) => {
      const [a, b, c, d] = args.map((t, k) => row(t, shapes[k], index));
      return [index.join(), thomas(a, b, c, d)];
    }),
  );
  return build(
    [...leading, n],
    (index) => solutions.get(index.slice(0, -1).join())![index[index.length - 1]],
  ) as Tensor;
}
