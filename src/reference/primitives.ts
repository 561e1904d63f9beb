// One reference implementation per primitive of the op registry, on per-sample tensors of Values.
// Pointwise ops come from the registry's float64 semantics and derivative formulas; selections and
// the vector and matrix ops are written here with scalar operations, so their gradients follow from
// the scalar chain rule.

import { PRIMITIVES, formValue, pointwiseForm, type OpDef, type Pointwise } from '../ops';
import { evaluate } from '../ops/formula';
import { GRID_PRIMITIVES } from './grid';
import { Value, constant, div, extremum, libm, mean, mul, rounded, sub, sum } from './value';
import {
  Tensor,
  alongLast,
  det,
  dot,
  elementwise,
  identity,
  isMatrix,
  matmul,
  matrix,
  scalar,
  shapeOf,
  solveMatrix,
  squareMatrix,
  transpose,
  vector,
} from './tensor';
import { conv, tridiagonalSolve } from './solvers';

export type PrimitiveImpl = (args: Tensor[]) => Tensor;

/** Correctly rounded IEEE operations: never moved by the float64 nudge (value.ts, `libm`). */
const EXACT = new Set(['+', '-', '*', '/', 'neg']);

/**
 * One application of a pointwise op of the registry to scalar Values: its float64 value, and its
 * local derivatives from the registry's formulas (evaluated with g = 1; the chain rule multiplies).
 */
function applyForm(def: OpDef, form: Pointwise, xs: Value[]): Value {
  const args = xs.map((v) => v.data);
  const raw = formValue(form, args);
  const out = rounded(EXACT.has(def.name) ? raw : libm(raw)); // the derivative sees the result as stored
  if (def.gradient === 'none') return constant(out);
  // Rounding and sign keep the edge and pass zeros back (zeros_like: a NaN upstream stops there).
  if (def.gradient === 'zero')
    return new Value(
      out,
      xs,
      xs.map(() => 0),
      true,
    );
  const locals = form.derivative!.map((d) => evaluate(d, { args, out, g: 1, attrs: [] }));
  return new Value(out, xs, locals, form.masks);
}

/** A registry pointwise op on tensors: elementwise, n-ary ones folded left from their one-argument form. */
const pointwise =
  (def: OpDef): PrimitiveImpl =>
  (args) => {
    const unary = args.length === 1 ? pointwiseForm(def, 1) : undefined;
    if (unary) return elementwise(args, (xs) => applyForm(def, unary, xs));
    const form = def.pointwise!;
    if (def.maxArgs !== Infinity) return elementwise(args, (xs) => applyForm(def, form, xs));
    return args.slice(1).reduce((acc, b) => elementwise([acc, b], (xs) => applyForm(def, form, xs)), args[0]);
  };

/** Reduces the last dimension: vector -> scalar, matrix -> vector of per-row results, and so on. */
const reduceLast =
  (f: (xs: Value[]) => Value): PrimitiveImpl =>
  ([a]) => {
    if (a instanceof Value) throw new Error('argument 1 must be an array, got scalar');
    return alongLast(a, f);
  };

/** A size argument (zeros, ones, eye): a whole number >= 1. */
function size(t: Tensor): number {
  const n = scalar(t, 'the size').data;
  if (!Number.isInteger(n) || n < 1) throw new Error(`a size must be a whole number >= 1, got ${n}`);
  return n;
}

const norm = (v: Value[]): Value => {
  const n = Math.sqrt(v.reduce((s, x) => s + x.data * x.data, 0));
  // d norm / d v_i = v_i / norm; at the zero vector the gradient is taken as 0 (libtorch's choice)
  return new Value(
    n,
    v,
    v.map((x) => (n === 0 ? 0 : x.data / n)),
    n === 0,
  );
};

const SAFE = 1e-8;

/** The ops with their own implementation here: selections and the vector and matrix ops. */
const STRUCTURED: Record<string, PrimitiveImpl> = {
  min: (args) => elementwise(args, (xs) => extremum(xs, 'min')),
  max: (args) => elementwise(args, (xs) => extremum(xs, 'max')),
  // clamp x lo hi = min(max(x, lo), hi), ties shared like min and max
  clamp: (args) => elementwise(args, ([x, lo, hi]) => extremum([extremum([x, lo], 'max'), hi], 'min')),

  // vector
  vec: (args) => args.map((a, i) => scalar(a, `argument ${i + 1}`)),
  ref: ([v, index]) => {
    if (v instanceof Value) throw new Error('argument 1 must be an array, got scalar');
    const i = scalar(index, 'the index').data;
    const n = shapeOf(v)[shapeOf(v).length - 1];
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`index ${i} is out of range (0 to ${n - 1})`);
    return alongLast(v, (xs) => xs[i]);
  },
  dot: ([a, b]) => {
    const [x, y] = [vector(a, 'argument 1'), vector(b, 'argument 2')];
    if (x.length !== y.length) throw new Error(`vectors of different lengths ${x.length} and ${y.length}`);
    return dot(x, y);
  },
  cross: ([a, b]) => {
    const [x, y] = [vector(a, 'argument 1'), vector(b, 'argument 2')];
    if (x.length !== 3 || y.length !== 3) throw new Error('cross takes two 3-vectors');
    const c = (i: number, j: number) => sub(mul(x[i], y[j]), mul(x[j], y[i]));
    return [c(1, 2), c(2, 0), c(0, 1)];
  },
  norm: ([a]) => norm(vector(a, 'argument 1')),
  normalize: ([a]) => {
    const v = vector(a, 'argument 1');
    const d = extremum([norm(v), constant(SAFE)], 'max');
    return v.map((x) => div(x, d));
  },
  vsum: reduceLast(sum),
  vmean: reduceLast(mean),
  vmax: reduceLast((xs) => extremum(xs, 'max')),
  vmin: reduceLast((xs) => extremum(xs, 'min')),
  scale: ([s, v]) => {
    // a one-element vector is a scalar here: a batch of [B, 1] scales, as the Python reference takes
    const k = scalar(Array.isArray(s) && s.length === 1 && s[0] instanceof Value ? s[0] : s, 'argument 1');
    if (v instanceof Value) throw new Error('argument 2 must be an array, got scalar');
    return elementwise([k, v], ([x, y]) => mul(x, y));
  },
  vlen: ([v]) => {
    if (v instanceof Value) throw new Error('argument 1 must be an array, got scalar');
    return constant(shapeOf(v)[shapeOf(v).length - 1]);
  },
  zeros: ([n]) => Array.from({ length: size(n) }, () => constant(0)),
  ones: ([n]) => Array.from({ length: size(n) }, () => constant(1)),

  // matrix
  mat: (rows) => {
    const rs = rows.map((r, i) => vector(r, `row ${i + 1}`));
    if (rs.some((r) => r.length !== rs[0].length)) throw new Error('rows must be vectors of one length');
    return rs.map((r) => r.slice());
  },
  matmul: ([a, b]) => {
    const [x, y] = [matrix(a, 'argument 1'), matrix(b, 'argument 2')];
    if (x[0].length !== y.length) throw new Error('inner sizes differ');
    return matmul(x, y);
  },
  matvec: ([a, b]) => {
    const [m, v] = [matrix(a, 'argument 1'), vector(b, 'argument 2')];
    if (m[0].length !== v.length) throw new Error('sizes differ');
    return m.map((r) => dot(r, v));
  },
  transpose: ([a]) => transpose(matrix(a, 'argument 1')),
  trace: ([a]) => sum(squareMatrix(a, 'argument 1').map((r, i) => r[i])),
  det: ([a]) => det(squareMatrix(a, 'argument 1')),
  inv: ([a]) => {
    const m = squareMatrix(a, 'argument 1');
    return solveMatrix(m, identity(m.length));
  },
  solve: ([a, b]) => {
    const m = squareMatrix(a, 'argument 1');
    if (b instanceof Value) throw new Error('argument 2 must be a vector or matrix, got scalar');
    if (isMatrix(b)) return solveMatrix(m, b);
    return solveMatrix(
      m,
      (b as Value[]).map((x) => [x]),
    ).map((r) => r[0]);
  },
  outer: ([a, b]) => {
    const [x, y] = [vector(a, 'argument 1'), vector(b, 'argument 2')];
    return x.map((xi) => y.map((yj) => mul(xi, yj)));
  },
  eye: ([n]) => identity(size(n)),
  diag: ([a]) => {
    if (isMatrix(a)) return squareMatrix(a, 'argument 1').map((r, i) => r[i]);
    const v = vector(a, 'argument 1');
    return v.map((x, i) => v.map((_, j) => (i === j ? x : constant(0))));
  },

  ...GRID_PRIMITIVES,
  // grid
  conv: ([u, k]) => conv(u, k),
  'tridiagonal-solve': tridiagonalSolve,
};

/** Every primitive: the registry's pointwise ops from their semantics and derivatives, the rest from STRUCTURED. */
export const REFERENCE_PRIMITIVES: Record<string, PrimitiveImpl> = Object.fromEntries(
  PRIMITIVES.map((def) => {
    const impl = STRUCTURED[def.name] ?? (def.pointwise && pointwise(def));
    if (!impl)
      throw new Error(
        `the reference has no implementation of '${def.name}': add one to STRUCTURED in src/reference/primitives.ts`,
      );
    return [def.name, impl];
  }),
);
