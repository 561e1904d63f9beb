// Golden files of the op graph after each phase of the pure pipeline (lowering, the passes, fusion)
// for programs covering every form, batching, loops, calls, composition and fusion. No libtorch:
// the pipeline is a pure function of the program. A missing or changed golden fails; write them on
// purpose with UPDATE_GOLDEN=1 (tests/README.md).
import fs from 'fs';
import path from 'path';
import type { External } from '../src/compiler/lower';
import { compileGraph, type Phase } from '../src/compiler/pipeline';
import { graphToText } from '../src/compiler/print';
import { parseProgram } from '../src/frontend';
import type { Shape } from '../src/ops';

const DIR = path.join(__dirname, 'golden', 'ir');

interface Case {
  name: string;
  source: string;
  /** Per-sample shape and whether it carries the batch dimension; every input in program order. */
  inputs: Record<string, [Shape, boolean]>;
  params?: Record<string, Shape>;
  externals?: Record<string, External>;
}

const S: Shape = [];
const scalar = (batched = false): [Shape, boolean] => [S, batched];
const vector = (n: number, batched = false): [Shape, boolean] => [[n], batched];

/** A program given to another as a function: parsed (and so resolved) on its own. */
function inlined(source: string, inputs: string[], params: string[], paramOffset: number): External {
  const parsed = parseProgram(source, { inputs, params });
  return {
    kind: 'program',
    program: parsed.program!,
    source: parsed.source,
    paramOffset,
    externals: new Map(),
    inputs,
    inputShapes: inputs.map(() => undefined),
  };
}

const CASES: Case[] = [
  { name: 'arithmetic', source: '(+ x (* 2 3) (- y))', inputs: { x: scalar(), y: scalar() } },
  { name: 'folding and sharing', source: '(+ (* (sin x) (sin x)) (* (+ 1 2) (sqrt 4)))', inputs: { x: scalar() } },
  { name: 'dead code', source: '(let ((unused (exp x)) (kept (cos x))) kept)', inputs: { x: scalar() } },
  {
    name: 'gravity batched',
    source: '(/ (* G (* m1 m2)) (pow r 2))',
    inputs: { m1: scalar(true), m2: scalar(true), r: scalar(true) },
    params: { G: S },
  },
  {
    name: 'fused chain',
    source: '(* (exp (- (* k t))) (sin (+ (* w t) phase)))',
    inputs: { t: scalar(true) },
    params: { k: S, w: S, phase: S },
  },
  {
    name: 'fusion stops at a shared value',
    source: '(let ((s (sin x))) (+ (* s s) (vsum (vec s s))))',
    inputs: { x: scalar(true) },
  },
  {
    name: 'scalar broadcast to a vector batch',
    source: '(+ v (* a 2))',
    inputs: { v: vector(3, true), a: scalar(true) },
  },
  { name: 'unbatched result of a batched call', source: '(* 2 c)', inputs: { c: scalar(), x: scalar(true) } },
  {
    name: 'vectors',
    source: '(let ((u [x (* 2 x) 3])) (+ (dot u u) (norm (cross u [0 0 1])) (ref u 1)))',
    inputs: { x: scalar() },
  },
  { name: 'ref at a run-time index', source: '(ref v (floor i))', inputs: { v: vector(4), i: scalar() } },
  {
    name: 'matrices',
    source: '(matvec (inv (+ A (eye 2))) (solve A b))',
    inputs: { A: [[2, 2], false], b: vector(2) },
  },
  {
    name: 'define and function',
    source: '(define half 0.5)\n(define (sq z) (* z z))\n(* half (sq x))',
    inputs: { x: scalar(true) },
  },
  { name: 'scalar if batched', source: '(if (> x 0) (sqrt x) (- x))', inputs: { x: scalar(true) } },
  { name: 'vector if', source: '(if (> v 0) v (neg v))', inputs: { v: vector(3) } },
  { name: 'cond', source: '(cond ((< x -1) -1) ((> x 1) 1) (else x))', inputs: { x: scalar() } },
  {
    name: 'loop',
    source: '(loop ((i 1) (acc 0)) (if (> i n) acc (recur (+ i 1) (+ acc i))))',
    inputs: { n: scalar(true) },
  },
  {
    name: 'loop with a branching tail',
    source: '(loop ((k 0) (x a)) (if (>= k 20) x (recur (+ k 1) (* 0.5 (+ x (/ a x))))))',
    inputs: { a: scalar() },
  },
  {
    name: 'loop over a field, checkpointed',
    source: '(loop ((k 0) (u u0)) (if (>= k 50) (vsum (vsum u)) (recur (+ k 1) (+ u (* 0.1 (matmul D u))))))',
    inputs: { u0: [[32, 32], false], D: [[32, 32], false] },
  },
  {
    name: 'tail recursion as a loop',
    source: '(letrec ((gcd (lambda (p q) (if (= q 0) p (gcd q (modulo p q)))))) (gcd a b))',
    inputs: { a: scalar(true), b: scalar(true) },
  },
  {
    name: 'non-tail recursion',
    source: '(define (fact n) (if (<= n 1) 1 (* n (fact (- n 1))))) (fact k)',
    inputs: { k: scalar(true) },
  },
  {
    name: 'mutual recursion',
    source:
      '(letrec ((even? (lambda (k) (if (= k 0) 1 (odd? (- k 1))))) (odd? (lambda (k) (if (= k 0) 0 (even? (- k 1)))))) (even? n))',
    inputs: { n: scalar() },
  },
  {
    name: 'composition',
    source: '(inner (* 2 x))',
    inputs: { x: scalar(true) },
    params: { 'inner.k': S },
    externals: { inner: inlined('(* k (exp y))', ['y'], ['k'], 0) },
  },
  {
    name: 'learned component',
    source: '(+ (drag v (* 2 x)) x)',
    inputs: { v: vector(2, true), x: scalar(true) },
    externals: { drag: { kind: 'learned', index: 0, paramOffset: 0, inFeatures: 3, outFeatures: 1 } },
  },
  {
    name: 'pow with a literal exponent',
    source: '(+ (pow x 2) (pow x 2.5) (pow x y))',
    inputs: { x: scalar(true), y: scalar(true) },
  },
];

function phases(c: Case): string {
  const inputs = Object.keys(c.inputs);
  const params = Object.keys(c.params ?? {}).filter((p) => !p.includes('.'));
  const functions = Object.fromEntries(
    Object.entries(c.externals ?? {}).map(([name, e]) => [
      name,
      e.kind === 'program'
        ? { minArgs: e.inputs.length, maxArgs: e.inputs.length }
        : { minArgs: 1, maxArgs: e.inFeatures },
    ]),
  );
  const parsed = parseProgram(c.source, { inputs, params, functions });
  if (!parsed.program) throw new Error(`${c.name}: ${parsed.diagnostics.map((d) => d.message).join('; ')}`);
  const out: string[] = [`; ${c.source.replace(/\n/g, '\n; ')}`];
  compileGraph(parsed.program, {
    inputs: inputs.map((name) => ({ name, shape: c.inputs[name][0], batched: c.inputs[name][1] })),
    params: Object.entries(c.params ?? {}).map(([name, shape]) => ({ name, shape })),
    limit: 100,
    source: parsed.source,
    externals: new Map(Object.entries(c.externals ?? {})),
    onPhase: (phase: Phase, graph) => out.push(`== ${phase} ==`, graphToText(graph).trimEnd()),
  });
  return `${out.join('\n')}\n`;
}

const file = (name: string) => path.join(DIR, `${name.replace(/[^a-z0-9]+/gi, '-')}.txt`);

describe('op graph after each phase', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const actual = phases(c);
    if (process.env.UPDATE_GOLDEN === '1') {
      fs.mkdirSync(DIR, { recursive: true });
      fs.writeFileSync(file(c.name), actual);
    }
    if (!fs.existsSync(file(c.name)))
      throw new Error(
        `no golden file ${path.relative(process.cwd(), file(c.name))}: run UPDATE_GOLDEN=1 npx jest tests/ir.golden.test.ts and review it`,
      );
    expect(actual).toBe(fs.readFileSync(file(c.name), 'utf8'));
  });

  test('every golden file belongs to a case', () => {
    const expected = CASES.map((c) => path.basename(file(c.name))).sort();
    expect(fs.readdirSync(DIR).sort()).toEqual(expected);
  });

  test('fusion happened where it should', () => {
    expect(phases(CASES.find((c) => c.name === 'fused chain')!)).toMatch(/== fused ==[\s\S]*%\d+ = fused /);
    expect(phases(CASES.find((c) => c.name === 'arithmetic')!)).not.toMatch(/%\d+ = fused /);
  });
});
