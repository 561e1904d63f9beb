// Vectors and matrices of scalar `Value`s, and the linear algebra the primitives need, written
// with scalar operations only so that their gradients come from the scalar chain rule.

import { Value, constant, div, mul, neg, sub, sum } from './value';

/** One sample's value: a scalar, a vector, or a matrix (array of rows). */
export type Tensor = Value | Value[] | Value[][];

export type Nested = number | Nested[];

export const isMatrix = (t: Tensor): t is Value[][] => Array.isArray(t) && t.length > 0 && Array.isArray(t[0]);

export function shapeOf(t: Tensor): number[] {
  if (t instanceof Value) return [];
  return isMatrix(t) ? [t.length, t[0].length] : [t.length];
}

const showShape = (s: number[]) =>
  s.length === 0 ? 'scalar' : s.length === 1 ? `vector[${s[0]}]` : `matrix[${s[0]}x${s[1]}]`;

export function scalar(t: Tensor, what: string): Value {
  if (t instanceof Value) return t;
  throw new Error(`${what} must be a scalar, got ${showShape(shapeOf(t))}`);
}

export function vector(t: Tensor, what: string): Value[] {
  if (Array.isArray(t) && !isMatrix(t)) return t as Value[];
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
  const at = (a: Tensor, i: number, j: number): Value =>
    a instanceof Value ? a : isMatrix(a) ? a[i][j] : (a as Value[])[i];
  if (shape.length === 0) return f(args as Value[]);
  if (shape.length === 1) return Array.from({ length: shape[0] }, (_, i) => f(args.map((a) => at(a, i, 0))));
  return Array.from({ length: shape[0] }, (_, i) =>
    Array.from({ length: shape[1] }, (_, j) => f(args.map((a) => at(a, i, j)))),
  );
}

/** Turns a plain number / array / array of rows into a tensor of fresh leaves. */
export function fromNested(x: Nested, name: string): Tensor {
  const bad = () =>
    new Error(`value of '${name}' must be a number, an array of numbers or an array of equal-length rows`);
  if (typeof x === 'number') return new Value(x);
  if (x.every((e) => typeof e === 'number')) return (x as number[]).map((e) => new Value(e));
  if (x.length === 0 || !x.every((r) => Array.isArray(r) && r.every((e) => typeof e === 'number'))) throw bad();
  const rows = x as number[][];
  if (rows.some((r) => r.length !== rows[0].length)) throw bad();
  return rows.map((r) => r.map((e) => new Value(e)));
}

/** Maps a tensor's elements to numbers (its data or its grad), keeping the shape. */
export function toNested(t: Tensor, f: (v: Value) => number): Nested {
  if (t instanceof Value) return f(t);
  return isMatrix(t) ? t.map((r) => r.map(f)) : (t as Value[]).map(f);
}

export const elements = (t: Tensor): Value[] => (t instanceof Value ? [t] : isMatrix(t) ? t.flat() : (t as Value[]));

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
