// The shape rules of the registry in words, for people and language models (`neuralc spec`). The
// elementwise rule is shared by most primitives and described once; every other primitive has its
// own line here, keyed by name (tests/spec.test.ts fails when one is missing or left over).
import { primitive, type Primitive } from './registry';
import { ELEMENTWISE } from './shape';

const ELEMENTWISE_WORDS =
  'elementwise: scalars broadcast against anything, other arguments must have equal shapes; the result has that shape';

export const SHAPE_WORDS: Readonly<Record<string, string>> = {
  vec: 'scalars -> vector[n], n the number of arguments',
  ref: '(ref vector[n] i) -> scalar; (ref matrix[r x c] i) -> vector[r] (column i); i a scalar in 0..n-1',
  dot: 'two vectors of equal length -> scalar',
  cross: 'two vector[3] -> vector[3]',
  norm: 'vector -> scalar',
  normalize: 'vector[n] -> vector[n]',
  vsum: 'vector -> scalar; matrix[r x c] -> vector[r] (over the last dimension)',
  vmean: 'vector -> scalar; matrix[r x c] -> vector[r] (over the last dimension)',
  vmax: 'vector -> scalar; matrix[r x c] -> vector[r] (over the last dimension)',
  vmin: 'vector -> scalar; matrix[r x c] -> vector[r] (over the last dimension)',
  scale: '(scale scalar v) -> the shape of v, a vector or matrix',
  vlen: 'vector or matrix -> scalar constant (the size of the last dimension)',
  zeros: '(zeros n) -> vector[n]; n a whole-number constant from 1 to 1,000,000',
  ones: '(ones n) -> vector[n]; n a whole-number constant from 1 to 1,000,000',
  mat: 'k vectors of one length n (the rows) -> matrix[k x n]',
  matmul: 'matrix[a x b], matrix[b x c] -> matrix[a x c]',
  matvec: 'matrix[a x b], vector[b] -> vector[a]',
  transpose: 'matrix[a x b] -> matrix[b x a]',
  trace: 'square matrix -> scalar',
  det: 'square matrix -> scalar',
  inv: 'square matrix[n x n] -> matrix[n x n]',
  solve: 'square matrix[n x n], b a vector[n] or matrix[n x k] -> the shape of b',
  outer: 'vector[a], vector[b] -> matrix[a x b]',
  eye: '(eye n) -> matrix[n x n]; n a whole-number constant from 1 to 1,000',
  diag: 'vector[n] -> matrix[n x n]; square matrix[n x n] -> vector[n] (its diagonal)',
  // grids: u an array of rank 1 to 3; axes from 0 to rank - 1, widths, shifts and bounds whole-number constants
  roll: '(roll u k axis) -> the shape of u',
  'pad-edge': '(pad-edge u n) -> u with every axis 2n longer; n >= 1',
  'pad-wrap': '(pad-wrap u n) -> u with every axis 2n longer; 1 <= n <= every axis',
  'pad-const': '(pad-const u n c) -> u with every axis 2n longer; n >= 1, c a scalar',
  laplacian: '(laplacian u h) -> u with every axis 2 shorter; every axis >= 3, h a scalar',
  diff: '(diff u axis [h]) -> u with that axis 1 shorter; axis size >= 2, h a scalar',
  'central-diff': '(central-diff u axis [h]) -> u with that axis 2 shorter; axis size >= 3, h a scalar',
  slice: '(slice u axis start end) -> u with that axis end - start long (negatives count from the end; not empty)',
  concat: '(concat axis u v ...) -> arrays of one rank, equal but along axis, joined along it',
  'sum-all': 'array -> scalar (over every axis)',
  'mean-all': 'array -> scalar (over every axis)',
  'max-all': 'array -> scalar (over every axis)',
  'min-all': 'array -> scalar (over every axis)',
  conv: "grid u of rank 1 to 3, kernel k of the same rank, no axis longer than u's -> axis sizes u - k + 1",
  'tridiagonal-solve':
    'lower [.., n-1], diag [.., n], upper [.., n-1], rhs [.., n]: leading axes equal or absent -> [leading.., n]',
};

/** The shape rule of a primitive in words. */
export function shapeWords(p: Primitive): string {
  if (p.shape === ELEMENTWISE) return ELEMENTWISE_WORDS;
  const words = SHAPE_WORDS[p.name];
  if (words === undefined)
    throw new Error(`internal: primitive '${p.name}' has no shape rule in words (src/ops/shape-words.ts)`);
  return words;
}

/** Names in SHAPE_WORDS that are not non-elementwise primitives (a test keeps this empty). */
export const staleShapeWords = (): string[] =>
  Object.keys(SHAPE_WORDS).filter(
    (name) => primitive(name)?.shape === undefined || primitive(name)!.shape === ELEMENTWISE,
  );
