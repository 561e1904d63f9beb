// Arrays of scalar `Value`s (vectors, matrices, rank-3 grids), and the linear algebra the
// primitives need, written with scalar operations only so that their gradients come from the scalar
// chain rule.

import { MAX_RANK, showShape } from '../ops/shape';
import { Value, constant, div, mul, neg, sub, sum } from './value';

/** One sample's value: a scalar, or a nested array of equal-length rows to any depth (rank). */
export type Tensor = Value | Tensor[];

export type Nested = number | Nested[];

export const isMatrix = (t: Tensor): t is Value[][] => shapeOf(t).length === 2;

export function shapeOf(t: Tensor): number[] {
  const shape: number[] = [];
  for (let level = t; Array.isArray(level) && shape.push(level.length) && level.length > 0; level = level[0]);
  return shape;
}

/** f applied to every run of elements along the last axis: that axis reduced (or mapped to anything). */
export const alongLast = (t: Tensor, f: (xs: Value[]) => Tensor): Tensor =>
  shapeOf(t).length === 1 ? f(t as Value[]) : (t as Tensor[]).map((e) => alongLast(e, f));

export function scalar(t: Tensor, what: string): Value {
  if (t instanceof Value) return t;
  throw new Error(`${what} must be a scalar, got ${showShape(shapeOf(t))}`);
}

export function vector(t: Tensor, what: string): Value[] {
  if (shapeOf(t).length === 1) return t as Value[];
  throw new Error(`${what} must be a vector, got ${showShape(shapeOf(t))}`);
}

export function matrix(t: Tensor, what: string): Value[][] {
  if (isMatrix(t)) return t;
  throw new Error(`${what} must be a matrix, got ${showShape(shapeOf(t))}`);
}

export function squareMatrix(t: Tensor, what: string): Value[][] {
  const m = matrix(t, what);
  if (m.length !== m[0].length) throw new Error(`${what} must be a square matrix, got ${showShape(shapeOf(t))}`);
  return m;
}

/** The array of `shape` whose element at each multi-index is `f(index)`. */
export function build(shape: readonly number[], f: (index: number[]) => Value, prefix: number[] = []): Tensor {
  if (prefix.length === shape.length) return f(prefix);
  return Array.from({ length: shape[prefix.length] }, (_, i) => build(shape, f, [...prefix, i]));
}

/** The element of t at a multi-index (a scalar is every element of a broadcast). */
export const elementAt = (t: Tensor, index: readonly number[]): Value =>
  index.reduce<Tensor>((level, i) => (level instanceof Value ? level : level[i]), t) as Value;

/** Applies `f` element by element; scalars broadcast, other shapes must agree. */
export function elementwise(args: Tensor[], f: (xs: Value[]) => Value): Tensor {
  let shape: number[] = [];
  for (const a of args) {
    const s = shapeOf(a);
    if (s.length === 0) continue;
    if (shape.length === 0) shape = s;
    else if (s.length !== shape.length || s.some((d, i) => d !== shape[i]))
      throw new Error(`shapes ${showShape(shape)} and ${showShape(s)} do not match`);
  }
  return build(shape, (index) => f(args.map((a) => elementAt(a, index))));
}

/** Turns a number or a nested rectangular array (rank up to 3) into a tensor of fresh leaves. */
export function fromNested(x: Nested, name: string): Tensor {
  const shape: number[] = [];
  for (let level = x; Array.isArray(level) && shape.push(level.length) && level.length > 0; level = level[0]);
  const bad = () =>
    new Error(`value of '${name}' must be a number or a rectangular array of numbers of rank ≤ ${MAX_RANK}`);
  if (shape.length > MAX_RANK) throw bad();
  const leaf = (v: Nested, depth: number): Tensor => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw bad();
      return new Value(v);
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw bad();
    return v.map((e) => leaf(e, depth + 1));
  };
  return leaf(x, 0);
}

/** Maps a tensor's elements to numbers (its data or its grad), keeping the shape. */
export function toNested(t: Tensor, f: (v: Value) => number): Nested {
  return t instanceof Value ? f(t) : t.map((e) => toNested(e, f));
}

export const elements = (t: Tensor): Value[] => (t instanceof Value ? [t] : t.flatMap(elements));

// ---- linear algebra on Values ----

export const dot = (a: Value[], b: Value[]): Value => sum(a.map((x, i) => mul(x, b[i])));

export const transpose = (a: Value[][]): Value[][] => a[0].map((_, j) => a.map((r) => r[j]));

export const matmul = (a: Value[][], b: Value[][]): Value[][] => {
  const bt = transpose(b);
  return a.map((r) => bt.map((c) => dot(r, c)));
};

export const identity = (n: number): Value[][] =>
  Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => constant(i === j ? 1 : 0)));

/** Index of the row from k down with the largest |a[i][k]| (partial pivoting). */
function pivotRow(a: Value[][], k: number): number {
  let p = k;
  for (let i = k + 1; i < a.length; i++) if (Math.abs(a[i][k].data) > Math.abs(a[p][k].data)) p = i;
  return p;
}

/** Eliminates below a[k][k] in columns k+1.. (row ops on Values). */
function eliminate(a: Value[][], k: number): void {
  for (let i = k + 1; i < a.length; i++) {
    const f = div(a[i][k], a[k][k]);
    for (let j = k + 1; j < a[i].length; j++) a[i][j] = sub(a[i][j], mul(f, a[k][j]));
  }
}

/**
 * Determinant by Gaussian elimination with partial pivoting: the signed product of the pivots.
 * A zero pivot means the rest of its column is zero too: the determinant is 0 and that step is
 * skipped (the gradient there is then not the full adjugate: exactly singular input only).
 */
export function det(m: Value[][]): Value {
  const a = m.map((r) => r.slice());
  let negative = false;
  for (let k = 0; k < a.length; k++) {
    const p = pivotRow(a, k);
    if (p !== k) {
      [a[p], a[k]] = [a[k], a[p]];
      negative = !negative;
    }
    if (a[k][k].data !== 0) eliminate(a, k);
  }
  const product = a.map((r, k) => r[k]).reduce((acc, x) => mul(acc, x));
  return negative ? neg(product) : product;
}

/** X with A X = B (B has one column per right-hand side); a singular A gives non-finite entries. */
export function solveMatrix(m: Value[][], b: Value[][]): Value[][] {
  const n = m.length;
  if (b.length !== n) throw new Error(`right-hand side has ${b.length} rows, the matrix ${n}`);
  const a = m.map((r, i) => [...r, ...b[i]]);
  for (let k = 0; k < n; k++) {
    const p = pivotRow(a, k);
    [a[p], a[k]] = [a[k], a[p]];
    eliminate(a, k);
  }
  const cols = b[0].length;
  const x: Value[][] = Array.from({ length: n }, () => []);
  for (let i = n - 1; i >= 0; i--) {
    for (let c = 0; c < cols; c++) {
      const known = sum(a[i].slice(i + 1, n).map((aij, d) => mul(aij, x[i + 1 + d][c])));
      x[i][c] = div(sub(a[i][n + c], known), a[i][i]);
    }
  }
  return x;
}
