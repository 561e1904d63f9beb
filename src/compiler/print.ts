// The op graph as text (for people and golden tests) and as Graphviz DOT.
import { showShape } from '../ops';
import { CHECKPOINT_DOUBLING, subRegions, type FusedNode, type IrGraph, type IrNode } from './ir';

const MAX_CONST_SHOWN = 6;

function operand(graph: IrGraph, n: IrNode): string {
  switch (n.op) {
    case 'input':
      return `input ${graph.inputs[n.index].name}`;
    case 'param':
      return `param ${graph.params[n.index].name}`;
    case 'arg':
      return `arg ${n.index}`;
    case 'proj':
      return `proj %${n.args[0]}.${n.index}`;
    case 'const': {
      const values = Array.from(n.data.slice(0, MAX_CONST_SHOWN)).map((v) => String(v));
      const more = n.data.length > MAX_CONST_SHOWN ? ' ...' : '';
      return n.shape.length === 0 ? `const ${values[0]}` : `const [${values.join(' ')}${more}]`;
    }
    default: {
      const args = n.args.map((a) => `%${a}`).join(' ');
      const regions = 'regions' in n ? ' ' + n.regions.map((r) => `@${r}`).join(' ') : '';
      const attrs = n.attrs.length > 0 ? ` {${n.attrs.join(', ')}}` : '';
      return `${n.op}${args ? ' ' + args : ''}${regions}${attrs}${n.op === 'loop' ? checkpointText(n.checkpoint) : ''}`;
    }
  }
}

/** A loop's checkpointing where it has any. */
const checkpointText = (checkpoint: number): string =>
  checkpoint === 0 ? '' : checkpoint === CHECKPOINT_DOUBLING ? ' checkpoint doubling' : ` checkpoint ${checkpoint}`;

const typeOf = (n: IrNode): string =>
  n.op === 'if' && n.outputs > 1 ? `tuple of ${n.outputs}` : `${showShape(n.shape)}${n.batched ? ' batched' : ''}`;

/** A fused node's steps, one per line: $k are its values (its operands first, then the steps). */
function fusedSteps(n: FusedNode): string[] {
  return n.steps.map((st, k) => {
    const attrs = st.attrs.length > 0 ? ` {${st.attrs.join(', ')}}` : '';
    return `      $${n.args.length + k} = ${st.op} ${st.args.map((a) => `$${a}`).join(' ')}${attrs}`;
  });
}

/** Guards the public printers against values that are not a module's graph. */
function checkGraph(who: string, graph: unknown): void {
  if (graph === null || typeof graph !== 'object' || !Array.isArray((graph as IrGraph).regions))
    throw new TypeError(
      `${who}: expected a module's graph (module.graph), got ${graph === null ? 'null' : typeof graph}`,
    );
}

export function graphToText(graph: IrGraph): string {
  checkGraph('graphToText', graph);
  const lines: string[] = [];
  graph.regions.forEach((region, r) => {
    lines.push(`@${r} ${region.name} -> ${region.results.map((id) => `%${id}`).join(' ')}`);
    region.nodes.forEach((n, i) => {
      lines.push(`  %${i} = ${operand(graph, n)} : ${typeOf(n)}${n.label ? `  ; ${n.label}` : ''}`);
      if (n.op === 'fused') lines.push(...fusedSteps(n));
    });
  });
  return lines.join('\n') + '\n';
}

const quote = (s: string) => JSON.stringify(s);

export function graphToDot(graph: IrGraph): string {
  checkGraph('graphToDot', graph);
  const lines = ['digraph program {', '  node [shape=box, fontname="monospace"];'];
  graph.regions.forEach((region, r) => {
    lines.push(`  subgraph cluster_${r} {`, `    label=${quote(`@${r} ${region.name}`)};`);
    region.nodes.forEach((n, i) =>
      lines.push(`    r${r}n${i} [label=${quote(`%${i} ${operand(graph, n)}\n${typeOf(n)}`)}];`),
    );
    region.results.forEach((id, k) =>
      lines.push(`    r${r}out${k} [label="result ${k}", shape=oval];`, `    r${r}n${id} -> r${r}out${k};`),
    );
    lines.push('  }');
    region.nodes.forEach((n, i) => {
      n.args.forEach((a) => lines.push(`  r${r}n${a} -> r${r}n${i};`));
      subRegions(n).forEach((sub) => lines.push(`  r${r}n${i} -> r${sub}n0 [style=dashed, lhead=cluster_${sub}];`));
    });
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}
