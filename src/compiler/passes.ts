// Optimisation passes over the op graph, each one linear sweep per region: constant folding, common
// subexpression elimination, dead-code (and dead-region) removal. Nodes only refer to earlier nodes,
// so a forward sweep sees every argument before its user.
import { applyPointwise, op, pointwiseForm } from '../ops';
import { hasSubRegions, isConst, scalarConst, subRegions, type IrGraph, type IrNode, type IrRegion } from './ir';

/**
 * Pointwise ops on scalar constants are folded at compile time with the registry's float64
 * semantics, the runtime's. In a float32 module the folded constant is rounded once, which can
 * differ from float32 step-by-step evaluation in the last bit.
 */
export function foldConstants(graph: IrGraph): void {
  for (const region of graph.regions) {
    // In place, so a folded node is a constant to the nodes after it.
    region.nodes.forEach((node, i) => {
      const def = op(node.op);
      if (!def || !pointwiseForm(def, node.args.length) || node.batched) return;
      const values = node.args.map((a) => scalarConst(region.nodes[a]));
      if (values.some((v) => v === undefined)) return;
      const value = applyPointwise(def, values as number[], node.attrs);
      region.nodes[i] = {
        op: 'const',
        args: [],
        attrs: [],
        data: Float64Array.of(value),
        shape: [],
        batched: false,
        span: node.span,
      };
    });
  }
}

const keyOf = (n: IrNode): string | undefined => {
  if (hasSubRegions(n)) return undefined; // control nodes stay distinct
  const data = isConst(n)
    ? `${n.shape.join('x')}:${Array.from(n.data, (v) => (Object.is(v, -0) ? '-0' : v)).join(',')}`
    : ''; // -0 is its own constant (atan2, division)
  return `${n.op}|${n.args.join(',')}|${n.attrs.join(',')}|${'index' in n ? n.index : ''}|${data}`;
};

export function eliminateCommonSubexpressions(graph: IrGraph): void {
  for (const region of graph.regions) {
    const seen = new Map<string, number>();
    const remap = region.nodes.map((_, i) => i);
    region.nodes.forEach((node, i) => {
      node.args = node.args.map((a) => remap[a]);
      const key = keyOf(node);
      if (key === undefined) return;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else remap[i] = first;
    });
    region.results = region.results.map((r) => remap[r]);
  }
}

/**
 * Keeps the nodes results depend on and the regions live nodes own; renumbers both. With
 * `regionsOnly`, every node of a kept region stays, and only regions no kept node owns are dropped.
 */
export function removeDeadCode(graph: IrGraph, regionsOnly = false): void {
  const liveNodes = new Map<number, boolean[]>();
  const pending = [0];
  while (pending.length > 0) {
    const r = pending.pop()!;
    if (liveNodes.has(r)) continue;
    const region = graph.regions[r];
    const live = region.nodes.map(() => regionsOnly);
    region.results.forEach((id) => (live[id] = true));
    for (let i = region.nodes.length - 1; i >= 0; i--) {
      if (!live[i]) continue;
      region.nodes[i].args.forEach((a) => (live[a] = true));
      pending.push(...subRegions(region.nodes[i]));
    }
    liveNodes.set(r, live);
  }
  const regionIndex = new Map<number, number>();
  const kept: IrRegion[] = [];
  graph.regions.forEach((region, r) => {
    if (liveNodes.has(r)) regionIndex.set(r, kept.push(region) - 1);
  });
  for (const [r, live] of liveNodes) {
    const region = graph.regions[r];
    const index: number[] = [];
    const nodes: IrNode[] = [];
    region.nodes.forEach((node, i) => {
      if (!live[i]) return;
      const args = node.args.map((a) => index[a]);
      index[i] =
        nodes.push(
          'regions' in node
            ? { ...node, args, regions: node.regions.map((x) => regionIndex.get(x)!) }
            : { ...node, args },
        ) - 1;
    });
    region.nodes = nodes;
    region.results = region.results.map((id) => index[id]);
  }
  graph.regions = kept;
}

export function optimize(graph: IrGraph): IrGraph {
  foldConstants(graph);
  eliminateCommonSubexpressions(graph);
  removeDeadCode(graph);
  return graph;
}
