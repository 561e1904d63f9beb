import { Program } from '../src/ast';
import { parseProgram } from '../src/frontend';
import { PRIMITIVES, hasGradient } from '../src/ops';
import { Nested, REFERENCE_PRIMITIVES, evaluateReference, type ReferenceOptions } from '../src/reference';
import { erf } from '../src/ops';
import { centralDifference, flatten, maxRelativeError, unflatten } from './helpers/finite-diff';

// Programs come from the real front end; free names are inputs unless listed in `params`.

function parse(source: string, params: string[] = []): Program {
  const r = parseProgram(source, { params });
  if (!r.program) throw new Error(`front end rejected ${source}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.program;
}

// ---------------------------------------------------------------------------------------------

const run = (
  source: string,
  values: Record<string, Nested> = {},
  options: { params?: string[]; batched?: string[] } & ReferenceOptions = {},
) => evaluateReference(parse(source, options.params), values, options);

const value = (source: string, values: Record<string, Nested> = {}) => run(source, values).value;

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectClose(actual: Nested, expected: Nested, tol = 1e-12) {
  const a = flatten(actual);
  const e = flatten(expected);
  expect(a.length).toBe(e.length);
  a.forEach((x, i) => {
    if (Number.isNaN(e[i])) expect(x).toBeNaN();
    else if (!Number.isFinite(e[i])) expect(x).toBe(e[i]);
    else expect(Math.abs(x - e[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e[i])));
  });
}

/** Checks the reference gradient of `source` at `values` against central differences of its own value. */
function checkGradient(source: string, values: Record<string, Nested>, params: string[] = [], tol = 1e-6) {
  const program = parse(source, params);
  const names = [...program.inputs, ...program.params];
  const { grad } = evaluateReference(program, values);
  const x0 = names.flatMap((n) => flatten(values[n]));
  const f = (x: number[]) => {
    let k = 0;
    const vals: Record<string, Nested> = {};
    for (const n of names) {
      const len = flatten(values[n]).length;
      vals[n] = unflatten(values[n], x.slice(k, k + len));
      k += len;
    }
    return flatten(evaluateReference(program, vals).value).reduce((s, v) => s + v, 0);
  };
  const numeric = centralDifference(f, x0);
  const analytic = names.flatMap((n) => flatten(grad[n]));
  expect(analytic.every(Number.isFinite)).toBe(true);
  expect(maxRelativeError(analytic, numeric)).toBeLessThan(tol);
}

// ---------------------------------------------------------------------------------------------

describe('primitive table', () => {
  test('every primitive has a reference implementation, and nothing else does', () => {
    expect(Object.keys(REFERENCE_PRIMITIVES).sort()).toEqual(PRIMITIVES.map((p) => p.name).sort());
  });
});

describe('scalar values', () => {
  const x = 0.7;
  const y = -1.3;
  const cases: [string, number][] = [
    ['(+ x)', x],
    ['(+ x y 2)', x + y + 2],
    ['(- x)', -x],
    ['(- 10 1 2)', 7],
    ['(- x y 0.5)', x - y - 0.5],
    ['(* x y 3)', x * y * 3],
    ['(/ x)', 1 / x],
    ['(/ 8 2 2)', 2],
    ['(/ x y 2)', x / y / 2],
    ['(neg x)', -x],
    ['(abs y)', 1.3],
    ['(sign y)', -1],
    ['(sign 0)', 0],
    ['(square y)', y * y],
    ['(pow x y)', Math.pow(x, y)],
    ['(pow 2 10)', 1024],
    ['(min x y 0.2)', y],
    ['(max x y 0.2)', x],
    ['(clamp x -0.5 0.5)', 0.5],
    ['(clamp y -0.5 0.5)', -0.5],
    ['(clamp 0.1 -0.5 0.5)', 0.1],
    ['(floor y)', -2],
    ['(ceil y)', -1],
    ['(truncate y)', -1],
    ['(round 2.5)', 2],
    ['(round 3.5)', 4],
    ['(round -2.5)', -2],
    ['(round 0.5)', 0],
    ['(round -1.5)', -2],
    ['(round 2.4)', 2],
    ['(round -2.6)', -3],
    ['(quotient 7 2)', 3],
    ['(quotient -7 2)', -3],
    ['(quotient 7 -2)', -3],
    ['(modulo 7 2)', 1],
    ['(modulo -7 2)', 1],
    ['(modulo 7 -2)', -1],
    ['(modulo -7 -2)', -1],
    ['(modulo 5.5 2)', 1.5],
    ['(modulo -5.5 2)', 0.5],
    ['(remainder 7 2)', 1],
    ['(remainder -7 2)', -1],
    ['(remainder 7 -2)', 1],
    ['(remainder -5.5 2)', -1.5],
    ['(sqrt 2)', Math.SQRT2],
    ['(sqrt -1)', NaN],
    ['(safe-sqrt 4)', 2],
    ['(safe-sqrt -1)', 1e-4],
    ['(safe-sqrt 0)', 1e-4],
    ['(exp x)', Math.exp(x)],
    ['(log 2)', Math.LN2],
    ['(log 0)', -Infinity],
    ['(log -1)', NaN],
    ['(safe-log 0)', Math.log(1e-8)],
    ['(safe-log -5)', Math.log(1e-8)],
    ['(safe-log 2)', Math.LN2],
    ['(log1p 1e-10)', 1e-10 - 5e-21],
    ['(expm1 1e-10)', 1e-10 + 5e-21],
    ['(sin x)', Math.sin(x)],
    ['(cos x)', Math.cos(x)],
    ['(tan x)', Math.tan(x)],
    ['(asin x)', Math.asin(x)],
    ['(acos x)', Math.acos(x)],
    ['(atan y)', Math.atan(y)],
    ['(atan2 1 -1)', (3 * Math.PI) / 4],
    ['(atan2 y x)', Math.atan2(y, x)],
    ['(sinh y)', Math.sinh(y)],
    ['(cosh y)', Math.cosh(y)],
    ['(tanh y)', Math.tanh(y)],
    ['(sigmoid 0)', 0.5],
    ['(sigmoid y)', 1 / (1 + Math.exp(1.3))],
    ['(sigmoid -800)', 0],
    ['(sigmoid 800)', 1],
    ['(softplus y)', Math.log(1 + Math.exp(y))],
    ['(softplus 0)', Math.LN2],
    ['(softplus 800)', 800],
    ['(softplus -800)', 0],
    ['(relu y)', 0],
    ['(relu x)', x],
    ['(erf 0.5)', 0.52049987781304653768],
    ['(= 1 1)', 1],
    ['(= 1 2)', 0],
    ['(< 1 2)', 1],
    ['(< 2 2)', 0],
    ['(> 3 2)', 1],
    ['(<= 2 2)', 1],
    ['(>= 1 2)', 0],
    ['(and 1 2 -3)', 1],
    ['(and 1 0 -3)', 0],
    ['(or 0 0 0)', 0],
    ['(or 0 0.5)', 1],
    ['(not 0)', 1],
    ['(not 2)', 0],
    ['#t', 1],
    ['#f', 0],
    ['pi', Math.PI],
    ['(+ #t #t)', 2],
  ];
  test.each(cases)('%s', (source, expected) => {
    expectClose(value(source, { x, y }), expected, 1e-15);
  });

  test('erf matches high-precision values to 1e-15', () => {
    // mpmath, 20 significant digits
    const table: [number, number][] = [
      [-3.5, -0.99999925690162765859],
      [-1, -0.84270079294971486934],
      [1e-5, 0.00001128379167057899935],
      [0.1, 0.1124629160182848922],
      [0.5, 0.52049987781304653768],
      [1, 0.84270079294971486934],
      [1.5, 0.96610514647531072707],
      [2, 0.99532226501895273416],
      [2.44, 0.99944082611644857859],
      [2.4999, 0.99959283009966654908], // the series below 2.5, the continued fraction from 2.5
      [2.5, 0.99959304798255504106],
      [2.5001, 0.9995932657565293198],
      [5.9, 0.9999999999999999281],
      [3, 0.99997790950300141456],
      [4.5, 0.99999999980338395585],
      [5.5, 0.99999999999999264215],
    ];
    for (const [x, e] of table) expect(Math.abs(erf(x) - e)).toBeLessThan(1e-15);
    expect(erf(0)).toBe(0);
    expect(erf(10)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erf(NaN)).toBeNaN();
  });
});

// ---------------------------------------------------------------------------------------------
// Gradients of every primitive against central differences, on random inputs away from kinks.

type Sampler = (r: () => number) => Nested;
const U =
  (lo: number, hi: number): Sampler =>
  (r) =>
    lo + (hi - lo) * r();
/** Magnitude in [lo, hi], random sign: away from 0. */
const AWAY =
  (lo = 0.2, hi = 2): Sampler =>
  (r) =>
    (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r());
const VEC =
  (n: number, s: Sampler = U(-2, 2)): Sampler =>
  (r) =>
    Array.from({ length: n }, () => s(r));
const MAT =
  (m: number, n: number, s: Sampler = U(-2, 2)): Sampler =>
  (r) =>
    Array.from({ length: m }, () => VEC(n, s)(r));
const GRID =
  (a: number, b: number, c: number, s: Sampler = U(-2, 2)): Sampler =>
  (r) =>
    Array.from({ length: a }, () => MAT(b, c, s)(r));
/** A random n x n matrix plus n on the diagonal: comfortably invertible. */
const WELL =
  (n: number): Sampler =>
  (r) =>
    (MAT(n, n)(r) as number[][]).map((row, i) => row.map((x, j) => (i === j ? x + n + 1 : x)));
const S = U(-2, 2);
const POS = U(0.1, 3);

type GradCase = [source: string, samplers: Record<string, Sampler>];

const differentiable: Record<string, GradCase[]> = {
  '+': [
    ['(+ a b c)', { a: S, b: VEC(3), c: S }],
    ['(+ a)', { a: MAT(2, 3) }],
  ],
  '-': [
    ['(- a b c)', { a: VEC(3), b: S, c: VEC(3) }],
    ['(- a)', { a: VEC(3) }],
  ],
  '*': [
    ['(* a b c)', { a: S, b: VEC(3), c: VEC(3) }],
    ['(* a b)', { a: MAT(2, 3), b: MAT(2, 3) }],
  ],
  '/': [
    ['(/ a b c)', { a: VEC(3), b: AWAY(), c: VEC(3, AWAY()) }],
    ['(/ a)', { a: MAT(2, 2, AWAY()) }],
  ],
  neg: [['(neg a)', { a: MAT(2, 3) }]],
  abs: [['(abs a)', { a: VEC(4, AWAY(0.1)) }]],
  square: [['(square a)', { a: VEC(3) }]],
  pow: [
    ['(pow a b)', { a: VEC(3, POS), b: S }],
    ['(pow a 3)', { a: VEC(3) }],
    ['(pow 2.5 b)', { b: S }],
  ],
  min: [
    ['(min a b c)', { a: VEC(3), b: VEC(3), c: S }],
    ['(min a)', { a: S }],
  ],
  max: [['(max a b c)', { a: VEC(3), b: VEC(3), c: S }]],
  clamp: [['(clamp a b c)', { a: VEC(6, U(-2, 2)), b: U(-1, -0.5), c: U(0.5, 1) }]],
  modulo: [['(modulo a b)', { a: VEC(4, U(-5, 5)), b: VEC(4, AWAY(0.5, 2)) }]],
  remainder: [['(remainder a b)', { a: VEC(4, U(-5, 5)), b: VEC(4, AWAY(0.5, 2)) }]],
  sqrt: [['(sqrt a)', { a: VEC(3, POS) }]],
  rsqrt: [['(rsqrt a)', { a: VEC(3, POS) }]],
  'safe-sqrt': [['(safe-sqrt a)', { a: VEC(4, U(-1, 3)) }]],
  exp: [['(exp a)', { a: VEC(3) }]],
  log: [['(log a)', { a: VEC(3, POS) }]],
  'safe-log': [['(safe-log a)', { a: VEC(4, U(-1, 3)) }]],
  log1p: [['(log1p a)', { a: VEC(3, U(-0.5, 3)) }]],
  expm1: [['(expm1 a)', { a: VEC(3) }]],
  sin: [['(sin a)', { a: VEC(3) }]],
  cos: [['(cos a)', { a: VEC(3) }]],
  tan: [['(tan a)', { a: VEC(3, U(-1.2, 1.2)) }]],
  asin: [['(asin a)', { a: VEC(3, U(-0.9, 0.9)) }]],
  acos: [['(acos a)', { a: VEC(3, U(-0.9, 0.9)) }]],
  atan: [['(atan a)', { a: VEC(3) }]],
  atan2: [['(atan2 a b)', { a: VEC(4, AWAY()), b: VEC(4, AWAY()) }]],
  sinh: [['(sinh a)', { a: VEC(3) }]],
  cosh: [['(cosh a)', { a: VEC(3) }]],
  tanh: [['(tanh a)', { a: VEC(3) }]],
  sigmoid: [['(sigmoid a)', { a: VEC(3, U(-4, 4)) }]],
  softplus: [['(softplus a)', { a: VEC(3, U(-4, 4)) }]],
  relu: [['(relu a)', { a: VEC(4, AWAY(0.1)) }]],
  erf: [['(erf a)', { a: VEC(4, U(-3, 3)) }]],
  vec: [['(* (vec a b c) d)', { a: S, b: S, c: S, d: VEC(3) }]],
  ref: [
    ['(* (ref a 1) b)', { a: VEC(3), b: S }],
    ['(* (ref a 2) b)', { a: MAT(2, 3), b: VEC(2) }],
  ],
  dot: [['(dot a b)', { a: VEC(3), b: VEC(3) }]],
  cross: [['(dot (cross a b) c)', { a: VEC(3), b: VEC(3), c: VEC(3) }]],
  norm: [['(norm a)', { a: VEC(4) }]],
  normalize: [['(dot (normalize a) b)', { a: VEC(3), b: VEC(3) }]],
  vsum: [
    ['(vsum (* a b))', { a: VEC(3), b: VEC(3) }],
    ['(dot (vsum a) b)', { a: MAT(2, 3), b: VEC(2) }],
  ],
  vmean: [
    ['(vmean (* a b))', { a: VEC(3), b: VEC(3) }],
    ['(dot (vmean a) b)', { a: MAT(2, 3), b: VEC(2) }],
  ],
  vmax: [
    ['(vmax a)', { a: VEC(4) }],
    ['(dot (vmax a) b)', { a: MAT(2, 3), b: VEC(2) }],
  ],
  vmin: [
    ['(vmin a)', { a: VEC(4) }],
    ['(dot (vmin a) b)', { a: MAT(2, 3), b: VEC(2) }],
  ],
  scale: [
    ['(* (scale a b) c)', { a: S, b: MAT(2, 3), c: MAT(2, 3) }],
    ['(scale a b)', { a: S, b: VEC(3) }],
  ],
  mat: [['(* (mat a b) c)', { a: VEC(3), b: VEC(3), c: MAT(2, 3) }]],
  matmul: [['(* (matmul a b) c)', { a: MAT(2, 3), b: MAT(3, 2), c: MAT(2, 2) }]],
  matvec: [['(* (matvec a b) c)', { a: MAT(2, 3), b: VEC(3), c: VEC(2) }]],
  transpose: [['(* (transpose a) b)', { a: MAT(2, 3), b: MAT(3, 2) }]],
  trace: [['(trace (matmul a b))', { a: MAT(3, 3), b: MAT(3, 3) }]],
  det: [
    ['(det a)', { a: MAT(2, 2) }],
    ['(det a)', { a: MAT(3, 3) }],
    ['(det a)', { a: MAT(4, 4) }],
  ],
  inv: [['(* (inv a) b)', { a: WELL(3), b: MAT(3, 3) }]],
  solve: [
    ['(* (solve a b) c)', { a: WELL(3), b: VEC(3), c: VEC(3) }],
    ['(* (solve a b) c)', { a: WELL(3), b: MAT(3, 2), c: MAT(3, 2) }],
  ],
  outer: [['(* (outer a b) c)', { a: VEC(3), b: VEC(2), c: MAT(3, 2) }]],
  conv: [
    ['(* (conv a b) c)', { a: VEC(5), b: VEC(3), c: VEC(3) }],
    ['(* (conv a b) c)', { a: MAT(3, 4), b: MAT(2, 2), c: MAT(2, 3) }],
  ],
  // diag from 3 to 7 against off-diagonals of at most 1: diagonally dominant
  'tridiagonal-solve': [
    [
      '(* (tridiagonal-solve a (+ 5 b) c d) e)',
      { a: VEC(2, U(-1, 1)), b: VEC(3), c: VEC(2, U(-1, 1)), d: VEC(3), e: VEC(3) },
    ],
    [
      '(* (tridiagonal-solve a (+ 5 b) c d) e)',
      { a: VEC(2, U(-1, 1)), b: MAT(2, 3), c: VEC(2, U(-1, 1)), d: MAT(2, 3), e: MAT(2, 3) },
    ],
  ],
  diag: [
    ['(* (diag a) b)', { a: VEC(3), b: MAT(3, 3) }],
    ['(* (diag a) b)', { a: MAT(3, 3), b: VEC(3) }],
  ],
  // grids: weighted by c, so that every output element's gradient differs
  roll: [
    ['(* (roll a 1 0) c)', { a: VEC(4), c: VEC(4) }],
    ['(* (roll a -2 1) c)', { a: GRID(2, 2, 3), c: GRID(2, 2, 3) }],
  ],
  'pad-edge': [['(* (pad-edge a 1) c)', { a: MAT(2, 3), c: MAT(4, 5) }]],
  'pad-wrap': [['(* (pad-wrap a 2) c)', { a: GRID(2, 2, 3), c: GRID(6, 6, 7) }]],
  'pad-const': [['(* (pad-const a 1 b) c)', { a: MAT(2, 2), b: S, c: MAT(4, 4) }]],
  laplacian: [
    ['(* (laplacian a h) c)', { a: VEC(5), h: AWAY(), c: VEC(3) }],
    ['(* (laplacian a h) c)', { a: GRID(3, 4, 3), h: AWAY(), c: GRID(1, 2, 1) }],
  ],
  diff: [
    ['(* (diff a 1) c)', { a: MAT(2, 3), c: MAT(2, 2) }],
    ['(* (diff a 0 h) c)', { a: GRID(3, 2, 2), h: AWAY(), c: GRID(2, 2, 2) }],
  ],
  'central-diff': [['(* (central-diff a 1 h) c)', { a: MAT(2, 4), h: AWAY(), c: MAT(2, 2) }]],
  slice: [['(* (slice a 2 1 -1) c)', { a: GRID(2, 2, 4), c: GRID(2, 2, 2) }]],
  concat: [['(* (concat 1 a b) c)', { a: MAT(2, 1), b: MAT(2, 2), c: MAT(2, 3) }]],
  'sum-all': [['(* (sum-all a) b)', { a: GRID(2, 2, 2), b: S }]],
  'mean-all': [['(* (mean-all a) b)', { a: MAT(2, 3), b: S }]],
  'max-all': [['(max-all a)', { a: GRID(2, 2, 2) }]],
  'min-all': [['(min-all a)', { a: VEC(5) }]],
};

/** Primitives documented as having no gradient: sampled away from their jumps. */
const constantGradient: GradCase[] = [
  ['(sign a)', { a: VEC(3, AWAY()) }],
  ['(floor a)', { a: VEC(3, U(0.1, 0.9)) }],
  ['(ceil a)', { a: VEC(3, U(0.1, 0.9)) }],
  ['(round a)', { a: VEC(3, U(0.1, 0.4)) }],
  ['(truncate a)', { a: VEC(3, U(0.1, 0.9)) }],
  ['(quotient a b)', { a: VEC(3, U(2.2, 2.8)), b: U(1.05, 1.1) }],
  ['(= a b)', { a: S, b: S }],
  ['(< a b)', { a: VEC(3), b: S }],
  ['(> a b)', { a: VEC(3), b: S }],
  ['(<= a b)', { a: VEC(3), b: S }],
  ['(>= a b)', { a: VEC(3), b: S }],
  ['(and a b)', { a: VEC(3), b: S }],
  ['(or a b)', { a: VEC(3), b: S }],
  ['(not a)', { a: VEC(3) }],
  ['(* a (vlen b))', { a: S, b: MAT(2, 3) }],
  ['(+ a (zeros 3) (ones 3))', { a: S }],
  ['(+ a (eye 2))', { a: S }],
];

const sample = (samplers: Record<string, Sampler>, r: () => number): Record<string, Nested> =>
  Object.fromEntries(Object.entries(samplers).map(([k, s]) => [k, s(r)]));

describe('gradients against central differences', () => {
  test('every differentiable primitive is checked, and no other', () => {
    const names = PRIMITIVES.filter((p) => hasGradient(p)).map((p) => p.name);
    expect(Object.keys(differentiable).sort()).toEqual(names.sort());
    const flat = PRIMITIVES.filter((p) => !hasGradient(p)).map((p) => p.name);
    expect(
      constantGradient
        .map(([src]) => src.match(/^\((\S+) /)![1])
        .filter((n) => n !== '+' && n !== '*')
        .concat(['vlen', 'zeros', 'ones', 'eye'])
        .sort(),
    ).toEqual(flat.sort());
  });

  const cases = Object.entries(differentiable).flatMap(([name, cs]) =>
    cs.map((c, i) => [`${name} #${i + 1}: ${c[0]}`, c] as const),
  );
  test.each(cases)('%s', (_label, [source, samplers]) => {
    const r = rng(source.length * 7919 + 17);
    for (let trial = 0; trial < 5; trial++) checkGradient(source, sample(samplers, r));
  });

  test.each(constantGradient.map((c) => [c[0], c] as const))('zero gradient: %s', (_label, [source, samplers]) => {
    const r = rng(source.length * 104729 + 3);
    for (let trial = 0; trial < 3; trial++) {
      const vals = sample(samplers, r);
      const { grad } = run(source, vals);
      const nonconst =
        source.includes('vlen') || source.includes('zeros') || source.includes('eye') ? [] : Object.keys(vals);
      for (const n of nonconst) expect(flatten(grad[n]).every((g) => g === 0)).toBe(true);
      checkGradient(source, vals);
    }
  });
});

describe('batched evaluation agrees with per-sample evaluation', () => {
  const cases = Object.entries(differentiable).map(([name, cs]) => [name, cs[cs.length - 1]] as const);
  test.each(cases)('%s', (_name, [source, samplers]) => {
    const r = rng(99);
    const program = parse(source);
    const [first, ...shared] = program.inputs;
    const B = 3;
    const samples = Array.from({ length: B }, () => sample(samplers, r));
    const values: Record<string, Nested> = { [first]: samples.map((s) => s[first]) };
    for (const n of shared) values[n] = samples[0][n];
    const batched = evaluateReference(program, values, { batched: [first] });
    const singles = samples.map((s) => evaluateReference(program, { ...values, [first]: s[first] }));
    expect(batched.value).toEqual(singles.map((s) => s.value));
    expect(batched.grad[first]).toEqual(singles.map((s) => s.grad[first]));
    for (const n of shared) {
      const summed = singles.map((s) => flatten(s.grad[n])).reduce((acc, g) => acc.map((x, i) => x + g[i]));
      expectClose(batched.grad[n], unflatten(values[n], summed), 1e-12);
    }
  });
});

describe('kink conventions', () => {
  const g = (source: string, values: Record<string, Nested>) => run(source, values).grad;
  test('abs, relu: gradient 0 at 0', () => {
    expect(g('(abs x)', { x: 0 }).x).toBe(0);
    expect(g('(relu x)', { x: 0 }).x).toBe(0);
    expect(g('(abs x)', { x: -2 }).x).toBe(-1);
  });
  test('min/max/vmax/vmin: ties share the gradient evenly', () => {
    expect(g('(max x y)', { x: 1, y: 1 })).toEqual({ x: 0.5, y: 0.5 });
    expect(g('(min x y z)', { x: 1, y: 1, z: 1 })).toEqual({ x: 1 / 3, y: 1 / 3, z: 1 / 3 });
    expect(g('(max x y)', { x: 2, y: 1 })).toEqual({ x: 1, y: 0 });
    expect(g('(vmax v)', { v: [3, 1, 3] }).v).toEqual([0.5, 0, 0.5]);
    expect(
      g('(vmin v)', {
        v: [
          [3, 1],
          [0, 2],
        ],
      }).v,
    ).toEqual([
      [0, 1],
      [1, 0],
    ]);
  });
  test('clamp is min(max(x, lo), hi): inside to x, outside to the bound, ties shared', () => {
    expect(g('(clamp x lo hi)', { x: 0.5, lo: 0, hi: 1 })).toEqual({ x: 1, lo: 0, hi: 0 });
    expect(g('(clamp x lo hi)', { x: -1, lo: 0, hi: 1 })).toEqual({ x: 0, lo: 1, hi: 0 });
    expect(g('(clamp x lo hi)', { x: 2, lo: 0, hi: 1 })).toEqual({ x: 0, lo: 0, hi: 1 });
    expect(g('(clamp x lo hi)', { x: 0, lo: 0, hi: 1 })).toEqual({ x: 0.5, lo: 0.5, hi: 0 });
    expect(g('(clamp x lo hi)', { x: 1, lo: 0, hi: 1 })).toEqual({ x: 0.5, lo: 0, hi: 0.5 });
    // one value as both bounds: the result is that value, so its gradient is 1
    expect(g('(clamp x p p)', { x: -9, p: 2 })).toEqual({ x: 0, p: 1 });
    // lo > hi: min(max(x, lo), hi) is hi
    expect(run('(clamp x lo hi)', { x: 0.5, lo: 1, hi: 0 }).value).toBe(0);
  });
  test('safe-sqrt, safe-log: gradient 0 where clamped, exact above', () => {
    expect(g('(+ (safe-sqrt x) (safe-log y))', { x: 0, y: -1 })).toEqual({ x: 0, y: 0 });
    expect(g('(+ (safe-sqrt x) (safe-log y))', { x: 4, y: 0.5 })).toEqual({ x: 0.25, y: 2 });
  });
  test('sqrt, log: IEEE gradients at 0', () => {
    expect(g('(sqrt x)', { x: 0 }).x).toBe(Infinity);
    expect(g('(log x)', { x: 0 }).x).toBe(Infinity);
  });
  test('pow: gradients at a zero base', () => {
    expect(g('(pow x y)', { x: 0, y: 2 })).toEqual({ x: 0, y: 0 });
    expect(g('(pow x y)', { x: 0, y: 0 })).toEqual({ x: 0, y: 0 });
    expect(g('(pow x y)', { x: 2, y: 3 })).toEqual({ x: 12, y: 8 * Math.LN2 });
    expect(run('(pow x y)', { x: 1, y: NaN }).value).toBe(1);
    expect(run('(pow x y)', { x: -8, y: 1 / 3 }).value).toBeNaN();
  });
  test('modulo and remainder: d/dy is -floor(x/y) and -trunc(x/y)', () => {
    expect(g('(modulo x y)', { x: -7, y: 2 })).toEqual({ x: 1, y: 4 });
    expect(g('(remainder x y)', { x: -7, y: 2 })).toEqual({ x: 1, y: 3 });
  });
  test('norm and normalize at the zero vector: finite, norm gradient 0', () => {
    expect(g('(norm v)', { v: [0, 0, 0] }).v).toEqual([0, 0, 0]);
    const r = run('(vsum (normalize v))', { v: [0, 0] });
    expect(r.value).toBe(0);
    expect(r.grad.v).toEqual([1e8, 1e8]);
  });
  test('comparisons with NaN are 0; NaN counts as nonzero in and/or/not/if', () => {
    expect(value('(= x x)', { x: NaN })).toBe(0);
    expect(value('(< x 1)', { x: NaN })).toBe(0);
    expect(value('(and x 1)', { x: NaN })).toBe(1);
    expect(value('(not x)', { x: NaN })).toBe(0);
    expect(value('(if x 1 2)', { x: NaN })).toBe(1);
  });
});

describe('vector and matrix values', () => {
  const v = [1, 2, 3];
  const w = [4, -5, 6];
  const m = [
    [1, 2, 3],
    [4, 5, 6],
  ];
  const cases: [string, Nested][] = [
    ['[1 2 3]', [1, 2, 3]],
    ['(vec x (* 2 x))', [0.5, 1]],
    ['(ref v 0)', 1],
    ['(ref v 2)', 3],
    ['(ref m 1)', [2, 5]],
    ['(ref v (- 3 2))', 2],
    ['(dot v w)', 4 - 10 + 18],
    ['(cross v w)', [2 * 6 - 3 * -5, 3 * 4 - 1 * 6, 1 * -5 - 2 * 4]],
    ['(cross [1 0 0] [0 1 0])', [0, 0, 1]],
    ['(norm [3 4])', 5],
    ['(normalize [3 4])', [0.6, 0.8]],
    ['(normalize [0 0])', [0, 0]],
    ['(vsum v)', 6],
    ['(vsum m)', [6, 15]],
    ['(vmean m)', [2, 5]],
    ['(vmax w)', 6],
    ['(vmin w)', -5],
    ['(vmax m)', [3, 6]],
    ['(vmin m)', [1, 4]],
    ['(scale 2 v)', [2, 4, 6]],
    [
      '(scale -1 m)',
      [
        [-1, -2, -3],
        [-4, -5, -6],
      ],
    ],
    ['(vlen v)', 3],
    ['(vlen m)', 3],
    ['(zeros 2)', [0, 0]],
    ['(ones 3)', [1, 1, 1]],
    ['(+ v 1)', [2, 3, 4]],
    [
      '(* 2 m)',
      [
        [2, 4, 6],
        [8, 10, 12],
      ],
    ],
    ['(- 1 v)', [0, -1, -2]],
    ['(max v 2)', [2, 2, 3]],
    ['(< v 2)', [1, 0, 0]],
    ['(mat v w)', [v, w]],
    ['(mat [1 2])', [[1, 2]]],
    [
      '(matmul m (transpose m))',
      [
        [14, 32],
        [32, 77],
      ],
    ],
    ['(matvec m v)', [14, 32]],
    [
      '(transpose m)',
      [
        [1, 4],
        [2, 5],
        [3, 6],
      ],
    ],
    ['(trace (mat [1 2] [3 4]))', 5],
    [
      '(outer [1 2] [3 4 5])',
      [
        [3, 4, 5],
        [6, 8, 10],
      ],
    ],
    [
      '(eye 2)',
      [
        [1, 0],
        [0, 1],
      ],
    ],
    [
      '(diag [1 2])',
      [
        [1, 0],
        [0, 2],
      ],
    ],
    ['(diag (mat [1 2] [3 4]))', [1, 4]],
    ['(det (mat [1 2] [3 4]))', -2],
    ['(det (mat [0 1] [1 0]))', -1],
    ['(det (mat [2 0 1] [1 3 2] [1 1 1]))', 2 * (3 - 2) - 0 + 1 * (1 - 3)],
    ['(det (mat [0 0 2] [0 3 0] [4 0 0]))', -24],
    ['(det (mat [1 2] [2 4]))', 0],
    ['(det (mat [0 0] [0 0]))', 0],
    ['(det (eye 4))', 1],
    [
      '(inv (mat [4 7] [2 6]))',
      [
        [0.6, -0.7],
        [-0.2, 0.4],
      ],
    ],
    [
      '(inv (mat [0 1] [1 0]))',
      [
        [0, 1],
        [1, 0],
      ],
    ],
    [
      '(inv (mat [2 0 0] [0 4 0] [0 0 0.5]))',
      [
        [0.5, 0, 0],
        [0, 0.25, 0],
        [0, 0, 2],
      ],
    ],
    ['(solve (mat [2 1] [1 3]) [3 5])', [0.8, 1.4]],
    ['(solve (mat [0 1] [1 0]) [3 5])', [5, 3]],
    [
      '(solve (mat [2 1] [1 3]) (mat [3 1] [5 0]))',
      [
        [0.8, 0.6],
        [1.4, -0.2],
      ],
    ],
  ];
  test.each(cases)('%s', (source, expected) => {
    expectClose(value(source, { v, w, m, x: 0.5 }), expected, 1e-14);
  });

  test('inv and solve of a random well-conditioned matrix: A inv(A) = I, A solve(A, b) = b', () => {
    const r = rng(5);
    for (let t = 0; t < 5; t++) {
      const a = WELL(4)(r);
      const b = VEC(4)(r);
      expectClose(
        value('(matmul a (inv a))', { a }),
        [
          [1, 0, 0, 0],
          [0, 1, 0, 0],
          [0, 0, 1, 0],
          [0, 0, 0, 1],
        ],
        1e-13,
      );
      expectClose(value('(matvec a (solve a b))', { a, b }), b, 1e-13);
    }
  });

  test('the gradient of det is det(A) inv(A)^T', () => {
    const r = rng(11);
    for (let t = 0; t < 5; t++) {
      const a = MAT(3, 3)(r);
      const { value: d, grad } = run('(det a)', { a });
      const invT = value('(transpose (inv a))', { a }) as number[][];
      expectClose(
        grad.a,
        invT.map((row) => row.map((x) => (d as number) * x)),
        1e-10,
      );
    }
  });

  test('the gradient of a singular det at a rank-1 matrix matches the adjugate where elimination runs', () => {
    // A = [[1 2] [2 4]]: d det / dA = [[4 -2] [-2 1]] (the adjugate transposed)
    expect(
      run('(det a)', {
        a: [
          [1, 2],
          [2, 4],
        ],
      }).grad.a,
    ).toEqual([
      [4, -2],
      [-2, 1],
    ]);
  });

  test('singular inv and solve give non-finite values', () => {
    expect(flatten(value('(inv (mat [1 2] [2 4]))')).some((x) => !Number.isFinite(x))).toBe(true);
    expect(flatten(value('(solve (mat [0 0] [0 0]) [1 1])')).some((x) => !Number.isFinite(x))).toBe(true);
  });

  test('shape errors and bad indices throw', () => {
    expect(() => value('(ref v 3)', { v })).toThrow(/index 3 is out of range/);
    expect(() => value('(ref v -1)', { v })).toThrow(/out of range/);
    expect(() => value('(ref v 0.5)', { v })).toThrow(/out of range/);
    expect(() => value('(ref m 3)', { m })).toThrow(/out of range/);
    expect(() => value('(+ v [1 2])', { v })).toThrow(/do not match/);
    expect(() => value('(dot v [1 2])', { v })).toThrow(/different lengths/);
    expect(() => value('(cross [1 2] [3 4])')).toThrow(/3-vectors/);
    expect(() => value('(det m)', { m })).toThrow(/square/);
    expect(() => value('(matmul m m)', { m })).toThrow(/inner sizes/);
    expect(() => value('(vsum 1)')).toThrow(/must be an array/);
    expect(() => value('(zeros 1.5)')).toThrow(/whole number/);
  });
});

describe('forms', () => {
  test('let is sequential; define values see the ones before them', () => {
    expect(value('(let ((a 2) (b (* a 3))) (+ a b))')).toBe(8);
    expect(value('(let* ((a x) (b (* a a))) b)', { x: 3 })).toBe(9);
    expect(value('(let ((a x)) (let ((a (* a a))) (+ a x)))', { x: 3 })).toBe(12);
    expect(value('(define a (* 2 x)) (define b (+ a 1)) (* a b)', { x: 3 })).toBe(42);
  });

  test('if and cond select by a nonzero test', () => {
    expect(value('(if (> x 0) 1 2)', { x: 3 })).toBe(1);
    expect(value('(if (> x 0) 1 2)', { x: -3 })).toBe(2);
    expect(value('(if 0.5 1 2)')).toBe(1);
    const src = '(cond ((< x 0) -1) ((< x 1) (* 10 x)) (else (square x)))';
    expect(value(src, { x: -5 })).toBe(-1);
    expect(value(src, { x: 0.5 })).toBe(5);
    expect(value(src, { x: 3 })).toBe(9);
    expect(run(src, { x: 0.5 }).grad.x).toBe(10);
    expect(run(src, { x: 3 }).grad.x).toBe(6);
  });

  test('if is lazy: NaN or inf in the untaken branch touches neither value nor gradient', () => {
    const r = run('(if (> x 0) (log x) (* 2 x))', { x: -1 });
    expect(r).toEqual({ value: -2, grad: { x: 2 } });
    const c = run('(cond ((<= x 0) (sqrt x)) (else (/ 1 (- x 5))))', { x: 5 });
    expect(c.value).toBe(Infinity); // the taken branch's own inf is honest
    const d = run('(cond ((> x 0) (sqrt x)) (else (* x (log x))))', { x: 4 });
    expect(d).toEqual({ value: 2, grad: { x: 0.25 } });
    // contrast: arithmetic selection evaluates both sides, and 0 * -inf is NaN
    expect(value('(+ (* (> x 0) (log x)) (* (<= x 0) (* 2 x)))', { x: -1 })).toBeNaN();
    // the untaken branch may even be an error
    expect(value('(if (> x 0) x (ref [1 2] 5))', { x: 1 })).toBe(1);
  });

  test('a vector if test selects element by element; cond tests must be scalar', () => {
    expect(value('(if [1 0 2] [1 2 3] [4 5 6])')).toEqual([1, 5, 3]);
    expect(value('(if [0 1] 7 [4 5])')).toEqual([4, 7]);
    expect(() => value('(cond ([1 2] 1) (else 2))')).toThrow(/scalar/);
  });

  test('define functions: call by value, recursion, mutual recursion', () => {
    expect(value('(define (f x) (* x x)) (f (+ y 1))', { y: 2 })).toBe(9);
    expect(value('(define (fact n) (if (<= n 1) 1 (* n (fact (- n 1))))) (fact 10)')).toBe(3628800);
    const evenOdd = `
      (define (even? n) (if (= n 0) 1 (odd? (- n 1))))
      (define (odd? n) (if (= n 0) 0 (even? (- n 1))))
      (even? 7)`;
    expect(value(evenOdd)).toBe(0);
    // x^n by recursion: d/dx = n x^(n-1)
    const powSrc = '(define (p x n) (if (= n 0) 1 (* x (p x (- n 1))))) (p x 5)';
    expect(run(powSrc, { x: 1.5 })).toEqual({ value: 1.5 ** 5, grad: { x: 5 * 1.5 ** 4 } });
  });

  test('letrec functions, including recursion and use of enclosing locals', () => {
    const src = `
      (let ((k 3))
        (letrec ((sum-to (lambda (n acc) (if (< n 1) acc (sum-to (- n 1) (+ acc (* k n)))))))
          (sum-to x 0)))`;
    expect(value(src, { x: 4 })).toBe(3 * 10);
    const nested = '(letrec ((f (lambda (a) (* a w)))) (letrec ((g (lambda (b) (f (+ b 1))))) (g x)))';
    expect(run(nested, { x: 2, w: 3 }, { params: ['w'] })).toEqual({ value: 9, grad: { x: 3, w: 3 } });
  });

  test('loop/recur iterates; the gradient flows through all iterations', () => {
    const src = '(loop ((i 0) (acc 1)) (if (< i 10) (recur (+ i 1) (* acc x)) acc))';
    const r = run(src, { x: 1.1 });
    expectClose(r.value, 1.1 ** 10, 1e-14);
    expectClose(r.grad.x, 10 * 1.1 ** 9, 1e-14);
    // recur rebinds all at once from the old values (Fibonacci)
    expect(value('(loop ((i 0) (a 0) (b 1)) (if (< i 10) (recur (+ i 1) b (+ a b)) a))')).toBe(55);
    // the recur may sit in cond and let tail positions
    const collatz = `(loop ((n 27) (steps 0))
      (cond ((= n 1) steps)
            ((= (modulo n 2) 0) (let ((h (/ n 2))) (recur h (+ steps 1))))
            (else (recur (+ (* 3 n) 1) (+ steps 1)))))`;
    expect(value(collatz)).toBe(111);
  });

  test('nested loops: recur targets the innermost loop', () => {
    const src = `(loop ((i 0) (total 0))
      (if (< i 4)
          (recur (+ i 1) (+ total (loop ((j 0) (s 0)) (if (< j i) (recur (+ j 1) (+ s x)) s))))
          total))`;
    // sum over i < 4 of i * x = 6x
    expect(run(src, { x: 2 })).toEqual({ value: 12, grad: { x: 6 } });
  });

  test('gradients through forms match central differences', () => {
    const r = rng(3);
    const srcs: [string, Record<string, Sampler>][] = [
      ['(let ((a (* x y)) (b (sin a))) (+ (* a b) (square b)))', { x: S, y: S }],
      ['(if (> (vsum v) 0) (norm v) (dot v v))', { v: VEC(3) }],
      ['(define (f u) (tanh (matvec w u))) (vsum (f (f v)))', { v: VEC(3), w: MAT(3, 3) }],
      [
        '(loop ((i 0) (u v)) (if (< i 5) (recur (+ i 1) (normalize (+ u (scale 0.1 (cross u w))))) (dot u w)))',
        { v: VEC(3), w: VEC(3) },
      ],
      ['(letrec ((f (lambda (n a) (if (= n 0) a (f (- n 1) (sin (* a y))))))) (f 4 x))', { x: S, y: S }],
    ];
    for (const [src, samplers] of srcs) for (let t = 0; t < 3; t++) checkGradient(src, sample(samplers, r));
  });

  test('recursion depth limit: an Error naming the function', () => {
    const src = '(define (down n) (if (<= n 0) 0 (+ 1 (down (- n 1))))) (down x)';
    expect(value(src, { x: 50 })).toBe(50);
    // (down n) makes n + 1 nested calls; the limit bounds the number of active calls
    expect(() => run(src, { x: 49 }, { limit: 50 })).not.toThrow();
    expect(() => run(src, { x: 50 }, { limit: 50 })).toThrow(/recursion depth limit 50 exceeded in function 'down'/);
    expect(() => value('(define (forever n) (forever (+ n 1))) (forever 0)')).toThrow(/'forever'/);
  });

  test('deep recursion up to the default limit does not overflow the JS stack', () => {
    const src = '(define (down n) (if (<= n 0) 0 (+ x (down (- n 1))))) (down 9999)'; // 10,000 active calls
    expect(run(src, { x: 1.5 })).toEqual({ value: 14998.5, grad: { x: 9999 } });
    expect(() => value('(define (down n) (if (<= n 0) 0 (+ 1 (down (- n 1))))) (down 10000)')).toThrow(
      /limit 10000.*'down'/,
    );
    // far beyond what the JS stack would hold if the interpreter recursed on it
    expect(run(src.replace('9999', '199999'), { x: 1 }, { limit: 200_000 }).value).toBe(199999);
  });

  test('loop iteration limit: at most `limit` evaluations of the body, then an Error naming the loop', () => {
    const src = '(loop ((i 1) (acc 0)) (if (< i n) (recur (+ i 1) (+ acc x)) acc))';
    expect(run(src, { n: 10000, x: 0.5 })).toEqual({ value: 4999.5, grad: { n: 0, x: 9999 } });
    expect(() => run(src, { n: 10, x: 0 }, { limit: 10 })).not.toThrow();
    expect(() => run(src, { n: 11, x: 0 }, { limit: 10 })).toThrow(/loop \(i acc\).*iteration limit 10/);
    expect(() => value('(loop ((i 0)) (recur i))')).toThrow(/loop \(i\).*iteration limit 10000/);
  });

  test('recur outside a tail position is an Error', () => {
    expect(() => value('(loop ((i 0)) (+ 1 (recur i)))')).toThrow(/tail position/);
  });
});

describe('evaluateReference interface', () => {
  test('missing values: an Error naming them', () => {
    expect(() => run('(* x w b)', { x: 1 }, { params: ['w', 'b'] })).toThrow(/missing values for 'w', 'b'/);
  });

  test('grad has every input and param, shaped like its value, zero when unused', () => {
    const r = run('(define (unused q) q) (+ x 0)', { x: [[1, 2]], w: 5 }, { params: [] });
    expect(r.grad).toEqual({ x: [[1, 1]] });
    const p = parse('(if (> x 0) x w)', ['w']);
    expect(evaluateReference(p, { x: 1, w: [1, 2] }).grad).toEqual({ x: 1, w: [0, 0] });
  });

  test('a value used twice accumulates both gradient contributions', () => {
    expect(run('(* x x x)', { x: 2 }).grad.x).toBe(12);
    expect(run('[x x]', { x: 2 }).grad.x).toBe(2);
  });

  test('batched: leading batch dimension on value and batched grads; shared params sum over the batch', () => {
    const src = '(+ (* w x) b)';
    const r = run(src, { x: [1, 2, 3], w: 2, b: 0.5 }, { params: ['w', 'b'], batched: ['x'] });
    expect(r.value).toEqual([2.5, 4.5, 6.5]);
    expect(r.grad).toEqual({ x: [2, 2, 2], w: 6, b: 3 });
    // vector samples with a matrix param
    const lin = run(
      '(vsum (tanh (matvec W x)))',
      {
        x: [
          [1, 0],
          [0, 1],
        ],
        W: [
          [0.1, 0.2],
          [0.3, 0.4],
        ],
      },
      { params: ['W'], batched: ['x'] },
    );
    const t = (z: number) => 1 - Math.tanh(z) ** 2;
    expectClose(lin.value, [Math.tanh(0.1) + Math.tanh(0.3), Math.tanh(0.2) + Math.tanh(0.4)], 1e-15);
    expectClose(
      lin.grad.W,
      [
        [t(0.1), t(0.2)],
        [t(0.3), t(0.4)],
      ],
      1e-15,
    );
    expectClose(
      lin.grad.x,
      [
        [t(0.1) * 0.1 + t(0.3) * 0.3, t(0.1) * 0.2 + t(0.3) * 0.4],
        [t(0.2) * 0.1 + t(0.4) * 0.3, t(0.2) * 0.2 + t(0.4) * 0.4],
      ],
      1e-15,
    );
  });

  test('batched if is per sample: each sample takes its own branch', () => {
    const r = run('(if (> x 0) (log x) (* 2 x))', { x: [-1, Math.E] }, { batched: ['x'] });
    expect(r.value).toEqual([-2, 1]);
    expect(r.grad.x).toEqual([2, 1 / Math.E]);
  });

  test('batched loops run a different number of iterations per sample', () => {
    const src = '(loop ((i 0) (a 1)) (if (< i n) (recur (+ i 1) (* a x)) a))';
    const r = run(src, { n: [1, 2, 3], x: 1.5 }, { batched: ['n'], params: ['x'] });
    expect(r.value).toEqual([1.5, 1.5 ** 2, 1.5 ** 3]);
    expect(r.grad).toEqual({ n: [0, 0, 0], x: 1 + 2 * 1.5 + 3 * 1.5 ** 2 });
  });

  test('batch errors', () => {
    expect(() => run('(+ x y)', { x: [1, 2], y: [1, 2, 3] }, { batched: ['x', 'y'] })).toThrow(/different batch sizes/);
    expect(() => run('(+ x w)', { x: 1, w: [1] }, { batched: ['w'], params: ['w'] })).toThrow(/not an input/);
    expect(() => run('x', { x: 1 }, { batched: ['x'] })).toThrow(/leading batch dimension/);
  });

  test('malformed values throw', () => {
    expect(() => run('x', { x: [[1, 2], [3]] })).toThrow(/'x'/);
    expect(() => run('x', { x: [[[[1]]]] })).toThrow(/'x'/);
  });
});

describe('float32 rounding (how the fuzzer judges what float32 can compute)', () => {
  test('constants and every step round to float32: a floor tips over as it does in float32', () => {
    const source = '(floor (* 4 (sigmoid (* 20 (+ x 0.12)))))';
    // sigmoid(22.4) is 1 - 1.9e-10: below 1 in float64, exactly 1 once rounded to float32.
    expect(run(source, { x: 1 }).value).toBe(3);
    expect(run(source, { x: 1 }, { mode: { float32Rounding: 'nearest' } }).value).toBe(4);
    expect(Math.fround(1 / (1 + Math.exp(-22.4)))).toBe(1);
  });

  test('local derivatives come from rounded values: 1 - tanh^2 cancels at saturation', () => {
    const exact = run('(tanh x)', { x: 9 });
    const rounded = run('(tanh x)', { x: 9 }, { mode: { float32Rounding: 'nearest' } });
    expect(exact.grad.x).toBeCloseTo(1 - Math.tanh(9) ** 2, 20); // about 6e-8
    const t = Math.fround(Math.tanh(9));
    expect(rounded.grad.x).toBe(Math.fround(1 - t * t)); // float32 tanh(9) is 1 - 2^-24 or 1
    expect(Math.abs((rounded.grad.x as number) - (exact.grad.x as number))).toBeGreaterThan(1e-9);
  });

  test('directed rounding brackets the nearest float32 by one float32 step', () => {
    const third = (direction: 'up' | 'down' | 'nearest') =>
      run('(/ x 3)', { x: 1 }, { mode: { float32Rounding: direction } }).value as number;
    const [down, nearest, up] = [third('down'), third('nearest'), third('up')];
    expect(down).toBeLessThan(1 / 3);
    expect(up).toBeGreaterThan(1 / 3);
    expect([down, up]).toContain(nearest);
    expect(Math.fround(up)).toBe(up);
    expect(Math.fround(down)).toBe(down);
    expect(up - down).toBe(2 ** -25); // one float32 step in [1/4, 1/2)
    // exact values stay put
    expect(run('(* x 2)', { x: 0.5 }, { mode: { float32Rounding: 'up' } }).value).toBe(1);
  });

  test('the mode ends with the evaluation, even one that throws', () => {
    expect(() =>
      run('(loop ((k 0)) (recur (+ k 1)))', {}, { mode: { float32Rounding: 'nearest' }, limit: 10 }),
    ).toThrow();
    expect(run('(+ x 0.1)', { x: 0.2 }).value).toBe(0.2 + 0.1);
  });
});

test('the zero min and max give for tied +0 and -0 follows the mode (libtorch leaves it unspecified)', () => {
  const sign = (x: Nested) => (Object.is(x, -0) ? '-0' : Object.is(x, 0) ? '+0' : String(x));
  const at = { a: 0, b: -0 };
  expect([sign(run('(min a b)', at).value), sign(run('(max b a)', at).value)]).toEqual(['-0', '+0']);
  const first = { mode: { zeroTies: 'first' as const } };
  expect([sign(run('(min a b)', at, first).value), sign(run('(max b a)', at, first).value)]).toEqual(['+0', '-0']);
  // Otherwise the two agree, NaN included, and ties still share the gradient.
  expect(run('(min a b c)', { a: 2, b: NaN, c: 1 }, first).value).toBeNaN();
  expect(run('(max a b)', { a: 3, b: 3 }, first).grad).toEqual({ a: 0.5, b: 0.5 });
});

test('degenerate gradients follow libtorch: atan2 at the origin, modulo of an infinite or by an infinite value', () => {
  expect(run('(atan2 y x)', { y: 0, x: -0 }).grad).toEqual({ y: 0, x: 0 });
  // d/dy modulo(x, y) = -floor(x / y), floor division through fmod as in c10::div_floor_floating
  expect(run('(modulo x y)', { x: Infinity, y: -0.768 }).grad.y).toBeNaN();
  expect(run('(modulo x y)', { x: -3, y: Infinity }).grad).toEqual({ x: 1, y: 1 });
  expect(run('(modulo x y)', { x: 7, y: 2 }).grad).toEqual({ x: 1, y: -3 });
  expect(run('(modulo x y)', { x: -7, y: 2 }).grad).toEqual({ x: 1, y: 4 });
});

test('backward multiplies as libtorch does; only selections mask a NaN upstream gradient', () => {
  // d(1/(0 x))/dx = -inf * 0: NaN, as libtorch gives
  expect(run('(/ (* 0 x))', { x: 1 }).grad.x).toBeNaN();
  // through if (a selection) the untaken branch's NaN does not reach x
  expect(run('(if (> x 0) x (/ (* 0 x)))', { x: 1 }).grad.x).toBe(1);
  // sign of NaN is 0 as in libtorch; rounding keeps its edge, so 0 * NaN below it is NaN
  expect(run('(sign (log x))', { x: -1 }).value).toBe(0);
  expect(run('(floor (/ (* 0 x)))', { x: 1 }).grad.x).toBeNaN();
  // a comparison has no edge at all
  expect(run('(< (/ (* 0 x)) 1)', { x: 1 }).grad.x).toBe(0);
});
