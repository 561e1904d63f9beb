// A float64 reference interpreter with its own reverse-mode gradients, for testing the native
// compiled path. It walks the typed AST directly (independent of the compiler): every element is a
// scalar autodiff `Value` (./value.ts), primitives are in ./primitives.ts, forms in ./interpret.ts.
//
// Conventions where the mathematics leaves a choice (all at measure-zero points):
// - abs, relu: gradient 0 at 0. sign, floor, ceil, round, truncate, quotient: gradient 0, but the
//   edge is kept as in libtorch (the nodes below still run backward, with zeros). Comparisons,
//   logic, vlen, zeros, ones, eye: constants (no gradient at all).
// - min, max, vmin, vmax: at a tie the gradient is shared evenly among the arguments attaining it.
// - clamp x lo hi = min(max(x, lo), hi) from min and max, so ties share the gradient as they do.
//   The sign of the zero they give for tied +0 and -0 is unspecified (libtorch's differs with
//   vectorisation): -0 is taken as the smaller by default; `mode.zeroTies` gives the other choice.
// - safe-sqrt, safe-log: gradient 0 where x < 1e-8 (clamped), exact from 1e-8 up.
// - pow: d/dx is 0 where y = 0; d/dy is 0 where x = 0 and y >= 0 (else x^y ln x, NaN for x < 0).
//   pow(1, y) = 1 and pow(-1, +-inf) = 1 as in C.
// - modulo: value by exact fmod shifted to the divisor's sign (equal to x - y floor(x/y) up to rounding);
//   d/dx = 1, d/dy = -floor(x/y), the floor division computed as libtorch does (through fmod: NaN for
//   an infinite x). remainder: JS `%`, d/dy = -trunc(x/y). atan2: gradient 0 at the origin.
// - norm: gradient 0 at the zero vector; normalize divides by max(norm, 1e-8) (tie shared as max).
// - det: elimination with partial pivoting; a zero pivot gives det 0 (its gradient is the full
//   adjugate only when that zero pivot is the last one). inv, solve: a singular matrix gives inf/NaN.
// - Backward multiplies, as libtorch's formulas do: a zero local derivative against a non-finite
//   upstream gradient gives NaN (abs at 0, tanh saturated, a product with a zero). Selections mask
//   instead (if, relu, min, max, clamp, the clamps of safe-sqrt and safe-log, pow's and atan2's and
//   norm's zero cases): there a zero local derivative contributes nothing, as where/masked_fill do.
// - if/cond: a scalar test (nonzero, NaN included, selects) evaluates only the taken branch; a vector or
//   matrix `if` test evaluates both branches and selects element by element (cond tests must be scalars).
// - Limits: `limit` bounds the number of active user-function calls (a call of depth limit + 1 is an
//   Error naming the function) and the number of body evaluations of each loop entry (an Error naming
//   the loop by its bindings and span). Evaluation runs on a heap stack, so deep recursion is safe.

import { Program } from '../ast';
import { Interpreter } from './interpret';
import { Nested, Tensor, elements, fromNested, toNested } from './tensor';
import { Value, backward, sum, withMode, type Mode } from './value';

export type { Nested } from './tensor';
export type { Mode } from './value';
export { REFERENCE_PRIMITIVES } from './primitives';

export interface ReferenceResult {
  value: Nested;
  /** d(sum of all output elements over the whole batch) / d(each input and param), shaped like the value given. */
  grad: Record<string, Nested>;
}

export interface ReferenceOptions {
  /** Inputs whose values carry a leading batch dimension (one common size). */
  batched?: string[];
  /** Limit on user-function call depth and on the number of iterations of any one loop (default 10,000). */
  limit?: number;
  /** Choices the reference can make otherwise (see Mode in value.ts); by default, none. */
  mode?: Partial<Mode>;
}

export function evaluateReference(
  program: Program,
  values: Record<string, Nested>,
  options: ReferenceOptions = {},
): ReferenceResult {
  return withMode(options.mode ?? {}, () => evaluate(program, values, options));
}

function evaluate(program: Program, values: Record<string, Nested>, options: ReferenceOptions): ReferenceResult {
  const limit = options.limit ?? 10_000;
  const names = [...program.inputs, ...program.params];
  const missing = names.filter((n) => !(n in values));
  if (missing.length > 0) throw new Error(`missing values for ${missing.map((n) => `'${n}'`).join(', ')}`);

  const batched = options.batched ?? [];
  for (const b of batched)
    if (!program.inputs.includes(b)) throw new Error(`batched name '${b}' is not an input of the program`);
  let size = 1;
  if (batched.length > 0) {
    const sizes = batched.map((b) => {
      const v = values[b];
      if (!Array.isArray(v)) throw new Error(`batched input '${b}' must have a leading batch dimension`);
      return v.length;
    });
    if (sizes.some((s) => s !== sizes[0]))
      throw new Error(
        `batched inputs have different batch sizes: ${batched.map((b, i) => `${b}=${sizes[i]}`).join(', ')}`,
      );
    size = sizes[0];
  }

  // Shared leaves (params, unbatched inputs) are the same nodes in every sample, so their gradients sum.
  const shared = new Map<string, Tensor>();
  for (const n of names) if (!batched.includes(n)) shared.set(n, fromNested(values[n], n));
  const perSample = new Map<string, Tensor[]>(batched.map((b) => [b, []]));

  const outputs: Tensor[] = [];
  for (let s = 0; s < size; s++) {
    const free = new Map(shared);
    for (const b of batched) {
      const leaf = fromNested((values[b] as Nested[])[s], `${b}[${s}]`);
      perSample.get(b)!.push(leaf);
      free.set(b, leaf);
    }
    outputs.push(new Interpreter(program, free, limit).evaluateProgram());
  }

  const root: Value = sum(outputs.flatMap(elements));
  backward(root);

  const data = (v: Value) => v.data;
  const grad = (v: Value) => v.grad;
  const result: ReferenceResult = {
    value: batched.length > 0 ? outputs.map((o) => toNested(o, data)) : toNested(outputs[0], data),
    grad: {},
  };
  for (const n of names)
    result.grad[n] = batched.includes(n)
      ? perSample.get(n)!.map((t) => toNested(t, grad))
      : toNested(shared.get(n)!, grad);
  return result;
}
