// Shape rules of conv and tridiagonal-solve (the grid group's linear operators).
import { sameShape, showShape, type ShapeRule } from './shape';

/** (conv u k): k of u's rank, no axis longer than u's; each axis shrinks by the kernel size - 1. */
export const convolution: ShapeRule = ([u, k]) => {
  if (u.length === 0) return 'argument 1 (the grid) must be a vector, matrix or array, got scalar';
  if (k.length !== u.length)
    return `argument 2 (the kernel) must have the rank of the grid ${showShape(u)}, got ${showShape(k)}`;
  const axis = k.findIndex((d, i) => d > u[i]);
  if (axis >= 0) return `the kernel ${showShape(k)} is larger than the grid ${showShape(u)} along axis ${axis}`;
  return u.map((d, i) => d - k[i] + 1);
};

const TRIDIAGONAL_ARGS = ['lower', 'diag', 'upper', 'rhs'];

/**
 * (tridiagonal-solve lower diag upper rhs) along the last axis: rhs and diag have n elements there,
 * lower and upper n - 1. The leading axes (all but the last) of each argument are either absent or
 * those of the argument with the most: a vector coefficient serves every row of a matrix rhs, and a
 * matrix of coefficients every row against one vector rhs. The result has the leading axes and n.
 */
export const tridiagonal: ShapeRule = (args) => {
  const scalar = args.findIndex((s) => s.length === 0);
  if (scalar >= 0)
    return `argument ${scalar + 1} (${TRIDIAGONAL_ARGS[scalar]}) must be a vector, matrix or array, got scalar`;
  const n = args[3][args[3].length - 1];
  const lengths = [n - 1, n, n - 1, n];
  const wrong = args.findIndex((s, i) => s[s.length - 1] !== lengths[i]);
  if (wrong >= 0)
    return `argument ${wrong + 1} (${TRIDIAGONAL_ARGS[wrong]}) must have ${lengths[wrong]} elements along its last axis for a right-hand side of ${n}, got ${showShape(args[wrong])}`;
  const leading = args.map((s) => s.slice(0, -1));
  const widest = leading.reduce((w, l, i) => (l.length > leading[w].length ? i : w), 0);
  const mismatch = leading.findIndex((l) => l.length > 0 && !sameShape(l, leading[widest]));
  if (mismatch >= 0)
    return `the leading axes of argument ${mismatch + 1} (${TRIDIAGONAL_ARGS[mismatch]}, ${showShape(args[mismatch])}) differ from those of argument ${widest + 1} (${TRIDIAGONAL_ARGS[widest]}, ${showShape(args[widest])}); make them equal, or pass a vector to serve every row`;
  return [...leading[widest], n];
};
