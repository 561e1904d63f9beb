// Names on the S-expression view, for the editor: which bindings are visible at an offset, where a
// name is bound, and every binding with the span of its value. It works on the reader's Datums, so
// it also works while the program has errors (completion is asked for mid-edit).
import type { Span } from '../../ast';
import { headName, isList, isSymbol, type Datum, type ListDatum, type SymbolDatum } from '../../frontend/datum';

export type BindingKind = 'value' | 'function' | 'local' | 'loop variable' | 'parameter';

export interface NameBinding {
  name: string;
  kind: BindingKind;
  /** The name where it is bound. */
  span: Span;
  /** The bound expression (values, let and loop bindings). */
  value?: Span;
  /** Functions: their parameter names. */
  params?: string[];
}

const inside = (span: Span, offset: number) => span.start <= offset && offset <= span.end;

/** `(name value)` pairs of a binding list, skipping malformed entries. */
function pairs(d: Datum | undefined): { name: SymbolDatum; value: Datum }[] {
  if (!isList(d)) return [];
  return d.items.flatMap((b) =>
    isList(b) && b.items.length === 2 && isSymbol(b.items[0]) ? [{ name: b.items[0], value: b.items[1] }] : [],
  );
}

const symbols = (d: Datum | undefined): SymbolDatum[] => (isList(d) ? d.items.filter(isSymbol) : []);

/** The top-level definitions: visible everywhere. */
export function topLevel(forms: readonly Datum[]): NameBinding[] {
  return forms.flatMap((f): NameBinding[] => {
    if (!isList(f) || headName(f) !== 'define') return [];
    const target = f.items[1];
    if (isSymbol(target)) return [{ name: target.name, kind: 'value', span: target.span, value: f.items[2]?.span }];
    if (isList(target) && isSymbol(target.items[0]))
      return [
        {
          name: target.items[0].name,
          kind: 'function',
          span: target.items[0].span,
          params: target.items
            .slice(1)
            .filter(isSymbol)
            .map((p) => p.name),
        },
      ];
    return [];
  });
}

/** The bindings a form introduces for the part of it that contains `offset`, innermost last. */
function introduced(list: ListDatum, offset: number): NameBinding[] {
  const [, first, body] = list.items;
  switch (headName(list)) {
    case 'define': {
      if (!isList(first) || !body || !inside(body.span, offset)) return [];
      return first.items
        .slice(1)
        .filter(isSymbol)
        .map((p) => ({ name: p.name, kind: 'parameter', span: p.span }));
    }
    case 'let':
    case 'let*':
    case 'loop': {
      const kind = headName(list) === 'loop' ? 'loop variable' : 'local';
      const bound = pairs(first).map(
        (b) => ({ name: b.name.name, kind, span: b.name.span, value: b.value.span }) as NameBinding,
      );
      if (body && inside(body.span, offset)) return bound;
      // Inside binding i's value, the bindings before it are visible.
      const i = pairs(first).findIndex((b) => inside(b.value.span, offset));
      return i > 0 ? bound.slice(0, i) : [];
    }
    case 'letrec': {
      const fns = pairs(first).map(
        (b) =>
          ({
            name: b.name.name,
            kind: 'function',
            span: b.name.span,
            params: symbols(isList(b.value) ? b.value.items[1] : undefined).map((p) => p.name),
          }) as NameBinding,
      );
      const lambda = pairs(first)
        .map((b) => b.value)
        .find((v) => inside(v.span, offset));
      const params =
        isList(lambda) && headName(lambda) === 'lambda' && lambda.items[2] && inside(lambda.items[2].span, offset)
          ? symbols(lambda.items[1]).map((p): NameBinding => ({ name: p.name, kind: 'parameter', span: p.span }))
          : [];
      return [...fns, ...params];
    }
    default:
      return [];
  }
}

/** Every binding visible at `offset`, innermost first (shadowing: the first of a name wins). */
export function visibleAt(forms: readonly Datum[], offset: number): NameBinding[] {
  const scopes: NameBinding[][] = [topLevel(forms)];
  let items: readonly Datum[] = forms;
  for (;;) {
    const d = items.find((item) => (item.kind === 'list' || item.kind === 'vector') && inside(item.span, offset));
    if (!d || (d.kind !== 'list' && d.kind !== 'vector')) break;
    if (d.kind === 'list') scopes.push(introduced(d, offset));
    items = d.items;
  }
  return scopes.reverse().flatMap((s) => [...s].reverse());
}

/** The innermost datum at `offset`, and the lists around it (outermost first). */
export function datumAt(forms: readonly Datum[], offset: number): { datum?: Datum; path: ListDatum[] } {
  const path: ListDatum[] = [];
  let items: readonly Datum[] = forms;
  let datum: Datum | undefined;
  for (;;) {
    const d = items.find((item) => inside(item.span, offset));
    if (!d) break;
    datum = d;
    if (d.kind !== 'list' && d.kind !== 'vector') break;
    if (d.kind === 'list') path.push(d);
    items = d.items;
  }
  return { datum, path };
}

/** Every binding in the program (for inlay hints), values and let/loop bindings with their value spans. */
export function allBindings(forms: readonly Datum[]): NameBinding[] {
  const out: NameBinding[] = topLevel(forms).filter((b) => b.kind === 'value');
  const visit = (d: Datum) => {
    if (d.kind !== 'list' && d.kind !== 'vector') return;
    const head = d.kind === 'list' ? headName(d) : undefined;
    if (head === 'let' || head === 'let*' || head === 'loop')
      for (const b of pairs(d.items[1]))
        out.push({
          name: b.name.name,
          kind: head === 'loop' ? 'loop variable' : 'local',
          span: b.name.span,
          value: b.value.span,
        });
    d.items.forEach(visit);
  };
  forms.forEach(visit);
  return out;
}
