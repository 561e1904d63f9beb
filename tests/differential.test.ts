// Every primitive and form, native (float64) against the reference interpreter: values and gradients
// within 1e-12 relative, on seeded random inputs, one sample and a batch of four.
import * as fs from 'fs';
import * as path from 'path';
import { main } from '../src/cli/main';
import { run } from '../src/api';
import { parseProgram } from '../src/frontend';
import { PRIMITIVES } from '../src/ops';
import type { Nested } from '../src/runtime/host-data';
import { differences, random } from './helpers/differential';

type Gen<T extends Nested = Nested> = (r: () => number) => T;
const U =
  (lo: number, hi: number): Gen<number> =>
  (r) =>
    lo + (hi - lo) * r();
const AWAY =
  (lo: number, hi: number): Gen<number> =>
  (r) =>
    (r() < 0.5 ? -1 : 1) * U(lo, hi)(r);
const INT =
  (lo: number, hi: number): Gen<number> =>
  (r) =>
    lo + Math.floor((hi - lo + 1) * r());
const VEC =
  (n: number, g: Gen = U(-2, 2)): Gen<Nested[]> =>
  (r) =>
    Array.from({ length: n }, () => g(r));
const MAT =
  (rows: number, cols: number, g: Gen = U(-2, 2)): Gen<Nested[][]> =>
  (r) =>
    Array.from({ length: rows }, () => VEC(cols, g)(r));
/** Well-conditioned square matrices: random plus a dominant diagonal. */
const SPD =
  (n: number): Gen =>
  (r) =>
    MAT(n, n, U(-1, 1))(r).map((row, i) => (row as number[]).map((v, j) => (i === j ? v + n + 1 : v)));

interface DiffCase {
  name: string;
  source: string;
  inputs: Record<string, Gen>;
  params?: Record<string, Gen>;
}

const ANY = U(-2, 2);
const POS = U(0.2, 3);
const DOMAIN: Record<string, Gen> = {
  sqrt: POS,
  rsqrt: POS,
  log: POS,
  'safe-sqrt': U(-1, 3),
  'safe-log': U(-1, 3),
  asin: U(-0.9, 0.9),
  acos: U(-0.9, 0.9),
  log1p: U(-0.5, 2),
  tan: U(-1.2, 1.2),
  '/': AWAY(0.3, 2),
};
const UNARY = PRIMITIVES.filter(
  (p) => p.group !== 'vector' && p.group !== 'matrix' && p.group !== 'grid' && p.minArgs <= 1 && p.name !== 'clamp',
).map((p) => p.name);
const BINARY = PRIMITIVES.filter(
  (p) =>
    (p.group === 'arithmetic' || p.group === 'transcendental' || p.group === 'comparison') &&
    p.minArgs <= 2 &&
    p.maxArgs >= 2,
).map((p) => p.name);
const DIVISORS = new Set(['/', 'quotient', 'modulo', 'remainder']);

const cases: DiffCase[] = [
  ...UNARY.flatMap((op): DiffCase[] => [
    { name: `(${op} x) scalar`, source: `(${op} x)`, inputs: { x: DOMAIN[op] ?? ANY } },
    { name: `(${op} v) vector`, source: `(${op} v)`, inputs: { v: VEC(3, DOMAIN[op] ?? ANY) } },
  ]),
  ...BINARY.flatMap((op): DiffCase[] => {
    const x = op === 'pow' ? U(0.5, 2) : ANY;
    const y = DIVISORS.has(op) ? AWAY(0.5, 2) : ANY;
    return [
      { name: `(${op} x y)`, source: `(${op} x y)`, inputs: { x, y } },
      { name: `(${op} v y) vector with scalar`, source: `(${op} v y)`, inputs: { v: VEC(3, x), y } },
      { name: `(${op} x w) scalar with vector`, source: `(${op} x w)`, inputs: { x, w: VEC(3, y) } },
      { name: `(${op} A y) matrix with scalar`, source: `(${op} A y)`, inputs: { A: MAT(2, 3, x), y } },
    ];
  }),
  ...['+', '-', '*', '/', 'min', 'max', 'and', 'or'].map((op) => ({
    name: `(${op} x y z) n-ary`,
    source: `(${op} x y z)`,
    inputs: { x: ANY, y: AWAY(0.5, 2), z: AWAY(0.5, 2) },
  })),
  { name: '(= x x) equal', source: '(* (= x x) (+ x 1))', inputs: { x: ANY } },
  { name: 'clamp', source: '(clamp x lo hi)', inputs: { x: ANY, lo: U(-1, -0.5), hi: U(0.5, 1) } },
  { name: 'clamp vector', source: '(clamp v lo hi)', inputs: { v: VEC(4), lo: U(-1, -0.5), hi: U(0.5, 1) } },
  // vectors
  { name: 'vec', source: '(vec x (* 2 y) z)', inputs: { x: ANY, y: ANY, z: ANY } },
  { name: 'vector literal', source: '[x (sin y) 3]', inputs: { x: ANY, y: ANY } },
  { name: 'ref constant index', source: '(ref v 1)', inputs: { v: VEC(3) } },
  { name: 'ref data index', source: '(ref v i)', inputs: { v: VEC(4), i: INT(0, 3) } },
  { name: 'ref column of a matrix', source: '(ref A i)', inputs: { A: MAT(2, 3), i: INT(0, 2) } },
  { name: 'dot', source: '(dot v w)', inputs: { v: VEC(3), w: VEC(3) } },
  { name: 'cross', source: '(cross v w)', inputs: { v: VEC(3), w: VEC(3) } },
  { name: 'norm', source: '(norm v)', inputs: { v: VEC(3) } },
  { name: 'normalize', source: '(normalize v)', inputs: { v: VEC(3) } },
  ...['vsum', 'vmean', 'vmax', 'vmin'].flatMap((op): DiffCase[] => [
    { name: `${op} vector`, source: `(${op} v)`, inputs: { v: VEC(4) } },
    { name: `${op} matrix rows`, source: `(${op} A)`, inputs: { A: MAT(2, 3) } },
  ]),
  { name: 'scale vector', source: '(scale x v)', inputs: { x: ANY, v: VEC(3) } },
  { name: 'scale matrix', source: '(scale x A)', inputs: { x: ANY, A: MAT(2, 2) } },
  { name: 'vlen', source: '(* x (vlen v))', inputs: { x: ANY, v: VEC(5) } },
  { name: 'zeros and ones', source: '(+ (* v (ones 3)) (zeros 3))', inputs: { v: VEC(3) } },
  // matrices
  { name: 'mat', source: '(mat v w)', inputs: { v: VEC(3), w: VEC(3) } },
  { name: 'matmul', source: '(matmul A B)', inputs: { A: MAT(2, 3), B: MAT(3, 2) } },
  { name: 'matvec', source: '(matvec A v)', inputs: { A: MAT(2, 3), v: VEC(3) } },
  { name: 'transpose', source: '(transpose A)', inputs: { A: MAT(2, 3) } },
  { name: 'trace', source: '(trace S)', inputs: { S: MAT(3, 3) } },
  { name: 'det', source: '(det S)', inputs: { S: SPD(3) } },
  { name: 'inv', source: '(inv S)', inputs: { S: SPD(3) } },
  { name: 'solve vector', source: '(solve S b)', inputs: { S: SPD(3), b: VEC(3) } },
  { name: 'solve matrix', source: '(solve S B)', inputs: { S: SPD(3), B: MAT(3, 2) } },
  { name: 'outer', source: '(outer v w)', inputs: { v: VEC(2), w: VEC(3) } },
  { name: 'eye', source: '(+ S (eye 3))', inputs: { S: MAT(3, 3) } },
  { name: 'diag of a vector', source: '(diag v)', inputs: { v: VEC(3) } },
  { name: 'diag of a matrix', source: '(diag S)', inputs: { S: MAT(3, 3) } },
  // grids (tests/grid.test.ts tries each on every rank)
  { name: 'roll', source: '(* (roll A -1 1) B)', inputs: { A: MAT(2, 3), B: MAT(2, 3) } },
  { name: 'pad-edge', source: '(* (pad-edge v 2) w)', inputs: { v: VEC(3), w: VEC(7) } },
  { name: 'pad-wrap', source: '(* (pad-wrap A 1) B)', inputs: { A: MAT(2, 2), B: MAT(4, 4) } },
  { name: 'pad-const', source: '(* (pad-const v 1 x) w)', inputs: { v: VEC(2), x: ANY, w: VEC(4) } },
  { name: 'laplacian', source: '(laplacian A h)', inputs: { A: MAT(3, 4), h: AWAY(0.5, 2) } },
  { name: 'diff', source: '(* (diff A 0 h) B)', inputs: { A: MAT(3, 2), h: AWAY(0.5, 2), B: MAT(2, 2) } },
  { name: 'central-diff', source: '(* (central-diff v 0) w)', inputs: { v: VEC(4), w: VEC(2) } },
  { name: 'slice and concat', source: '(* (concat 0 (slice v 0 1 3) v) w)', inputs: { v: VEC(3), w: VEC(5) } },
  ...['sum-all', 'mean-all', 'max-all', 'min-all'].map((op) => ({
    name: op,
    source: `(* (${op} A) x)`,
    inputs: { A: MAT(2, 3), x: ANY },
  })),
  { name: 'conv 1-D', source: '(conv u k)', inputs: { u: VEC(6), k: VEC(3) } },
  { name: 'conv 2-D', source: '(conv u k)', inputs: { u: MAT(4, 5), k: MAT(2, 3) } },
  {
    name: 'tridiagonal-solve, diagonally dominant, rows sharing coefficients',
    source: '(tridiagonal-solve l (+ 5 d) r B)',
    inputs: { l: VEC(3, U(-1, 1)), d: VEC(4), r: VEC(3, U(-1, 1)), B: MAT(2, 4) },
  },
  // forms
  { name: 'let is sequential', source: '(let ((a (* x 2)) (b (+ a 1))) (* a b))', inputs: { x: ANY } },
  { name: 'if', source: '(if (> x 0) (sqrt x) (* x x))', inputs: { x: ANY } },
  { name: 'if with NaN in the branch not taken', source: '(if (> x 0) (sqrt x) 0)', inputs: { x: ANY } },
  { name: 'if choosing vectors', source: '(if (> x 0) v w)', inputs: { x: ANY, v: VEC(3), w: VEC(3) } },
  { name: 'if with one constant branch', source: '(if (> x 0) (* G x) 1)', inputs: { x: ANY }, params: { G: U(1, 2) } },
  {
    name: 'elementwise if on a vector test',
    source: '(if (> v 0) v (* v G))',
    inputs: { v: VEC(4) },
    params: { G: U(1, 2) },
  },
  { name: 'cond', source: '(cond ((< x -1) (* x 2)) ((< x 1) (sin x)) (else (log x)))', inputs: { x: U(-3, 3) } },
  {
    name: 'loop with per-sample trip counts',
    source: '(loop ((i 0) (acc 1)) (if (< i n) (recur (+ i 1) (* acc x)) acc))',
    inputs: { n: INT(0, 5), x: U(0.5, 1.5) },
  },
  {
    name: 'loop with vector state',
    source: '(loop ((k 0) (p v)) (if (< k 3) (recur (+ k 1) (scale G p)) p))',
    inputs: { v: VEC(3) },
    params: { G: U(0.4, 0.6) },
  },
  {
    name: 'branching inside a loop',
    source: '(loop ((i 0) (s 0)) (if (>= i n) s (if (> x 0) (recur (+ i 1) (+ s x)) (recur (+ i 2) (- s (* x x))))))',
    inputs: { n: INT(0, 6), x: ANY },
  },
  {
    name: 'loop inside if',
    source: '(if (> x 0) (loop ((k 0) (y x)) (if (< k 3) (recur (+ k 1) (sqrt y)) y)) (- x))',
    inputs: { x: ANY },
  },
  {
    name: 'recursive factorial',
    source: '(define (fact n) (if (<= n 1) 1 (* n (fact (- n 1))))) (* (fact k) x)',
    inputs: { k: INT(0, 6), x: ANY },
  },
  {
    name: 'letrec gcd',
    source: '(letrec ((gcd (lambda (a b) (if (= b 0) a (gcd b (modulo a b)))))) (* x (gcd m n)))',
    inputs: { m: INT(1, 40), n: INT(0, 40), x: ANY },
  },
  {
    name: 'mutual recursion',
    source: '(define (ev? n) (if (= n 0) 1 (od? (- n 1)))) (define (od? n) (if (= n 0) 0 (ev? (- n 1)))) (* x (ev? k))',
    inputs: { k: INT(0, 7), x: ANY },
  },
  {
    name: 'function reading a param',
    source: '(define (f z) (* G (sin z))) (+ (f x) (f (* 2 x)))',
    inputs: { x: ANY },
    params: { G: U(1, 2) },
  },
  { name: 'define value', source: '(define k (* 2 x)) (+ k (* k G))', inputs: { x: ANY }, params: { G: U(1, 2) } },
  {
    name: 'letrec closing over a local',
    source: '(let ((c (* x 3))) (letrec ((f (lambda (z) (* c z)))) (f (+ x 1))))',
    inputs: { x: ANY },
  },
  { name: 'pi', source: '(* pi x)', inputs: { x: ANY } },
];

/**
 * Example programs: every free name is fed as an input, a scalar in [0.5, 2] unless listed here
 * (shapes for vector programs, whole numbers for the loop examples, a v below c for Lorentz).
 */
const EXAMPLE_INPUTS: Record<string, Record<string, Gen>> = {
  'heat_step.neural': { u: VEC(10), L: MAT(10, 10) },
  'gravity_3d.neural': { r: VEC(3, U(1, 2)) },
  'loops/even_odd.neural': { n: INT(0, 9) },
  'loops/factorial.neural': { n: INT(0, 8) },
  'loops/gcd.neural': { a: INT(1, 60), b: INT(0, 60) },
  'loops/sum_to_n.neural': { n: INT(0, 20) },
  'feynman/lorentz_factor.neural': { v: U(0.1, 0.9), c: U(1, 2) },
  'feynman/relativistic_energy.neural': { v: U(0.1, 0.9), c: U(1, 2) },
  // grids: small fields (the spacing is the program's, so the steps stay stable)
  'grids/heat2d_zero_flux.neural': { u0: MAT(6, 5), s: MAT(6, 5), steps: INT(0, 4), alpha: U(0.001, 0.002) },
  'grids/heat2d_periodic.neural': { u0: MAT(5, 6), steps: INT(0, 4), alpha: U(0.5, 1) },
  'grids/heat1d_implicit.neural': { u0: VEC(128, U(0.5, 2)), steps: INT(0, 3), alpha: U(0.5, 1) },
  'grids/learned_stencil.neural': { u0: MAT(5, 4), steps: INT(0, 3), K: MAT(3, 3, U(-0.1, 0.1)) },
  'grids/gray_scott.neural': {
    u0: MAT(4, 5, U(0, 1)),
    v0: MAT(4, 5, U(0, 1)),
    steps: INT(0, 3),
    F: U(0.02, 0.06),
    k: U(0.05, 0.07),
  },
};

function exampleCases(): (DiffCase & { file: string })[] {
  const dir = path.join(__dirname, '..', 'examples');
  const files: string[] = [];
  const visit = (d: string) =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .forEach((e) =>
        e.isDirectory() ? visit(path.join(d, e.name)) : e.name.endsWith('.neural') && files.push(path.join(d, e.name)),
      );
  visit(dir);
  return files.map((file) => {
    const source = fs.readFileSync(file, 'utf8');
    const rel = path.relative(dir, file);
    const { program } = parseProgram(source);
    if (!program) throw new Error(`example ${rel} does not check`);
    const inputs = Object.fromEntries(program.inputs.map((name) => [name, EXAMPLE_INPUTS[rel]?.[name] ?? U(0.5, 2)]));
    return { name: `example ${rel}`, source, inputs, file };
  });
}

/** `neuralc eval FILE --grad --dtype float64 --json`, in-process; its parsed JSON result. */
async function evalCommand(
  file: string,
  c: { inputs: Record<string, Nested>; params: Record<string, Nested>; batch: boolean },
): Promise<unknown> {
  let stdout = '';
  let stderr = '';
  const argv = [
    'eval',
    file,
    '--inputs',
    JSON.stringify(c.inputs),
    '--params',
    JSON.stringify(c.params),
    '--grad',
    '--dtype',
    'float64',
    '--json',
  ];
  const io = {
    stdout: (t: string) => (stdout += t),
    stderr: (t: string) => (stderr += t),
    readFile: (p: string) => fs.readFileSync(p),
  };
  const code = await main(c.batch ? [...argv, '--batch'] : argv, io);
  if (code !== 0) throw new Error(`neuralc eval exited with ${code}: ${stderr}`);
  return JSON.parse(stdout);
}

const BATCH = 4;

function draw(c: DiffCase, seed: number, batch: boolean) {
  const r = random(seed);
  const sample = (g: Gen) => (batch ? Array.from({ length: BATCH }, () => g(r)) : g(r));
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, g]) => [k, sample(g)]));
  const params = Object.fromEntries(Object.entries(c.params ?? {}).map(([k, g]) => [k, g(r)]));
  return { inputs, params, batch };
}

describe('native float64 equals the reference interpreter', () => {
  test('the cases cover every primitive', () => {
    const used = new Set<string>();
    for (const c of cases) for (const m of c.source.matchAll(/\(([^\s()[\]]+)/g)) used.add(m[1]);
    const missing = PRIMITIVES.map((p) => p.name).filter((n) => !used.has(n));
    expect(missing).toEqual([]);
  });

  describe.each([false, true])('batched: %s', (batch) => {
    test.each(cases.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, i) => {
      for (let trial = 0; trial < 3; trial++)
        expect(differences(c.source, draw(c, 1000 * i + trial, batch))).toEqual({ problems: [], unstable: 0 });
    });
  });

  test.each(exampleCases().map((c) => [c.name, c] as const))('%s, through run and neuralc eval', async (_name, c) => {
    for (const batch of [false, true]) {
      const input = draw(c, 7, batch);
      expect(differences(c.source, input)).toEqual({ problems: [], unstable: 0 });
      // the command line gives exactly what run gives (checked above against the reference)
      const direct = run(c.source, { ...input, grad: true, dtype: 'float64' });
      expect(await evalCommand(c.file, input)).toEqual(JSON.parse(JSON.stringify(direct)));
    }
  });
});
