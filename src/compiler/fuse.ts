// Elementwise fusion: each maximal DAG of elementwise nodes over batched tensors of one shape (and
// unbatched scalars, broadcast) becomes one `fused` node whose `steps` replay the DAG. The native
// side runs a large fused node block by block in cache, forward and backward in one pass each, and
// a small one step by step through the kernel table (native/fused.h), so one graph serves every
// batch size. Groups have one result: a node read outside its group ends the group there.
import { fusedForm } from '../ops';
import type { FusedNode, FusedStep, IrGraph, IrNode, IrRegion, KernelNode } from './ir';

const sameShape = (a: IrNode, b: IrNode) =>
  a.batched === b.batched && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
const broadcastScalar = (n: IrNode) => !n.batched && n.shape.length === 0;

/**
 * Whether a node can be a step: an op the registry gives a fused form at this arity (n-ary + - * /
 * become chains of binary steps), on a batched value whose arguments share its shape or are scalars.
 */
function fusible(node: IrNode, nodes: IrNode[]): boolean {
  return (
    fusedForm(node.op, node.args.length) !== undefined &&
    node.batched &&
    node.args.every((a) => sameShape(nodes[a], node) || broadcastScalar(nodes[a]))
  );
}

/** Readers of each node: other nodes (once per use) and the region's results. */
function userCounts(region: IrRegion): number[] {
  const users = region.nodes.map(() => 0);
  for (const node of region.nodes) for (const a of node.args) users[a]++;
  for (const r of region.results) users[r]++;
  return users;
}

/** The members of the group rooted at `root`, in ascending order; each member's users all in the group. */
function groupAt(root: number, nodes: IrNode[], users: number[], canFuse: boolean[], taken: boolean[]): number[] {
  const members = new Set([root]);
  const usesInside = new Map<number, number>();
  const pending = new Set<number>();
  const reach = (i: number) => {
    for (const a of nodes[i].args) {
      usesInside.set(a, (usesInside.get(a) ?? 0) + 1);
      pending.add(a);
    }
  };
  reach(root);
  // Highest index first: by then every possible user of a candidate has been decided.
  while (pending.size > 0) {
    const a = Math.max(...pending);
    pending.delete(a);
    if (canFuse[a] && !taken[a] && usesInside.get(a) === users[a]) {
      members.add(a);
      reach(a);
    }
  }
  return [...members].sort((x, y) => x - y);
}

/** The fused node replacing a group: its external operands as args, its members as steps. */
function fusedNode(members: number[], nodes: IrNode[]): FusedNode {
  const root = nodes[members[members.length - 1]];
  const args: number[] = [];
  const value = new Map<number, number>(); // node index -> value index inside the fused node
  const external = members.flatMap((m) => nodes[m].args).filter((a) => !members.includes(a));
  for (const a of external) if (!value.has(a)) value.set(a, args.push(a) - 1);
  const steps: FusedStep[] = [];
  const emit = (op: KernelNode['op'], operands: number[], attrs: number[] = []) =>
    steps.push({ op, args: operands, attrs }) - 1 + args.length;
  for (const m of members) {
    const node = nodes[m] as KernelNode; // fusible() takes kernel nodes only
    const operands = node.args.map((a) => value.get(a)!);
    let result: number;
    if (operands.length === 1) result = emit(node.op, operands, node.attrs);
    else result = operands.slice(1).reduce((acc, b) => emit(node.op, [acc, b]), operands[0]); // left fold, as the kernel
    value.set(m, result);
  }
  return { op: 'fused', args, attrs: [], shape: root.shape, batched: root.batched, span: root.span, steps };
}

function fuseRegion(region: IrRegion): void {
  const { nodes } = region;
  const users = userCounts(region);
  const canFuse = nodes.map((n) => fusible(n, nodes));
  const taken = nodes.map(() => false);
  const replaced = new Map<number, FusedNode>();
  const absorbed = new Set<number>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (!canFuse[i] || taken[i]) continue;
    const members = groupAt(i, nodes, users, canFuse, taken);
    members.forEach((m) => (taken[m] = true));
    if (members.length < 2) continue;
    replaced.set(i, fusedNode(members, nodes));
    members.slice(0, -1).forEach((m) => absorbed.add(m));
  }
  if (replaced.size === 0) return;
  // The fused node takes its root's place, after all its operands.
  const index: number[] = [];
  const kept: IrNode[] = [];
  nodes.forEach((node, i) => {
    if (absorbed.has(i)) return;
    const next = replaced.get(i) ?? node;
    index[i] = kept.push({ ...next, args: next.args.map((a) => index[a]) }) - 1;
  });
  region.nodes = kept;
  region.results = region.results.map((r) => index[r]);
}

/** Fuses every region in place (after `optimize`: folded constants and shared subexpressions are final). */
export function fuseElementwise(graph: IrGraph): IrGraph {
  graph.regions.forEach(fuseRegion);
  return graph;
}
