// The op graph: closed regions of flat node arrays, edges by index. Region 0 is the program; `if`,
// `loop` and `call` nodes own sub-regions that receive everything they use as arguments, so a
// region can run on any subset of a batch. Every node knows its per-sample shape and whether it
// carries a leading batch dimension; the native executor trusts both.
//
// A node is one of the kinds below, discriminated by `op`: a kernel of the op registry, or a
// structural op. binding/graph_wrap.cpp reads exactly these fields.
import type { Span } from '../ast';
import type { OpName, Shape } from '../ops';

interface NodeBase {
  args: number[];
  /** Compile-time numbers the kernel takes (the registry's `attrs`); empty for structural ops. */
  attrs: number[];
  shape: Shape;
  batched: boolean;
  span?: Span;
  /** What a runtime error at this node names: `loop at 3:5`, `function 'fact'`, `'ref' at 2:1`. */
  label?: string;
}

/** A kernel of the op registry applied to its args. */
export interface KernelNode extends NodeBase {
  op: OpName;
}

/** A program input, a trainable parameter, or one of a region's arguments: the `index`-th. */
export interface LeafNode extends NodeBase {
  op: 'input' | 'param' | 'arg';
  index: number;
}

export interface ConstNode extends NodeBase {
  op: 'const';
  /** The values, row-major, float64. */
  data: Float64Array;
}

/** Control nodes: whether each argument carries the batch dimension. */
interface ControlBase extends NodeBase {
  argBatched: boolean[];
}

/** args [test, captures...], regions [then, else]: per-sample lazy selection. */
export interface IfNode extends ControlBase {
  op: 'if';
  /** [then, else] */
  regions: number[];
  /** Values each branch returns (more than 1 inside loop bodies, read through `proj`). */
  outputs: number;
  /** Whether each output carries the batch dimension. */
  outputBatched: boolean[];
}

/** args [inits..., captures...], regions [body]; the body returns [done, result, next state...]. */
export interface LoopNode extends ControlBase {
  op: 'loop';
  /** [body] */
  regions: number[];
  state: number;
  /** Iterations. */
  limit: number;
  /**
   * What backward keeps (native/checkpoint.h): 0 every iteration's tape; n >= 1 the state every n
   * iterations, recomputing each segment; CHECKPOINT_DOUBLING segments that double as the loop runs.
   */
  checkpoint: number;
  label: string;
}

/** A loop's `checkpoint`: segments of 1 iteration doubling as the checkpoints outnumber twice their length. */
export const CHECKPOINT_DOUBLING = -1;

/** A (possibly recursive) function: regions [callee], depth-limited. */
export interface CallNode extends ControlBase {
  op: 'call';
  /** [callee] */
  regions: number[];
  /** Depth. */
  limit: number;
  label: string;
}

/** Output `index` of a multi-output `if` (the tail branches of a loop body). */
export interface ProjNode extends NodeBase {
  op: 'proj';
  index: number;
}

/** The `index`-th learned component (an MLP), its arguments concatenated into features. */
export interface ExternNode extends ControlBase {
  op: 'extern';
  index: number;
}

/** One step of a fused node: args index [the fused node's args..., earlier steps...]. */
export interface FusedStep {
  op: OpName;
  args: number[];
  attrs: number[];
}

/** An elementwise DAG in one node (src/compiler/fuse.ts); the last step is the result. */
export interface FusedNode extends NodeBase {
  op: 'fused';
  steps: FusedStep[];
}

export type IrNode =
  KernelNode | LeafNode | ConstNode | IfNode | LoopNode | CallNode | ProjNode | ExternNode | FusedNode;
export type StructuralNode = Exclude<IrNode, KernelNode>;

/** A node as the lowering writes it: `attrs` may be left out (none). */
export type NewNode = IrNode extends infer N
  ? N extends IrNode
    ? Omit<N, 'attrs'> & { attrs?: number[] }
    : never
  : never;

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

export const isConst = (n: IrNode): n is ConstNode => n.op === 'const';

/** A node's value as a number when it is a scalar constant. */
export function scalarConst(n: IrNode): number | undefined {
  return isConst(n) && n.shape.length === 0 ? n.data[0] : undefined;
}

/** The sub-regions a node owns (if, loop, call). */
export const subRegions = (n: IrNode): readonly number[] => ('regions' in n ? n.regions : []);

/** Nodes that own sub-regions stay distinct; the others read only their args and may be shared or dropped freely. */
export const hasSubRegions = (n: IrNode): boolean => subRegions(n).length > 0;
