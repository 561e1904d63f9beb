// The table of primitives: the single source of truth for names, arities, shape rules and docs.
// The checker reads arity and shape rules, the lowering reads `op` (the native kernel the IR names),
// the native dispatcher must provide exactly the kernels named here (a test holds it to that), and
// docs/language.md is generated from the doc lines.
//
// Shapes are per sample: [] is a scalar, [n] a vector, [r, c] a matrix. A leading batch dimension,
// when present, is handled by the runtime and never appears here.

export type Shape = readonly number[];

/** A shape rule returns the result shape, or a message saying what is wrong with the arguments. */
export type ShapeRule = (args: Shape[], consts: (number | undefined)[]) => Shape | string;

export type Group = 'arithmetic' | 'transcendental' | 'comparison' | 'vector' | 'matrix';

export interface Primitive {
  name: string;
  group: Group;
  minArgs: number;
  maxArgs: number; // Infinity for n-ary
  shape: ShapeRule;
  /** Whether results carry gradients (comparisons and rounding have zero or no gradient). */
  differentiable: boolean;
  /** Arguments that must be compile-time constants (sizes), by index. */
  constArgs?: number[];
  doc: string;
}

export const showShape = (s: Shape): string =>
  s.length === 0 ? 'scalar' : s.length === 1 ? `vector[${s[0]}]` : `matrix[${s[0]}x${s[1]}]`;

const same = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Elementwise: scalars broadcast against anything; otherwise shapes must agree. */
export const ELEMENTWISE: ShapeRule = (args) => {
  let out: Shape = [];
  for (const s of args) {
    if (s.length === 0) continue;
    if (out.length === 0) out = s;
    else if (!same(out, s)) return `shapes ${showShape(out)} and ${showShape(s)} do not match`;
  }
  return out;
};

const scalarArgs =
  (rule: ShapeRule): ShapeRule =>
  (args, consts) => {
    const i = args.findIndex((s) => s.length !== 0);
    return i >= 0 ? `argument ${i + 1} must be a scalar, got ${showShape(args[i])}` : rule(args, consts);
  };

const vectorArg = (i: number, args: Shape[]): string | undefined =>
  args[i].length === 1 ? undefined : `argument ${i + 1} must be a vector, got ${showShape(args[i])}`;

const matrixArg = (i: number, args: Shape[]): string | undefined =>
  args[i].length === 2 ? undefined : `argument ${i + 1} must be a matrix, got ${showShape(args[i])}`;

/** Reduces the last dimension: vector -> scalar, matrix -> vector of its rows' results. */
const reduceLast: ShapeRule = ([s]) =>
  s.length === 0 ? 'argument 1 must be a vector or matrix, got scalar' : s.slice(0, -1);

/** Sizes are compile-time constants; the limits keep the materialised constant small (8 MB of float64). */
const sizeArg = (consts: (number | undefined)[], i: number, max: number): number | string => {
  const n = consts[i];
  if (n === undefined) return `argument ${i + 1} (a size) must be a constant`;
  if (!Number.isInteger(n) || n < 1 || n > max)
    return `argument ${i + 1} (a size) must be a whole number from 1 to ${max}, got ${n}`;
  return n;
};
const MAX_VECTOR = 1_000_000;
const MAX_EYE = 1000;

const squareMatrix = (args: Shape[]): string | undefined =>
  matrixArg(0, args) ??
  (args[0][0] === args[0][1] ? undefined : `argument 1 must be a square matrix, got ${showShape(args[0])}`);

type Spec = [name: string, minArgs: number, maxArgs: number, shape: ShapeRule, doc: string, extra?: Partial<Primitive>];

const group = (g: Group, specs: Spec[]): Primitive[] =>
  specs.map(([name, minArgs, maxArgs, shape, doc, extra]) => ({
    name,
    group: g,
    minArgs,
    maxArgs,
    shape,
    doc,
    differentiable: true,
    ...extra,
  }));

const N = Infinity;
const noGrad = { differentiable: false };

export const PRIMITIVES: readonly Primitive[] = [
  ...group('arithmetic', [
    ['+', 1, N, ELEMENTWISE, 'Sum of the arguments; `(+ x)` is x.'],
    ['-', 1, N, ELEMENTWISE, 'Subtracts the rest from the first; `(- x)` negates.'],
    ['*', 1, N, ELEMENTWISE, 'Product of the arguments.'],
    ['/', 1, N, ELEMENTWISE, 'Divides the first by the rest; `(/ x)` is the reciprocal 1/x.'],
    ['neg', 1, 1, ELEMENTWISE, 'Negation, -x.'],
    ['abs', 1, 1, ELEMENTWISE, 'Absolute value.'],
    ['sign', 1, 1, ELEMENTWISE, 'Sign: -1, 0 or 1 (zero gradient).', noGrad],
    ['square', 1, 1, ELEMENTWISE, 'x * x.'],
    ['pow', 2, 2, ELEMENTWISE, 'x raised to y (IEEE pow).'],
    ['min', 1, N, ELEMENTWISE, 'Elementwise minimum of the arguments.'],
    ['max', 1, N, ELEMENTWISE, 'Elementwise maximum of the arguments.'],
    ['clamp', 3, 3, ELEMENTWISE, '`(clamp x lo hi)`: x limited to [lo, hi].'],
    ['floor', 1, 1, ELEMENTWISE, 'Largest integer not above x (zero gradient).', noGrad],
    ['ceil', 1, 1, ELEMENTWISE, 'Smallest integer not below x (zero gradient).', noGrad],
    ['round', 1, 1, ELEMENTWISE, 'Nearest integer, ties to even (zero gradient).', noGrad],
    ['truncate', 1, 1, ELEMENTWISE, 'Integer part, rounding toward zero (zero gradient).', noGrad],
    [
      'quotient',
      2,
      2,
      ELEMENTWISE,
      'Integer division rounding toward zero, as R7RS `truncate-quotient` (zero gradient).',
      noGrad,
    ],
    ['modulo', 2, 2, ELEMENTWISE, 'Remainder with the sign of the divisor (R7RS `floor-remainder`).'],
    ['remainder', 2, 2, ELEMENTWISE, 'Remainder with the sign of the dividend (R7RS `truncate-remainder`).'],
  ]),
  ...group('transcendental', [
    ['sqrt', 1, 1, ELEMENTWISE, 'Square root (IEEE: NaN below zero).'],
    [
      'safe-sqrt',
      1,
      1,
      ELEMENTWISE,
      'Square root of max(x, 1e-8), as the reference `sqrt`: finite value and gradient everywhere.',
    ],
    ['exp', 1, 1, ELEMENTWISE, 'e to the x.'],
    ['log', 1, 1, ELEMENTWISE, 'Natural logarithm (IEEE: -inf at 0, NaN below).'],
    ['safe-log', 1, 1, ELEMENTWISE, 'Natural logarithm of max(x, 1e-8), as the reference `log`.'],
    ['log1p', 1, 1, ELEMENTWISE, 'log(1 + x), accurate near 0.'],
    ['expm1', 1, 1, ELEMENTWISE, 'exp(x) - 1, accurate near 0.'],
    ['sin', 1, 1, ELEMENTWISE, 'Sine.'],
    ['cos', 1, 1, ELEMENTWISE, 'Cosine.'],
    ['tan', 1, 1, ELEMENTWISE, 'Tangent.'],
    ['asin', 1, 1, ELEMENTWISE, 'Arcsine.'],
    ['acos', 1, 1, ELEMENTWISE, 'Arccosine.'],
    ['atan', 1, 1, ELEMENTWISE, 'Arctangent.'],
    ['atan2', 2, 2, ELEMENTWISE, '`(atan2 y x)`: angle of the point (x, y).'],
    ['sinh', 1, 1, ELEMENTWISE, 'Hyperbolic sine.'],
    ['cosh', 1, 1, ELEMENTWISE, 'Hyperbolic cosine.'],
    ['tanh', 1, 1, ELEMENTWISE, 'Hyperbolic tangent.'],
    ['sigmoid', 1, 1, ELEMENTWISE, 'Logistic function 1 / (1 + exp(-x)).'],
    ['softplus', 1, 1, ELEMENTWISE, 'log(1 + exp(x)).'],
    ['relu', 1, 1, ELEMENTWISE, 'max(x, 0).'],
    ['erf', 1, 1, ELEMENTWISE, 'Error function.'],
  ]),
  ...group('comparison', [
    ['=', 2, 2, ELEMENTWISE, '1 where equal, else 0.', noGrad],
    ['<', 2, 2, ELEMENTWISE, '1 where x < y, else 0.', noGrad],
    ['>', 2, 2, ELEMENTWISE, '1 where x > y, else 0.', noGrad],
    ['<=', 2, 2, ELEMENTWISE, '1 where x <= y, else 0.', noGrad],
    ['>=', 2, 2, ELEMENTWISE, '1 where x >= y, else 0.', noGrad],
    ['and', 1, N, ELEMENTWISE, '1 where every argument is nonzero, else 0.', noGrad],
    ['or', 1, N, ELEMENTWISE, '1 where any argument is nonzero, else 0.', noGrad],
    ['not', 1, 1, ELEMENTWISE, '1 where x is 0, else 0.', noGrad],
  ]),
  ...group('vector', [
    ['vec', 1, N, scalarArgs((args) => [args.length]), 'A vector of the scalar arguments; `[a b c]` is `(vec a b c)`.'],
    [
      'ref',
      2,
      2,
      ([v, i], consts) => {
        if (i.length !== 0) return `argument 2 (the index) must be a scalar, got ${showShape(i)}`;
        if (v.length === 0) return 'argument 1 must be a vector or matrix, got scalar';
        const k = consts[1];
        const n = v[v.length - 1];
        if (k !== undefined && (!Number.isInteger(k) || k < 0 || k >= n))
          return `index ${k} is out of range for ${showShape(v)} (0 to ${n - 1})`;
        return v.slice(0, -1);
      },
      '`(ref v i)`: element i (0-based) of a vector; of a matrix, column i along the last dimension.',
    ],
    [
      'dot',
      2,
      2,
      ([a, b]) =>
        vectorArg(0, [a, b]) ??
        vectorArg(1, [a, b]) ??
        (same(a, b) ? [] : `vectors of different lengths ${a[0]} and ${b[0]}`),
      'Dot product of two vectors.',
    ],
    [
      'cross',
      2,
      2,
      ([a, b]) =>
        same(a, [3]) && same(b, [3]) ? [3] : `cross takes two vector[3], got ${showShape(a)} and ${showShape(b)}`,
      'Cross product of two 3-vectors.',
    ],
    ['norm', 1, 1, (args) => vectorArg(0, args) ?? [], 'Euclidean length of a vector.'],
    ['normalize', 1, 1, (args) => vectorArg(0, args) ?? args[0], 'v / max(norm(v), 1e-8), as the reference.'],
    ['vsum', 1, 1, reduceLast, 'Sum over the last dimension.'],
    ['vmean', 1, 1, reduceLast, 'Mean over the last dimension.'],
    ['vmax', 1, 1, reduceLast, 'Maximum over the last dimension.'],
    ['vmin', 1, 1, reduceLast, 'Minimum over the last dimension.'],
    [
      'scale',
      2,
      2,
      ([s, v]) =>
        s.length !== 0
          ? `argument 1 must be a scalar, got ${showShape(s)}`
          : v.length === 0
            ? 'argument 2 must be a vector or matrix, got scalar (use * for two scalars)'
            : v,
      '`(scale s v)`: scalar times a vector or matrix.',
    ],
    [
      'vlen',
      1,
      1,
      ([v]) => (v.length === 0 ? 'argument 1 must be a vector or matrix, got scalar' : []),
      'Size of the last dimension, a constant.',
      noGrad,
    ],
    [
      'zeros',
      1,
      1,
      (_a, c) => {
        const n = sizeArg(c, 0, MAX_VECTOR);
        return typeof n === 'string' ? n : [n];
      },
      '`(zeros n)`: a vector of n zeros (n constant).',
      { differentiable: false, constArgs: [0] },
    ],
    [
      'ones',
      1,
      1,
      (_a, c) => {
        const n = sizeArg(c, 0, MAX_VECTOR);
        return typeof n === 'string' ? n : [n];
      },
      '`(ones n)`: a vector of n ones (n constant).',
      { differentiable: false, constArgs: [0] },
    ],
  ]),
  ...group('matrix', [
    [
      'mat',
      1,
      N,
      (args) => {
        const bad = args.findIndex((s) => s.length !== 1 || s[0] !== args[0][0]);
        return bad >= 0
          ? `rows must be vectors of one length: row ${bad + 1} is ${showShape(args[bad])}`
          : [args.length, args[0][0]];
      },
      '`(mat row ...)`: a matrix from row vectors.',
    ],
    [
      'matmul',
      2,
      2,
      ([a, b]) =>
        matrixArg(0, [a, b]) ??
        matrixArg(1, [a, b]) ??
        (a[1] === b[0] ? [a[0], b[1]] : `inner sizes differ: ${showShape(a)} times ${showShape(b)}`),
      'Matrix product.',
    ],
    [
      'matvec',
      2,
      2,
      ([a, v]) =>
        matrixArg(0, [a, v]) ??
        vectorArg(1, [a, v]) ??
        (a[1] === v[0] ? [a[0]] : `sizes differ: ${showShape(a)} times ${showShape(v)}`),
      'Matrix times vector.',
    ],
    ['transpose', 1, 1, (args) => matrixArg(0, args) ?? [args[0][1], args[0][0]], 'Matrix transpose.'],
    ['trace', 1, 1, (args) => squareMatrix(args) ?? [], 'Sum of the diagonal of a square matrix.'],
    ['det', 1, 1, (args) => squareMatrix(args) ?? [], 'Determinant of a square matrix.'],
    ['inv', 1, 1, (args) => squareMatrix(args) ?? args[0], 'Inverse of a square matrix.'],
    [
      'solve',
      2,
      2,
      ([a, b]) =>
        squareMatrix([a]) ??
        (b.length >= 1 && b[0] === a[0] ? b : `right-hand side ${showShape(b)} does not fit ${showShape(a)}`),
      '`(solve A b)`: x with A x = b, b a vector or matrix.',
    ],
    [
      'outer',
      2,
      2,
      ([a, b]) => vectorArg(0, [a, b]) ?? vectorArg(1, [a, b]) ?? [a[0], b[0]],
      'Outer product of two vectors.',
    ],
    [
      'eye',
      1,
      1,
      (_a, c) => {
        const n = sizeArg(c, 0, MAX_EYE);
        return typeof n === 'string' ? n : [n, n];
      },
      '`(eye n)`: the n x n identity (n constant).',
      { differentiable: false, constArgs: [0] },
    ],
    [
      'diag',
      1,
      1,
      ([v]) =>
        v.length === 1
          ? [v[0], v[0]]
          : v.length === 2 && v[0] === v[1]
            ? [v[0]]
            : `argument 1 must be a vector or square matrix, got ${showShape(v)}`,
      'Vector to diagonal matrix; square matrix to its diagonal.',
    ],
  ]),
];

const byName = new Map(PRIMITIVES.map((p) => [p.name, p]));

export const primitive = (name: string): Primitive | undefined => byName.get(name);

export const arityText = (p: Primitive): string =>
  p.maxArgs === Infinity
    ? `at least ${p.minArgs}`
    : p.minArgs === p.maxArgs
      ? `${p.minArgs}`
      : `${p.minArgs} to ${p.maxArgs}`;
