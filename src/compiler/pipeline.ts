// The compiler as one pure function: a resolved program and the signature it is specialised for in,
// the op graph out. Lowering (which also checks shapes), the optimisation passes and fusion, in that
// order; no addon, no tensors, no I/O, so every phase can be tested and printed without libtorch.
import type { Program } from '../ast';
import type { Diagnostic } from '../diagnostics';
import type { IrGraph } from './ir';
import { fuseElementwise } from './fuse';
import { lowerProgram, type LowerOptions } from './lower';
import { fuseStencils } from './stencil';
import { optimize } from './passes';
import { stabilityWarnings } from './stability';

export type Phase = 'lowered' | 'optimized' | 'fused';

export interface PipelineOptions extends LowerOptions {
  /** Constant folding, common-subexpression and dead-code elimination (default true). */
  optimize?: boolean;
  /** Stencil and elementwise fusion (default true). */
  fuse?: boolean;
  /** Called with the graph after each phase that runs (the passes work in place: print it there). */
  onPhase?: (phase: Phase, graph: IrGraph) => void;
  /** Warnings about the lowered graph (W0004, src/compiler/stability.ts) are appended here when given. */
  warnings?: Diagnostic[];
  /** The params' declared values by graph index, for those warnings (undefined: known only at run time). */
  paramValues?: readonly (ArrayLike<number> | undefined)[];
}

/** AST -> op graph: lower, optimize, fuse. Throws CompileError with diagnostics at the source. */
export function compileGraph(program: Program, options: PipelineOptions): IrGraph {
  let graph = lowerProgram(program, options);
  options.onPhase?.('lowered', graph);
  options.warnings?.push(...stabilityWarnings(graph, options.paramValues ?? []));
  if (options.optimize ?? true) {
    graph = optimize(graph);
    options.onPhase?.('optimized', graph);
  }
  if (options.fuse ?? true) {
    graph = fuseElementwise(fuseStencils(graph));
    options.onPhase?.('fused', graph);
  }
  return graph;
}
