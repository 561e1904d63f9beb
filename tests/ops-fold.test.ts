// Constant folding equals the runtime: every pointwise op of the registry, on every tuple of edge
// values, folded by the compiler's pass (the registry's float64 semantics) and run by libtorch in
// float64, must give the same special values (NaN, the infinities, the sign of zero) and finite
// values within 2 ulps.
import { foldConstants } from '../src/compiler/passes';
import type { IrGraph, IrNode } from '../src/compiler/ir';
import { compile } from '../src';
import { OPS, pointwiseForm, type OpDef, type OpName } from '../src/ops';

const EDGES = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5, -2.5, 2, 3, 1e308];
/** pow-scalar's exponent is a literal in the source: finite values only. */
const EXPONENTS = [0, -0, 1, -1, 0.5, -0.5, -2.5, 2, 3, -2, 1e308, 4];

function tuples(arity: number): number[][] {
  if (arity === 0) return [[]];
  return tuples(arity - 1).flatMap((t) => EDGES.map((v) => [...t, v]));
}

/** The value the folding pass gives for op(args) with attrs. */
function folded(name: string, args: number[], attrs: number[] = []): number {
  const consts: IrNode[] = args.map((v) => ({
    op: 'const',
    args: [],
    attrs: [],
    data: Float64Array.of(v),
    shape: [],
    batched: false,
  }));
  const node = { op: name as OpName, args: args.map((_, i) => i), attrs, shape: [], batched: false } as IrNode;
  const graph: IrGraph = {
    regions: [{ name: 'main', nodes: [...consts, node], results: [args.length] }],
    inputs: [],
    params: [],
    recursive: false,
  };
  foldConstants(graph);
  const result = graph.regions[0].nodes[args.length];
  if (result.op !== 'const') throw new Error(`${name} was not folded`);
  return result.data[0];
}

/**
 * The values libtorch gives for op applied to each tuple in float64, unbatched: the path a folded
 * constant replaces. (Batched, libtorch's vectorised fmod gives NaN where x / y overflows, as for
 * (modulo 1e308 0.5), where its own scalar path and IEEE fmod give 0.)
 */
function runtime(source: string, names: string[], rows: number[][]): number[] {
  const module = compile(source, {
    inputs: Object.fromEntries(names.map((n) => [n, 'scalar'])),
    dtype: 'float64',
    optimize: false,
    fuse: false,
  });
  const values = rows.map((row) => {
    const out = module.forward(Object.fromEntries(names.map((n, k) => [n, row[k]])));
    const value = out.item();
    out.dispose();
    return value;
  });
  module.dispose();
  return values;
}

const ulpsApart = (a: number, b: number): number => {
  const buf = new DataView(new ArrayBuffer(16));
  buf.setFloat64(0, a);
  buf.setFloat64(8, b);
  const ia = buf.getBigInt64(0);
  const ib = buf.getBigInt64(8);
  const ord = (i: bigint) => (i < 0n ? -(i & 0x7fffffffffffffffn) : i);
  const d = ord(ia) - ord(ib);
  return Number(d < 0n ? -d : d);
};

/** Where libtorch leaves the sign of a zero result unspecified (min and max of +0 and -0, as the reference notes). */
const ZERO_SIGN_FREE = new Set(['min', 'max', 'clamp']);

function disagreement(def: OpDef, args: number[], fold: number, run: number): string | undefined {
  const same =
    (Number.isNaN(fold) && Number.isNaN(run)) ||
    (fold === run && (fold !== 0 || Object.is(fold, run) || ZERO_SIGN_FREE.has(def.name))) ||
    (Number.isFinite(fold) && Number.isFinite(run) && fold !== 0 && run !== 0 && ulpsApart(fold, run) <= 2);
  const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
  return same ? undefined : `(${def.name} ${args.map(show).join(' ')}): folded ${show(fold)}, runtime ${show(run)}`;
}

const ARGS = ['a', 'b', 'c'];
const LANGUAGE_OPS = OPS.filter((def) => def.group !== 'internal' && def.pointwise);

describe('folding equals the runtime on edge values', () => {
  test.each(LANGUAGE_OPS.map((def) => [def.name, def] as const))('%s', (_name, def) => {
    // Fixed-arity ops at their arity; n-ary ones with one argument (their unary form) and two (their step).
    const arities = def.maxArgs === Infinity ? [1, 2] : [def.minArgs];
    const wrong: string[] = [];
    for (const arity of arities) {
      expect(pointwiseForm(def, arity)).toBeDefined();
      const rows = tuples(arity);
      const names = ARGS.slice(0, arity);
      const run = runtime(`(${def.name} ${names.join(' ')})`, names, rows);
      rows.forEach((args, k) => {
        const d = disagreement(def, args, folded(def.name, args), run[k]);
        if (d) wrong.push(d);
      });
    }
    expect(wrong).toEqual([]);
  });

  test('pow with a literal exponent (pow-scalar)', () => {
    const wrong: string[] = [];
    const def = OPS.find((d) => d.name === 'pow-scalar')!;
    for (const e of EXPONENTS) {
      const module = compile(`(pow x ${Object.is(e, -0) ? '-0.0' : e})`, {
        inputs: { x: 'scalar' },
        dtype: 'float64',
        fuse: false,
      });
      expect(module.graph!.regions[0].nodes.some((n) => n.op === 'pow-scalar' && Object.is(n.attrs[0], e))).toBe(true);
      module.dispose();
      const run = runtime(
        `(pow x ${Object.is(e, -0) ? '-0.0' : e})`,
        ['x'],
        EDGES.map((v) => [v]),
      );
      EDGES.forEach((v, k) => {
        const d = disagreement(def, [v, e], folded('pow-scalar', [v], [e]), run[k]);
        if (d) wrong.push(d);
      });
    }
    expect(wrong).toEqual([]);
  });
});
