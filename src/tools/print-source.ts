// Programs printed back with values written in (`Module.toSource`, `neuralc fit --print`): the
// source text with each param either defined at the top or replaced by its literal value, so a
// fitted model reads as the physics it found. Numbers are printed so they read back exactly; the
// values a literal cannot spell are expressions that evaluate to them.
import type { Program, Span } from '../ast';
import { walk } from '../compiler/walk';
import type { Nested } from '../runtime/host-data';
import type { DType } from '../runtime/tensor';
import { formatNumber } from './numbers';

export type ParamStyle = 'defines' | 'literals';

/** A number as source text that evaluates to exactly it (also NaN, the infinities and -0). */
export function numberText(x: number, dtype: DType): string {
  if (Number.isNaN(x)) return '(/ 0 0)';
  if (x === Infinity) return '(/ 1 0)';
  if (x === -Infinity) return '(/ -1 0)';
  if (Object.is(x, -0)) return '(- 0)';
  return formatNumber(x, dtype);
}

/** A scalar, `[a b c]` or `(mat [a b] [c d])`. */
export function valueText(v: Nested, dtype: DType): string {
  if (typeof v === 'number') return numberText(v, dtype);
  const row = (r: Nested[]) => `[${r.map((x) => valueText(x, dtype)).join(' ')}]`;
  if (v.every((x) => typeof x === 'number')) return row(v);
  return `(mat ${v.map((r) => row(r as Nested[])).join(' ')})`;
}

/** Every place the program reads a param, in source order. */
function paramUses(program: Program): { name: string; span: Span }[] {
  const uses: { name: string; span: Span }[] = [];
  for (const root of [...program.functions.map((f) => f.body), ...program.values.map((v) => v.value), program.result])
    walk(root, (e) => {
      if (e.kind === 'var' && e.ref.kind === 'free' && e.ref.role === 'param')
        uses.push({ name: e.name, span: e.span });
    });
  return uses.sort((a, b) => a.span.start - b.span.start);
}

/** Where the first form starts: definitions go there, after any header comments. */
function firstFormStart(program: Program): number {
  const starts = [...program.functions, ...program.values].map((d) => d.span.start);
  return Math.min(program.result.span.start, ...starts);
}

export function printWithParams(
  text: string,
  program: Program,
  values: Record<string, Nested>,
  style: ParamStyle,
  dtype: DType,
): string {
  if (style === 'defines') {
    const at = firstFormStart(program);
    const defines = program.params.map((name) => `(define ${name} ${valueText(values[name], dtype)})\n`).join('');
    return text.slice(0, at) + defines + text.slice(at);
  }
  let out = text;
  for (const { name, span } of paramUses(program).reverse())
    out = out.slice(0, span.start) + valueText(values[name], dtype) + out.slice(span.end);
  return out;
}
