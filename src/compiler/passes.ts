// Optimisation passes over the op graph, each one linear sweep per region: constant folding, common
// subexpression elimination, dead-code (and dead-region) removal. Nodes only refer to earlier nodes,
// so a forward sweep sees every argument before its user.
import { isConst, scalarConst, type IrGraph, type IrNode, type IrRegion } from './ir';

/**
 * Scalar ops folded at compile time, in float64. In a float32 module the folded constant is rounded
 * once, which can differ from float32 step-by-step evaluation in the last bit.
 */
const FOLD: Record<string, (xs: number[]) => number> = {
  '+': (xs) => xs.reduce((a, b) => a + b),
  '-': (xs) => (xs.length === 1 ? -xs[0] : xs.reduce((a, b) => a - b)),
  '*': (xs) => xs.reduce((a, b) => a * b),
  '/': (xs) => (xs.length === 1 ? 1 / xs[0] : xs.reduce((a, b) => a / b)),
  neg: ([x]) => -x,
  abs: ([x]) => Math.abs(x),
  square: ([x]) => x * x,
  sqrt: ([x]) => Math.sqrt(x),
  exp: ([x]) => Math.exp(x),
  log: ([x]) => Math.log(x),
  sin: ([x]) => Math.sin(x),
  cos: ([x]) => Math.cos(x),
  pow: ([x, y]) => Math.pow(x, y),
  min: (xs) => Math.min(...xs),
  max: (xs) => Math.max(...xs),
  '=': ([x, y]) => Number(x === y),
  '<': ([x, y]) => Number(x < y),
  '>': ([x, y]) => Number(x > y),
  '<=': ([x, y]) => Number(x <= y),
  '>=': ([x, y]) => Number(x >= y),
  not: ([x]) => Number(x === 0),
};

export function foldConstants(graph: IrGraph): void {
  for (const region of graph.regions) {
    // In place, so a folded node is a constant to the nodes after it.
    region.nodes.forEach((node, i) => {
      const fold = FOLD[node.op];
      if (!fold || node.batched) return;
      const values = node.args.map((a) => scalarConst(region.nodes[a]));
      if (values.some((v) => v === undefined)) return;
      region.nodes[i] = {
        op: 'const',
        args: [],
        attrs: [],
        data: Float64Array.of(fold(values as number[])),
        shape: [],
        batched: false,
        span: node.span,
      };
    });
  }
}

const keyOf = (n: IrNode): string | undefined => {
  if (n.regions) return undefined; // control nodes stay distinct
  const data = isConst(n)
    ? `${n.shape.join('x')}:${Array.from(n.data, (v) => (Object.is(v, -0) ? '-0' : v)).join(',')}`
    : ''; // -0 is its own constant (atan2, division)
  return `${n.op}|${n.args.join(',')}|${n.attrs.join(',')}|${n.index ?? ''}|${data}`;
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
      pending.push(...(region.nodes[i].regions ?? []));
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
      index[i] =
        nodes.push({
          ...node,
          args: node.args.map((a) => index[a]),
          ...(node.regions && { regions: node.regions.map((x) => regionIndex.get(x)!) }),
        }) - 1;
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
