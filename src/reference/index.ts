// A float64 reference interpreter with its own reverse-mode gradients, for testing the native
// compiled path. It walks the typed AST directly (independent of the compiler): every element is a
// scalar autodiff `Value` (./value.ts), primitives are in ./primitives.ts, forms in ./interpret.ts.

import { Program } from '../ast';
import { Interpreter } from './interpret';
import { Nested, Tensor, elements, fromNested, toNested } from './tensor';
import { Value, backward, sum } from './value';

export type { Nested } from './tensor';
export { REFERENCE_PRIMITIVES, erf } from './primitives';

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
}

export function evaluateReference(program: Program, values: Record<string, Nested>, options: ReferenceOptions = {}): ReferenceResult {
  const limit = options.limit ?? 10_000;
  const names = [...program.inputs, ...program.params];
  const missing = names.filter((n) => !(n in values));
  if (missing.length > 0) throw new Error(`missing values for ${missing.map((n) => `'${n}'`).join(', ')}`);

  const batched = options.batched ?? [];
  for (const b of batched) if (!program.inputs.includes(b)) throw new Error(`batched name '${b}' is not an input of the program`);
  let size = 1;
  if (batched.length > 0) {
    const sizes = batched.map((b) => {
      const v = values[b];
      if (!Array.isArray(v)) throw new Error(`batched input '${b}' must have a leading batch dimension`);
      return v.length;
    });
    if (sizes.some((s) => s !== sizes[0])) throw new Error(`batched inputs have different batch sizes: ${batched.map((b, i) => `${b}=${sizes[i]}`).join(', ')}`);
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
    outputs.push(new Interpreter(program, free, limit).evaluateProgram(program));
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
    result.grad[n] = batched.includes(n) ? perSample.get(n)!.map((t) => toNested(t, grad)) : toNested(shared.get(n)!, grad);
  return result;
}
