// A tiny expression language for the op registry's pointwise rules: an op's fused forward step and
// each argument's derivative are written once as formulas, then evaluated in float64 by the
// reference interpreter (src/reference) and rendered to C++ for the fused block kernels
// (src/ops/native-tables.ts). Derivatives are written as libtorch's autograd formulas are, with the
// upstream gradient `g` in them, so the generated kernels round as libtorch's backward does.
//
// Variables: x, y, z (the arguments), out (the op's result), g (the upstream gradient); `attr(k)`
// is the op's k-th compile-time attribute (pow-scalar's exponent).

import { erf as erfValue, floorDivide, floorRemainder, ieeePow, logistic, powScalar, roundHalfEven } from './scalar';

export type Fn =
  | 'min'
  | 'max'
  | 'floor'
  | 'ceil'
  | 'round'
  | 'log1p'
  | 'expm1'
  | 'tan'
  | 'asin'
  | 'acos'
  | 'atan'
  | 'atan2'
  | 'erf'
  | 'gt'
  | 'le'
  | 'or'
  | 'not'
  | 'floorrem'
  | 'fmod'
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'neg'
  | 'sqrt'
  | 'exp'
  | 'log'
  | 'sin'
  | 'cos'
  | 'sinh'
  | 'cosh'
  | 'tanh'
  | 'sigmoid'
  | 'abs'
  | 'sgn'
  | 'pow'
  | 'floordiv'
  | 'trunc'
  | 'eq'
  | 'lt'
  | 'ge'
  | 'and'
  | 'where';

export type Formula =
  | { kind: 'num'; value: number }
  | { kind: 'var'; name: 'x' | 'y' | 'z' | 'out' | 'g' }
  | { kind: 'attr'; index: number }
  /** `base` to the power of an attribute expression: the kernels choose x*x, sqrt, ... once per step. */
  | { kind: 'powattr'; base: Formula; exponent: Formula }
  /** A choice made once per step on attributes alone (never per element). */
  | { kind: 'attrif'; test: Formula; then: Formula; else: Formula }
  | { kind: 'call'; fn: Fn; args: Formula[] };

type Operand = Formula | number;
const lift = (f: Operand): Formula => (typeof f === 'number' ? { kind: 'num', value: f } : f);
const call =
  (fn: Fn) =>
  (...args: Operand[]): Formula => ({ kind: 'call', fn, args: args.map(lift) });

export const num = (value: number): Formula => ({ kind: 'num', value });
export const x: Formula = { kind: 'var', name: 'x' };
export const y: Formula = { kind: 'var', name: 'y' };
export const z: Formula = { kind: 'var', name: 'z' };
export const out: Formula = { kind: 'var', name: 'out' };
export const g: Formula = { kind: 'var', name: 'g' };
export const attr = (index: number): Formula => ({ kind: 'attr', index });
export const powAttr = (base: Operand, exponent: Operand): Formula => ({
  kind: 'powattr',
  base: lift(base),
  exponent: lift(exponent),
});
export const attrIf = (test: Formula, then: Operand, otherwise: Operand): Formula => ({
  kind: 'attrif',
  test,
  then: lift(then),
  else: lift(otherwise),
});

export const add = call('add');
export const sub = call('sub');
export const mul = call('mul');
export const div = call('div');
export const neg = call('neg');
export const sqrt = call('sqrt');
export const exp = call('exp');
export const log = call('log');
export const sin = call('sin');
export const cos = call('cos');
export const sinh = call('sinh');
export const cosh = call('cosh');
export const tanh = call('tanh');
export const sigmoid = call('sigmoid');
export const abs = call('abs');
/** -1, 0 or 1; 0 for NaN (libtorch's sgn, which abs's backward uses). */
export const sgn = call('sgn');
/** IEEE pow (pow(1, NaN) and pow(-1, +-inf) are 1). */
export const pow = call('pow');
/** floor(x / y) as libtorch computes it in modulo's backward (through fmod). */
export const floordiv = call('floordiv');
export const trunc = call('trunc');
export const eq = call('eq');
export const lt = call('lt');
export const ge = call('ge');
export const and = call('and');
/** `(where c a b)`: a where c is nonzero, else b (a selection: the other side is never multiplied in). */
export const where = call('where');
/** The smaller, NaN if either is (libtorch's minimum). */
export const min = call('min');
/** The larger, NaN if either is (libtorch's maximum). */
export const max = call('max');
export const floor = call('floor');
export const ceil = call('ceil');
/** To the nearest integer, ties to even. */
export const round = call('round');
export const log1p = call('log1p');
export const expm1 = call('expm1');
export const tan = call('tan');
export const asin = call('asin');
export const acos = call('acos');
export const atan = call('atan');
/** atan2(x, y): the angle of the point (y, x), as C's atan2(x, y). */
export const atan2 = call('atan2');
export const erf = call('erf');
export const gt = call('gt');
export const le = call('le');
export const or = call('or');
export const not = call('not');
/** The remainder with the divisor's sign (torch.remainder). */
export const floorrem = call('floorrem');
/** The remainder with the dividend's sign (C's fmod, torch.fmod). */
export const fmod = call('fmod');

const FUNCTIONS: Record<Fn, (...v: number[]) => number> = {
  min: (a, b) => Math.min(a, b),
  max: (a, b) => Math.max(a, b),
  floor: Math.floor,
  ceil: Math.ceil,
  round: roundHalfEven,
  log1p: Math.log1p,
  expm1: Math.expm1,
  tan: Math.tan,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  atan2: Math.atan2,
  erf: erfValue,
  gt: (a, b) => Number(a > b),
  le: (a, b) => Number(a <= b),
  or: (a, b) => Number(a !== 0 || b !== 0),
  not: (a) => Number(a === 0),
  floorrem: floorRemainder,
  fmod: (a, b) => a % b,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  neg: (a) => -a,
  sqrt: Math.sqrt,
  exp: Math.exp,
  log: Math.log,
  sin: Math.sin,
  cos: Math.cos,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
  sigmoid: logistic,
  abs: Math.abs,
  sgn: (a) => (a > 0 ? 1 : a < 0 ? -1 : 0),
  pow: ieeePow,
  floordiv: floorDivide,
  trunc: Math.trunc,
  eq: (a, b) => Number(a === b),
  lt: (a, b) => Number(a < b),
  ge: (a, b) => Number(a >= b),
  and: (a, b) => Number(a !== 0 && b !== 0),
  where: (c, a, b) => (c !== 0 ? a : b),
};

export interface Bindings {
  args: readonly number[];
  out: number;
  g: number;
  attrs: readonly number[];
}

const VAR_INDEX = { x: 0, y: 1, z: 2 } as const;

/** The formula's value in float64. `where` evaluates only the side it takes. */
export function evaluate(f: Formula, env: Bindings): number {
  switch (f.kind) {
    case 'num':
      return f.value;
    case 'var':
      return f.name === 'out' ? env.out : f.name === 'g' ? env.g : env.args[VAR_INDEX[f.name]];
    case 'attr':
      return env.attrs[f.index];
    case 'powattr':
      return powScalar(evaluate(f.base, env), evaluate(f.exponent, env));
    case 'attrif':
      return evaluate(f.test, env) !== 0 ? evaluate(f.then, env) : evaluate(f.else, env);
    case 'call':
      if (f.fn === 'where') return evaluate(f.args[0], env) !== 0 ? evaluate(f.args[1], env) : evaluate(f.args[2], env);
      return FUNCTIONS[f.fn](...f.args.map((a) => evaluate(a, env)));
  }
}
