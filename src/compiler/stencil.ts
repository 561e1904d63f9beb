// Stencil fusion: an explicit diffusion update `(+ u (* k... (laplacian (pad-edge u 1) h)) e...)`
// (or pad-wrap) becomes one `stencil-step` node: u + (k / h^2) * L(u) + e with L the unit-spacing
// Laplacian under that boundary, which the native side runs in one pass over the grid without the
// padded copy (native/stencil.cpp). Runs after `optimize` (shared subexpressions are final, so a
// single user is really single) and before elementwise fusion.
import { ELEMENTWISE } from '../ops';
import { scalarConst, type ConstNode, type IrGraph, type IrNode, type IrRegion, type KernelNode } from './ir';
import { removeDeadCode } from './passes';

const BOUNDARY: Partial<Record<string, number>> = { 'pad-edge': 0, 'pad-wrap': 1 };

/** One update found: the nodes it absorbs and the operands of the fused step. */
interface Update {
  absorbed: number[];
  u: number;
  /** The coefficient's factors besides 1/h^2 (none: 1). */
  factors: number[];
  /** The Laplacian's spacing: its node, and its value when known. */
  h: number;
  spacing: number | undefined;
  boundary: number;
  rank: number;
  /** Added terms besides u and the Laplacian's. */
  rest: number[];
  /** In `(* dt (+ (* alpha lap) s))`, dt and s: the inner sum's other terms, times the outer factors. */
  scaled?: { factors: number[]; terms: number[] };
}
type Stencil = Omit<Update, 'rest' | 'scaled'>;

function userCounts(region: IrRegion): number[] {
  const users = region.nodes.map(() => 0);
  for (const node of region.nodes) for (const a of node.args) users[a]++;
  for (const r of region.results) users[r]++;
  return users;
}

function without<T>(list: T[], item: T): T[] {
  const at = list.indexOf(item);
  return [...list.slice(0, at), ...list.slice(at + 1)];
}

/** `(laplacian (pad-edge|pad-wrap u 1) h)`, the laplacian and the pad read once. */
function stencilAt(l: number, nodes: IrNode[], users: number[]): Stencil | undefined {
  if (nodes[l].op !== 'laplacian' || users[l] !== 1) return undefined;
  const [p, h] = nodes[l].args;
  const pad = nodes[p];
  const boundary = BOUNDARY[pad.op];
  if (boundary === undefined || users[p] !== 1 || pad.attrs[0] !== 1) return undefined;
  const spacing = scalarConst(nodes[h]);
  return { absorbed: [l, p], u: pad.args[0], factors: [], h, spacing, boundary, rank: pad.attrs[1] };
}

/** A stencil, or `(* f... stencil)` read once. */
function scaledStencilAt(m: number, nodes: IrNode[], users: number[]): Stencil | undefined {
  if (nodes[m].op !== '*' || users[m] !== 1) return stencilAt(m, nodes, users);
  for (const l of nodes[m].args) {
    const s = stencilAt(l, nodes, users);
    if (s) return { ...s, absorbed: [m, ...s.absorbed], factors: without(nodes[m].args, l) };
  }
  return undefined;
}

/** `(* dt... (+ (* alpha L) s...))`, the sum read once: the stencil inside, its other terms scaled. */
function distributedStencilAt(t: number, nodes: IrNode[], users: number[]): Omit<Update, 'rest'> | undefined {
  if (nodes[t].op !== '*' || users[t] !== 1) return undefined;
  for (const inner of nodes[t].args) {
    if (nodes[inner].op !== '+' || users[inner] !== 1) continue;
    for (const term of nodes[inner].args) {
      const s = scaledStencilAt(term, nodes, users);
      if (!s) continue;
      const factors = without(nodes[t].args, inner);
      return {
        ...s,
        absorbed: [t, inner, ...s.absorbed],
        factors: [...factors, ...s.factors],
        scaled: { factors, terms: without(nodes[inner].args, term) },
      };
    }
  }
  return undefined;
}

/** The update rooted at node i, if it is one: u plus a term holding a stencil of u. */
function updateAt(i: number, nodes: IrNode[], users: number[]): Update | undefined {
  const add = nodes[i];
  if (add.op !== '+') return undefined;
  for (const t of add.args) {
    const found = scaledStencilAt(t, nodes, users) ?? distributedStencilAt(t, nodes, users);
    if (!found || !add.args.includes(found.u) || nodes[found.u].shape.length !== add.shape.length) continue;
    return { ...found, rest: without(without(add.args, t), found.u) };
  }
  return undefined;
}

const constant = (value: number, like: IrNode): ConstNode => ({
  op: 'const',
  args: [],
  attrs: [],
  shape: [],
  batched: false,
  span: like.span,
  data: Float64Array.of(value),
});

/** A kernel node over `args` (already emitted) with the elementwise shape of its operands. */
function elementwise(op: '+' | '*' | '/', args: number[], nodes: IrNode[], like: IrNode): KernelNode {
  const shape = ELEMENTWISE(
    args.map((a) => nodes[a].shape),
    [],
  );
  if (typeof shape === 'string') throw new Error(`internal: stencil fusion: ${shape}`);
  return { op, args, attrs: [], shape, batched: args.some((a) => nodes[a].batched), span: like.span };
}

function fuseRegion(region: IrRegion): boolean {
  const users = userCounts(region);
  const updates = new Map<number, Update>();
  const absorbed = new Set<number>();
  region.nodes.forEach((_, i) => {
    const update = updateAt(i, region.nodes, users);
    if (!update || update.absorbed.some((a) => absorbed.has(a))) return;
    updates.set(i, update);
    update.absorbed.forEach((a) => absorbed.add(a));
  });
  if (updates.size === 0) return false;
  const index: number[] = [];
  const kept: IrNode[] = [];
  region.nodes.forEach((node, i) => {
    if (absorbed.has(i)) return;
    const update = updates.get(i);
    const push = (n: IrNode) => kept.push(n) - 1;
    if (!update) return void (index[i] = push({ ...node, args: node.args.map((a) => index[a]) }));
    const fold = (op: '+' | '*', operands: number[]) =>
      operands.length === 1 ? operands[0] : push(elementwise(op, operands, kept, node));
    const factors = update.factors.map((a) => index[a]);
    const known = factors.map((a) => scalarConst(kept[a]));
    let k: number;
    if (update.spacing === undefined) {
      // (/ f... (* h h)), h known only at run time (per sample, perhaps)
      const h = index[update.h];
      const numerator = factors.length > 0 ? fold('*', factors) : push(constant(1, node));
      k = push(elementwise('/', [numerator, push(elementwise('*', [h, h], kept, node))], kept, node));
    } else {
      const scale = 1 / (update.spacing * update.spacing);
      k = known.every((c) => c !== undefined)
        ? push(
            constant(
              known.reduce((x, y) => x * y, scale),
              node,
            ),
          )
        : fold('*', scale === 1 ? factors : [...factors, push(constant(scale, node))]);
    }
    const rest = update.rest.map((a) => index[a]);
    const { scaled } = update;
    if (scaled && scaled.terms.length > 0)
      rest.push(
        fold('*', [
          ...scaled.factors.map((a) => index[a]),
          fold(
            '+',
            scaled.terms.map((a) => index[a]),
          ),
        ]),
      );
    const e = rest.length > 0 ? [fold('+', rest)] : [];
    const args = [index[update.u], k, ...e];
    index[i] = push({ ...node, op: 'stencil-step', args, attrs: [update.boundary, update.rank] });
  });
  region.nodes = kept;
  region.results = region.results.map((r) => index[r]);
  return true;
}

/** Fuses the explicit stencil updates of every region in place. */
export function fuseStencils(graph: IrGraph): IrGraph {
  const changed = graph.regions.map(fuseRegion).some(Boolean);
  if (changed) removeDeadCode(graph); // the spacing constants the laplacians read
  return graph;
}
