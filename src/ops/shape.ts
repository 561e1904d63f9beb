// Per-sample shapes and the shape rules of the op registry. [] is a scalar, [n] a vector, [r, c] a
// matrix, [a, b, c] a rank-3 array; a leading batch dimension, when present, is the runtime's
// business and never appears here.

export type Shape = readonly number[];

/** A shape rule returns the result shape, or a message saying what is wrong with the arguments. */
export type ShapeRule = (args: Shape[], consts: (number | undefined)[]) => Shape | string;

/** The highest per-sample rank a value may have. */
export const MAX_RANK = 3;

export const showShape = (s: Shape): string =>
  s.length === 0
    ? 'scalar'
    : s.length === 1
      ? `vector[${s[0]}]`
      : `${s.length === 2 ? 'matrix' : 'array'}[${s.join('x')}]`;

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Elementwise: scalars broadcast against anything; otherwise shapes must agree. */
export const ELEMENTWISE: ShapeRule = (args) => {
  let out: Shape = [];
  for (const s of args) {
    if (s.length === 0) continue;
    if (out.length === 0) out = s;
    else if (!sameShape(out, s)) return `shapes ${showShape(out)} and ${showShape(s)} do not match`;
  }
  return out;
};

export const scalarArgs =
  (rule: ShapeRule): ShapeRule =>
  (args, consts) => {
    const i = args.findIndex((s) => s.length !== 0);
    return i >= 0 ? `argument ${i + 1} must be a scalar, got ${showShape(args[i])}` : rule(args, consts);
  };

export const vectorArg = (i: number, args: Shape[]): string | undefined =>
  args[i].length === 1 ? undefined : `argument ${i + 1} must be a vector, got ${showShape(args[i])}`;

export const matrixArg = (i: number, args: Shape[]): string | undefined =>
  args[i].length === 2 ? undefined : `argument ${i + 1} must be a matrix, got ${showShape(args[i])}`;

export const squareMatrix = (args: Shape[]): string | undefined =>
  matrixArg(0, args) ??
  (args[0][0] === args[0][1] ? undefined : `argument 1 must be a square matrix, got ${showShape(args[0])}`);

/** Argument i must be an array (not a scalar). */
export const arrayArg = (i: number, args: Shape[]): string | undefined =>
  args[i].length >= 1 ? undefined : `argument ${i + 1} must be an array of rank 1 to ${MAX_RANK}, got scalar`;

/** Reduces the last dimension: vector -> scalar, matrix -> vector of its rows' results, and so on. */
export const reduceLast: ShapeRule = (args) => arrayArg(0, args) ?? args[0].slice(0, -1);

/** A size argument (zeros, ones, eye): a compile-time whole number; the bound keeps the constant small. */
export const sized =
  (max: number, shape: (n: number) => Shape): ShapeRule =>
  (_args, consts) => {
    const n = consts[0];
    if (n === undefined) return 'argument 1 (a size) must be a constant';
    if (!Number.isInteger(n) || n < 1 || n > max)
      return `argument 1 (a size) must be a whole number from 1 to ${max}, got ${n}`;
    return shape(n);
  };
