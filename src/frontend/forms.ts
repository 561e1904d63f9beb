// Shape checks for special forms on the Datum view: each returns the form's parts, or undefined
// after reporting what is wrong (E0020 with the form's usage as the hint).
import type { Span } from '../ast';
import { diag, withFixes, type Diagnostic } from '../diagnostics';
import { isList, isSymbol, type Datum, type ListDatum, type SymbolDatum } from './datum';
import { RESERVED } from './scope';

export const USAGE: Record<string, string> = {
  define: '(define (name param ...) body) or (define name expr)',
  let: '(let ((name value) ...) body)',
  'let*': '(let* ((name value) ...) body)',
  if: '(if test then else)',
  cond: '(cond (test expr) ... (else expr))',
  letrec: '(letrec ((name (lambda (param ...) body)) ...) body)',
  lambda: '(lambda (param ...) body)',
  loop: '(loop ((name init) ...) body)',
};

export type Report = (d: Diagnostic) => void;

export function malformed(report: Report, form: string, span: Span, problem: string): undefined {
  report(diag('E0020', span, { form, problem }, `usage: ${USAGE[form]}`));
  return undefined;
}

/** Checks `(keyword part ...)` has exactly `count` parts after the keyword. */
export function expectParts(report: Report, form: string, list: ListDatum, count: number, what: string): boolean {
  const got = list.items.length - 1;
  if (got === count) return true;
  malformed(report, form, list.span, `expected ${what}, got ${got} part${got === 1 ? '' : 's'}`);
  return false;
}

/** A name being bound: a symbol that is not a reserved word. */
export function bindableName(report: Report, d: Datum): SymbolDatum | undefined {
  if (!isSymbol(d)) return undefined;
  if (RESERVED.has(d.name)) {
    report(diag('E0026', d.span, { name: d.name, use: 'a name' }));
    return undefined;
  }
  return d;
}

export interface BindingView {
  name: SymbolDatum;
  value: Datum;
  span: Span;
}

/** `((name value) ...)` of let, let*, loop and letrec. Malformed entries are reported and skipped. */
export function bindingList(report: Report, form: string, d: Datum): BindingView[] | undefined {
  if (!isList(d)) return malformed(report, form, d.span, 'expected a parenthesized list of bindings');
  if (isUnbracketedPairs(d)) {
    // `(let (x 1 y 2) ...)`: each pair in its own brackets, `((x 1) (y 2))`.
    const edits = d.items.flatMap((item, i) =>
      i % 2 === 0
        ? [{ span: { start: item.span.start, end: item.span.start }, text: '(' }]
        : [{ span: { start: item.span.end, end: item.span.end }, text: ')' }],
    );
    const problem = 'each binding needs its own brackets, as in ((name value) ...)';
    report(
      withFixes(diag('E0020', d.span, { form, problem }, `usage: ${USAGE[form]}`), [
        { title: 'put each binding in brackets', edits, safe: true },
      ]),
    );
    return undefined;
  }
  const out: BindingView[] = [];
  for (const b of d.items) {
    if (!isList(b) || b.items.length !== 2 || !isSymbol(b.items[0])) {
      malformed(report, form, b.span, 'each binding must be (name value)');
      continue;
    }
    const name = bindableName(report, b.items[0]);
    if (name) out.push({ name, value: b.items[1], span: b.span });
  }
  return out;
}

/** `(param ...)`: symbols only. */
export function paramList(report: Report, form: string, d: Datum): SymbolDatum[] | undefined {
  if (!isList(d)) return malformed(report, form, d.span, 'expected a parenthesized list of parameters');
  const out: SymbolDatum[] = [];
  for (const p of d.items) {
    if (!isSymbol(p)) malformed(report, form, p.span, 'parameters must be names');
    else {
      const name = bindableName(report, p);
      if (name) out.push(name);
    }
  }
  return out;
}

/** Reports names bound twice in one binding group (E0032). */
export function reportDuplicates(report: Report, names: SymbolDatum[], where: string): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n.name)) report(diag('E0032', n.span, { name: n.name, where }));
    seen.add(n.name);
  }
}

/** Names and values alternating with no brackets of their own: `(x 1)` or `(x 1 y 2)`. */
const isUnbracketedPairs = (d: ListDatum): boolean =>
  d.items.length >= 2 &&
  d.items.length % 2 === 0 &&
  d.items.every((item, i) => i % 2 === 1 || (isSymbol(item) && !RESERVED.has(item.name)));
