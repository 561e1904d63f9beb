// The op graph as a program of the small-program tier (native/tape.h): one flat register program,
// forward and reverse, for graphs of scalar pointwise ops with no control flow. Registers are the
// inputs, the params, the constants, then one per instruction. The result is a scalar, or a vector
// literal of scalars (an ODE right-hand side): one register per component. A graph the tier cannot
// take (other vectors, if, loops, calls, learned components) has no tape, and runs on the libtorch path.
import { TAPE_FORMS, tapeForm } from '../ops';
import type { IrGraph, IrNode } from './ir';

/** What binding/tape_wrap.cpp reads. `code` holds 4 per instruction: form, a, b + 1, c + 1 (0: none). */
export interface TapeSpec {
  numInputs: number;
  numParams: number;
  consts: number[];
  code: number[];
  attrs: number[];
  /** The result's registers: one for a scalar, one per component for a vector literal. */
  results: number[];
  batched: boolean[];
}

const isScalar = (n: IrNode) => n.shape.length === 0;

/** The graph as a tape, or undefined when it holds anything the tier does not run. */
export function toTape(graph: IrGraph): TapeSpec | undefined {
  if (graph.regions.length !== 1 || graph.params.some((p) => p.shape.length !== 0)) return undefined;
  if (graph.inputs.length + graph.params.length === 0) return undefined; // a constant: nothing to run per sample
  if (graph.inputs.some((i) => i.shape.length !== 0)) return undefined;
  const { nodes, results } = graph.regions[0];
  if (results.length !== 1) return undefined;
  const out = nodes[results[0]];
  const vectorResult = out.op === 'vec' && out.args.every((a) => isScalar(nodes[a]));
  if (!nodes.every((n) => isScalar(n) || (vectorResult && n === out))) return undefined;
  const numInputs = graph.inputs.length;
  const numParams = graph.params.length;
  const consts: number[] = [];
  const constRegister = new Map<IrNode, number>();
  for (const n of nodes) if (n.op === 'const') constRegister.set(n, numInputs + numParams + consts.push(n.data[0]) - 1);
  const first = numInputs + numParams + consts.length;
  const code: number[] = [];
  const attrs: number[] = [];
  const register: number[] = [];
  const emit = (op: string, args: number[], attr = 0): number => {
    const form = tapeForm(op, args.length);
    if (form < 0) throw new Error(`internal: the tier has no form '${op}'/${args.length}`);
    code.push(form, args[0], (args[1] ?? -1) + 1, (args[2] ?? -1) + 1);
    attrs.push(attr);
    return first + attrs.length - 1;
  };
  for (const [i, n] of nodes.entries()) {
    const args = n.args.map((a) => register[a]);
    switch (n.op) {
      case 'input':
        register[i] = n.index;
        break;
      case 'param':
        register[i] = numInputs + n.index;
        break;
      case 'const':
        register[i] = constRegister.get(n)!;
        break;
      case 'vec': // the vector result: its components are the result registers
        break;
      // The batch dimension is the tier's loop: a value expanded to it is the value.
      case 'expand-batch':
        register[i] = args[0];
        break;
      // clamp is max, then min (its definition in the kernel table)
      case 'clamp':
        register[i] = emit('min', [emit('max', [args[0], args[1]]), args[2]]);
        break;
      default: {
        if (n.op === 'fused' || !TAPE_FORMS.some((f) => f.op.name === n.op)) return undefined;
        if (args.length <= 2 || n.op === 'where') {
          register[i] = emit(n.op, args, n.attrs[0] ?? 0);
          break;
        }
        // n-ary ops fold left, as the kernel table does
        register[i] = args.slice(1).reduce((acc, b) => emit(n.op, [acc, b]), args[0]);
      }
    }
  }
  return {
    numInputs,
    numParams,
    consts,
    code,
    attrs,
    results: vectorResult ? out.args.map((a) => register[a]) : [register[results[0]]],
    batched: graph.inputs.map((i) => i.batched),
  };
}
