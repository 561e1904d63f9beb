// The S-expression view of a syntax tree that the checks work on: lists, vectors and atoms with
// spans. Special forms are recognized on this view, so malformed ones get precise diagnostics.
import type { Span } from '../ast';

export type Datum =
  | { kind: 'list'; items: Datum[]; span: Span }
  | { kind: 'vector'; items: Datum[]; span: Span }
  | { kind: 'number'; value: number; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'symbol'; name: string; span: Span }
  /** A token that starts like a number but is not one; already reported. */
  | { kind: 'invalid'; span: Span };

export type ListDatum = Extract<Datum, { kind: 'list' }>;
export type SymbolDatum = Extract<Datum, { kind: 'symbol' }>;

export const isSymbol = (d: Datum | undefined): d is SymbolDatum => d?.kind === 'symbol';
export const isList = (d: Datum | undefined): d is ListDatum => d?.kind === 'list';

/** The keyword heading a list, if its first item is a symbol. */
export const headName = (d: ListDatum): string | undefined => (isSymbol(d.items[0]) ? d.items[0].name : undefined);
