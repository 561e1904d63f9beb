// What the native executor is given for an op graph, and what one run of it will allocate. The
// compiler's graph is read here and nowhere else on its way to native code.
import type { IrGraph, IrNode } from '../compiler/ir';
import type { Shape } from '../ops';
import { bytesPerElement, type DType } from './tensor';

/** The graph as binding/graph_wrap.cpp reads it (strictly: every field it needs, of its type). */
export function nativeSpec(graph: IrGraph, maxSteps: number) {
  return {
    numInputs: graph.inputs.length,
    recursive: graph.recursive,
    maxSteps,
    regions: graph.regions.map((r) => ({
      nodes: r.nodes,
      results: r.results,
      resultBatched: r.results.map((id) => r.nodes[id].batched),
    })),
  };
}

/** Ops whose value is a tensor that exists before the run (or another node's, shared). */
const PREEXISTING = new Set(['arg', 'input', 'param', 'const', 'proj']);

/** The nodes whose values a run computes, each region's once. */
export function* computedNodes(graph: IrGraph): Generator<IrNode> {
  for (const region of graph.regions) for (const node of region.nodes) if (!PREEXISTING.has(node.op)) yield node;
}

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** Bytes of the values one run computes: those without a batch dimension, and those per sample (a lower bound with loops and calls). */
export interface Footprint {
  fixed: number;
  perSample: number;
}

export function footprint(graph: IrGraph, dtype: DType): Footprint {
  const out = { fixed: 0, perSample: 0 };
  for (const node of computedNodes(graph)) {
    const bytes = numel(node.shape) * bytesPerElement(dtype);
    if (node.batched) out.perSample += bytes;
    else out.fixed += bytes;
  }
  return out;
}
