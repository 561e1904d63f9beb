// The ops the fuse pass turns into steps of a `fused` node, from the op registry (FUSED_FORMS), with
// a program for each that the pass fuses around a batched input x and a broadcast scalar parameter a.
// tests/fused-ops.test.ts runs every entry through the fused block kernels and checks that each op,
// at each of its fused arities, does occur as a step: a new fusible op fails the coverage test until
// it has a program here.
import { FUSED_FORMS, type OpName } from '../../src/ops';

/** Every op name the registry fuses: n-ary + - * / (binary steps and one-argument forms) and the unary ops. */
export const FUSIBLE_OPS: readonly OpName[] = [...new Set(FUSED_FORMS.map((f) => f.op.name))];

export type FusibleOp = OpName;

export interface FusedCase {
  /** A name for the test title. */
  name: string;
  op: FusibleOp;
  /** Over the batched scalar input x and the scalar param a. */
  source: string;
  /** Where x is drawn: 'positive' [0.5, 1.5] (log, sqrt, general powers), 'signed' [-2, 2] away from 0. */
  domain: 'positive' | 'signed';
  /** pow-scalar: the literal exponent the step must carry. */
  exponent?: number;
  /** The arity of the step the case is about (default: 2 for n-ary ops, else 1). */
  arity?: 1 | 2;
  /**
   * The op's derivative cancels (tanh: 1 - y^2 as |y| -> 1), so the input gradient's error is
   * absolute, at the scale of upstream gradient * a, rather than relative to the gradient itself.
   */
  cancellingDerivative?: boolean;
}

const A = 1.25; // the param's value: a x stays in (0.6, 1.9) for positive x, (-2.5, 2.5) for signed x
export const PARAM_VALUE = A;

// Binary ops: (op (op x a) (op a x) x) folds to four steps: full op scalar, scalar op full, full op
// full (twice), so every operand combination of the kernel runs, forward and backward.
const binary = (op: FusibleOp, domain: FusedCase['domain']): FusedCase => ({
  name: op,
  op,
  domain,
  source: `(${op} (${op} x a) (${op} a x) x)`,
});
// Unary ops: u(a x), two steps, the op reading a fused step. (Not x * u(a x): its gradient
// u(a x) + a x u'(a x) cancels to 0 at some x for most u, where no relative bound holds.)
const unary = (op: FusibleOp, domain: FusedCase['domain']): FusedCase => ({
  name: op,
  op,
  domain,
  source: `(${op} (* a x))`,
});
// pow-scalar: the general exponent, and those with their own code paths in the kernels (with_pow:
// 2, 3, 0.5, -1, -2; 0, whose derivative is masked to 0; 1).
const power = (e: number, domain: FusedCase['domain']): FusedCase => ({
  name: `pow-scalar ${e}`,
  op: 'pow-scalar',
  domain,
  exponent: e,
  source: `(pow (* a x) ${e})`,
});

export const FUSED_CASES: FusedCase[] = [
  binary('+', 'signed'),
  binary('-', 'signed'),
  binary('*', 'signed'),
  binary('/', 'positive'),
  // a reciprocal as the compiler writes it: (/ 1 y) is a binary step with a constant operand
  { name: '/ reciprocal', op: '/', domain: 'positive', source: '(/ 1 (* a x))' },
  { name: '/ one argument', op: '/', arity: 1, domain: 'positive', source: '(/ (* a x))' },
  { name: '- one argument', op: '-', arity: 1, domain: 'signed', source: '(- (* a x))' },
  unary('neg', 'signed'),
  unary('square', 'signed'),
  unary('sqrt', 'positive'),
  unary('rsqrt', 'positive'),
  unary('exp', 'signed'),
  unary('log', 'positive'),
  unary('sin', 'signed'),
  unary('cos', 'signed'),
  { ...unary('tanh', 'signed'), cancellingDerivative: true },
  unary('sigmoid', 'signed'),
  unary('abs', 'signed'),
  power(2.5, 'positive'),
  power(2, 'signed'),
  power(3, 'signed'),
  power(0.5, 'positive'),
  power(-1, 'positive'),
  power(-2, 'positive'),
  power(0, 'signed'),
  power(1, 'signed'),
  power(-0.75, 'positive'),
];

/** Deterministic values in the case's domain (signed: |x| in [0.05, 2], both signs). */
export function inputs(n: number, domain: FusedCase['domain'], seed: number): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    return domain === 'positive' ? 0.5 + u : (i % 2 === 0 ? 1 : -1) * (0.05 + 1.95 * u);
  });
}
