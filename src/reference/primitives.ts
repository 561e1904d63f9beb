// One reference implementation per primitive of src/primitives.ts, on per-sample tensors of Values.
// Differentiable scalar functions give their value and local derivative; the ones documented as
// having no gradient return constants.

import { Value, add, constant, div, extremum, libm, mul, neg, rounded, sub, sum } from './value';
import {
  Tensor,
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

export type PrimitiveImpl = (args: Tensor[]) => Tensor;

// ---- float64 scalar helpers ----

/** erf to about 1e-16 absolute: a series with positive terms below 2.5, a continued fraction for erfc above. */
export function erf(x: number): number {
  if (Number.isNaN(x) || x === 0) return x; // erf keeps the sign of zero, as IEEE libm does
  const a = Math.abs(x);
  const s = x < 0 ? -1 : 1;
  if (a >= 6) return s; // erfc(6) < 3e-17
  if (a < 2.5) {
    // erf x = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
    let term = a;
    let total = a;
    for (let n = 1; term > total * 1e-17; n++) {
      term *= (2 * a * a) / (2 * n + 1);
      total += term;
    }
    return (s * 2 * Math.exp(-a * a) * total) / Math.sqrt(Math.PI);
  }
  // erfc x = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up
  let f = a;
  for (let n = 120; n >= 1; n--) f = a + n / 2 / f;
  return s * (1 - Math.exp(-a * a) / (Math.sqrt(Math.PI) * f));
}

/** C/IEEE pow: JavaScript's Math.pow differs for pow(1, NaN) and pow(-1, +-inf), which are 1. */
export function ieeePow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

/** Round half to even. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x);
  const d = x - f;
  const r = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  // IEEE rounding keeps the sign: values in (-0.5, 0] round to -0.
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
}

/** R7RS floor-remainder, computed exactly (fmod, then shifted to the divisor's sign). */
export function floorRemainder(x: number, y: number): number {
  const r = x % y;
  return r !== 0 && r < 0 !== y < 0 ? r + y : r;
}

/**
 * floor(x / y) as libtorch computes it for the gradient of modulo (c10's div_floor_floating): through
 * fmod, so an infinite x gives NaN and floor(-3 / inf) is -1, where Math.floor(x / y) gives -inf and -0.
 */
export function floorDivide(x: number, y: number): number {
  if (y === 0) return x / y;
  const mod = x % y;
  let div = (x - mod) / y;
  if (mod !== 0 && y < 0 !== mod < 0) div -= 1;
  if (div === 0) return Math.sign(x / y) < 0 || Object.is(x / y, -0) ? -0 : 0;
  const floor = Math.floor(div);
  return div - floor > 0.5 ? floor + 1 : floor;
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

// ---- builders ----

/** A differentiable elementwise function of one argument: f and f' (given x and f(x)). */
const unary =
  (f: (x: number) => number, df: (x: number, y: number) => number, masks = false): PrimitiveImpl =>
  ([a]) =>
    elementwise([a], ([x]) => {
      const y = rounded(libm(f(x.data))); // df sees y as stored, as a float32 backward would
      return new Value(y, [x], [df(x.data, y)], masks);
    });

/**
 * An elementwise function whose gradient is zero (the rounding functions, sign, quotient). Not a
 * constant: libtorch keeps the edge and passes zeros back (zeros_like, so a NaN upstream stops
 * there), and the nodes below then multiply those zeros with their own derivatives (0 * inf is NaN).
 */
const stepwise =
  (f: (...xs: number[]) => number): PrimitiveImpl =>
  (args) =>
    elementwise(
      args,
      (xs) =>
        new Value(
          f(...xs.map((x) => x.data)),
          xs,
          xs.map(() => 0),
          true,
        ),
    );

/** An elementwise function with no gradient at all (comparisons, logic): its result is a constant. */
const flat =
  (f: (...xs: number[]) => number): PrimitiveImpl =>
  (args) =>
    elementwise(args, (xs) => constant(f(...xs.map((x) => x.data))));

/** Left fold of a binary elementwise operation over the arguments. */
const fold =
  (op: (a: Value, b: Value) => Value): PrimitiveImpl =>
  (args) =>
    args.slice(1).reduce((acc, b) => elementwise([acc, b], ([x, y]) => op(x, y)), args[0]);

const binary =
  (
    f: (x: number, y: number) => number,
    dx: (x: number, y: number) => number,
    dy: (x: number, y: number) => number,
    masks = false,
  ): PrimitiveImpl =>
  (args) =>
    elementwise(
      args,
      ([a, b]) => new Value(libm(f(a.data, b.data)), [a, b], [dx(a.data, b.data), dy(a.data, b.data)], masks),
    );

/** Reduces the last dimension: vector -> scalar, matrix -> vector of per-row results. */
const reduceLast =
  (f: (xs: Value[]) => Value): PrimitiveImpl =>
  ([a]) => {
    if (a instanceof Value) throw new Error('argument 1 must be a vector or matrix, got scalar');
    return isMatrix(a) ? a.map(f) : f(a as Value[]);
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

export const REFERENCE_PRIMITIVES: Record<string, PrimitiveImpl> = {
  // arithmetic
  '+': fold(add),
  '-': (args) => (args.length === 1 ? elementwise(args, ([x]) => neg(x)) : fold(sub)(args)),
  '*': fold(mul),
  '/': (args) => (args.length === 1 ? elementwise(args, ([x]) => div(constant(1), x)) : fold(div)(args)),
  neg: ([a]) => elementwise([a], ([x]) => neg(x)),
  abs: unary(Math.abs, (x) => Math.sign(x)),
  sign: stepwise((x) => (Number.isNaN(x) ? 0 : Math.sign(x))), // libtorch: sign(NaN) is 0
  square: unary(
    (x) => x * x,
    (x) => 2 * x,
  ),
  pow: binary(
    ieeePow,
    (x, y) => (y === 0 ? 0 : y * ieeePow(x, y - 1)),
    (x, y) => (x === 0 && y >= 0 ? 0 : ieeePow(x, y) * Math.log(x)),
    true, // libtorch selects those zeros (where), so they mask
  ),
  min: (args) => elementwise(args, (xs) => extremum(xs, 'min')),
  max: (args) => elementwise(args, (xs) => extremum(xs, 'max')),
  // clamp x lo hi = min(max(x, lo), hi), ties shared like min and max
  clamp: (args) => elementwise(args, ([x, lo, hi]) => extremum([extremum([x, lo], 'max'), hi], 'min')),
  floor: stepwise(Math.floor),
  ceil: stepwise(Math.ceil),
  round: stepwise(roundHalfEven),
  truncate: stepwise(Math.trunc),
  quotient: stepwise((x, y) => Math.trunc(x / y)),
  modulo: binary(
    floorRemainder,
    () => 1,
    (x, y) => -floorDivide(x, y),
  ),
  remainder: binary(
    (x, y) => x % y,
    () => 1,
    (x, y) => -Math.trunc(x / y),
  ),

  // transcendental
  sqrt: unary(Math.sqrt, (_x, y) => 0.5 / y),
  'safe-sqrt': unary(
    (x) => Math.sqrt(Math.max(x, SAFE)),
    (x, y) => (x >= SAFE ? 0.5 / y : 0),
    true,
  ),
  exp: unary(Math.exp, (_x, y) => y),
  log: unary(Math.log, (x) => 1 / x),
  'safe-log': unary(
    (x) => Math.log(Math.max(x, SAFE)),
    (x) => (x >= SAFE ? 1 / x : 0),
    true,
  ),
  log1p: unary(Math.log1p, (x) => 1 / (1 + x)),
  expm1: unary(Math.expm1, (x) => Math.exp(x)),
  sin: unary(Math.sin, Math.cos),
  cos: unary(Math.cos, (x) => -Math.sin(x)),
  tan: unary(Math.tan, (x) => 1 / (Math.cos(x) * Math.cos(x))),
  asin: unary(Math.asin, (x) => 1 / Math.sqrt(1 - x * x)),
  acos: unary(Math.acos, (x) => -1 / Math.sqrt(1 - x * x)),
  atan: unary(Math.atan, (x) => 1 / (1 + x * x)),
  // At the origin libtorch gives the gradient 0 (not 0/0).
  atan2: binary(
    Math.atan2,
    (y, x) => (x === 0 && y === 0 ? 0 : x / (x * x + y * y)),
    (y, x) => (x === 0 && y === 0 ? 0 : -y / (x * x + y * y)),
    true,
  ),
  sinh: unary(Math.sinh, Math.cosh),
  cosh: unary(Math.cosh, Math.sinh),
  tanh: unary(Math.tanh, (_x, y) => 1 - y * y),
  sigmoid: unary(sigmoid, (_x, y) => y * (1 - y)),
  softplus: unary((x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), sigmoid),
  relu: unary(
    (x) => (x < 0 ? 0 : x),
    (x) => (x > 0 ? 1 : 0),
    true,
  ), // as libtorch: relu(-0) is -0, NaN stays
  erf: unary(erf, (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x)),

  // comparison and logic: 1 or 0, no gradient
  '=': flat((x, y) => (x === y ? 1 : 0)),
  '<': flat((x, y) => (x < y ? 1 : 0)),
  '>': flat((x, y) => (x > y ? 1 : 0)),
  '<=': flat((x, y) => (x <= y ? 1 : 0)),
  '>=': flat((x, y) => (x >= y ? 1 : 0)),
  and: flat((...xs) => (xs.every((x) => x !== 0) ? 1 : 0)),
  or: flat((...xs) => (xs.some((x) => x !== 0) ? 1 : 0)),
  not: flat((x) => (x === 0 ? 1 : 0)),

  // vector
  vec: (args) => args.map((a, i) => scalar(a, `argument ${i + 1}`)),
  ref: ([v, index]) => {
    if (v instanceof Value) throw new Error('argument 1 must be a vector or matrix, got scalar');
    const i = scalar(index, 'the index').data;
    const n = shapeOf(v)[shapeOf(v).length - 1];
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`index ${i} is out of range (0 to ${n - 1})`);
    return isMatrix(v) ? v.map((r) => r[i]) : (v as Value[])[i];
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
  vmean: reduceLast(
    (xs) =>
      new Value(
        xs.reduce((s, x) => s + x.data, 0) / xs.length,
        xs,
        xs.map(() => 1 / xs.length),
      ),
  ),
  vmax: reduceLast((xs) => extremum(xs, 'max')),
  vmin: reduceLast((xs) => extremum(xs, 'min')),
  scale: ([s, v]) => {
    const k = scalar(s, 'argument 1');
    if (v instanceof Value) throw new Error('argument 2 must be a vector or matrix, got scalar');
    return elementwise([k, v], ([x, y]) => mul(x, y));
  },
  vlen: ([v]) => {
    if (v instanceof Value) throw new Error('argument 1 must be a vector or matrix, got scalar');
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
};
