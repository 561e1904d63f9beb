// A short plain-text guide to the language for a language model (`neuralc spec`, the MCP server's
// instructions). Its worked examples are data, so a test runs each one and checks the value shown.
import type { Nested } from '../runtime/host-data';

export interface WorkedExample {
  title: string;
  source: string;
  /** How the caller declares the program's interface. */
  inputs: Record<string, Nested>;
  params: Record<string, Nested>;
  value: Nested;
}

export const WORKED_EXAMPLES: readonly WorkedExample[] = [
  {
    title: 'Newtonian gravity with a trainable constant G',
    source: '(/ (* G m1 m2) (square r))',
    inputs: { m1: 2, m2: 3, r: 2 },
    params: { G: 6.674 },
    value: 10.011,
  },
  {
    title: 'Kinetic energy of a 3-vector velocity, with let and a vector literal',
    source: '(let ((v2 (dot v v)))\n  (* 0.5 m v2))',
    inputs: { m: 2, v: [1, 2, 2] },
    params: {},
    value: 9,
  },
  {
    title: 'Square root by Newton iterations, with loop and recur',
    source: '(loop ((k 0) (x a))\n  (if (>= k 20)\n      x\n      (recur (+ k 1) (* 0.5 (+ x (/ a x))))))',
    inputs: { a: 16 },
    params: {},
    value: 4,
  },
];

const example = (e: WorkedExample, i: number): string =>
  [
    `Example ${i + 1}: ${e.title}`,
    e.source.replace(/^/gm, '    '),
    `  inputs ${JSON.stringify(e.inputs)}${Object.keys(e.params).length > 0 ? `, params ${JSON.stringify(e.params)}` : ''}`,
    `  value ${JSON.stringify(e.value)}`,
  ].join('\n');

export const LANGUAGE_GUIDE = `The neural language, for writing programs
=========================================

A program is one expression in a small first-order Scheme: (operator argument ...) in
parentheses, numbers, names, and [a b c] for a vector. It is compiled to a differentiable
module; every value is a scalar, a vector or a matrix of floats.

Structure: zero or more top-level definitions, then exactly one result expression.
    (define half 0.5)                     ; a value
    (define (area b h) (* half b h))      ; a function
    (area base height)                    ; the result

Inputs and params. A name the program does not bind and that is not a primitive is free. The
caller says what each free name is: an input (a value given on every call) or a param (a
trainable tensor held by the module, starting at 1.0 unless given a value). Nothing in the
program text declares them: pass them beside the source (the MCP tools' "inputs" and "params",
the command line's --inputs and --params). Declaring the inputs makes a misspelt name an error
with a suggestion. Input shapes are declared as "scalar", [n] (a vector), [rows, columns] or [a, b, c]; in
an editor, a comment line "; @inputs v[3] m" and "; @params G" declares them for the file.

Forms (the only special syntax):
    (let ((name value) ...) body)     note the double brackets: a list of (name value) pairs
    (if test then else)               else is required; a test is true where nonzero
    (cond (test expr) ... (else expr))
    (loop ((name init) ...) body)     (recur new-value ...) in tail position loops again
    (letrec ((f (lambda (x) body))) body)   local, possibly recursive functions
Functions are called by name and are not values. Reserved words: define let let* letrec
lambda if cond else loop recur.

Shapes are checked at compile time. Elementwise primitives (+ - * / sin exp ...) broadcast a
scalar against anything and otherwise need equal shapes; vector and matrix primitives (dot,
norm, matvec, matmul, ref, vsum, ...) say what they take in the spec. Sizes given to zeros,
ones and eye must be constants. Every primitive, its arity and shape rule: neuralc spec --json
(the MCP tool "spec").

Errors come back as diagnostics: a stable code (E0030 unbound identifier, E0040 wrong number
of arguments, E0100 shape mismatch, ...), line:column, a message, often a hint, and sometimes
fixes (exact text edits; "safe" ones can be applied as they are). Read the hint, apply the
fix or rewrite the expression, and check again.

${WORKED_EXAMPLES.map(example).join('\n\n')}
`;
