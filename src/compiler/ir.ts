// The op graph: closed regions of flat node arrays, edges by index. Region 0 is the program; `if`,
// `loop` and `call` nodes own sub-regions that receive everything they use as arguments, so a
// region can run on any subset of a batch. Every node knows its per-sample shape and whether it
// carries a leading batch dimension; the native executor trusts both.
import type { Span } from '../ast';
import type { Shape } from '../ops';

export type StructuralOp = 'arg' | 'input' | 'param' | 'const' | 'if' | 'loop' | 'call' | 'proj';

export interface IrNode {
  /** A kernel name (the primitive table's name, or a structural kernel such as 'unsqueeze-tail'), or a structural op. */
  op: string;
  args: number[];
  attrs: number[];
  shape: Shape;
  batched: boolean;
  span?: Span;
  /** arg/input/param: which one; proj: which output of its tuple node. */
  index?: number;
  /** const: the values, row-major, float64. */
  data?: Float64Array;
  /** if: [then, else]; loop: [body]; call: [callee]. */
  regions?: number[];
  /** if/loop/call: whether each argument carries the batch dimension. */
  argBatched?: boolean[];
  /** if: number of values each branch returns (more than 1 inside loop bodies, read through proj). */
  outputs?: number;
  /** if: whether each output carries the batch dimension. */
  outputBatched?: boolean[];
  /** loop: number of state variables. */
  state?: number;
  /** loop: iterations; call: depth. */
  limit?: number;
  /** What a runtime limit error names: `loop at 3:5`, `function 'fact'`. */
  label?: string;
}

export interface IrRegion {
  /** What the region is, for printing: 'main', 'then', 'loop body', 'fact(scalar)'. */
  name: string;
  nodes: IrNode[];
  results: number[];
}

export interface IrGraph {
  regions: IrRegion[];
  inputs: { name: string; shape: Shape; batched: boolean }[];
  params: { name: string; shape: Shape }[];
  /** Has calls, which the native side runs on a deep stack. */
  recursive: boolean;
}

export const isConst = (n: IrNode): n is IrNode & { data: Float64Array } => n.op === 'const';

/** A node's value as a number when it is a scalar constant. */
export function scalarConst(n: IrNode): number | undefined {
  return isConst(n) && n.shape.length === 0 ? n.data[0] : undefined;
}

/** Structural ops other than these read only their args: they may be shared or dropped freely. */
export const hasSubRegions = (n: IrNode): boolean => n.regions !== undefined && n.regions.length > 0;
