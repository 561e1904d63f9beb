// A deterministic workload for concurrency tests: forward + backward passes of a module with inputs
// v: [3] and n: scalar (batched v) and one parameter, on inputs that depend only on the call number.
import type { Module } from '../../src/api';

/** Values and the parameter's gradient of each of `calls` passes. */
export function forwardCalls(m: Module, calls: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < calls; i++) {
    const y = m.forward({
      v: [
        [i, 1, -i],
        [0.5, i / 3, 2],
      ],
      n: 1 + (i % 3),
    });
    const s = y.sum();
    s.backward();
    const g = m.parameters()[0].grad!;
    out.push([...y.toTypedArray(), g.item()]);
    m.parameters()[0].zeroGrad();
    for (const t of [y, s, g]) t.dispose();
  }
  return out;
}
