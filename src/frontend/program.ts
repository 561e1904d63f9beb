// Top-level structure: definitions first, then exactly one result expression. Top-level functions
// are visible everywhere; each value definition sees the values before it. A value may not be
// read, directly or through the functions its definition calls, before it is defined.
import type { FunctionDef, Program, Span, ValueDef } from '../ast';
import { diag } from '../diagnostics';
import { headName, isList, isSymbol, type Datum, type ListDatum, type SymbolDatum } from './datum';
import { bindableName, expectParts, malformed, paramList, reportDuplicates } from './forms';
import { newUsage, Resolver, type Usage } from './resolve';
import { Scope } from './scope';

type Definition =
  | { kind: 'function'; name: SymbolDatum; params: SymbolDatum[]; body: Datum; span: Span }
  | { kind: 'value'; name: SymbolDatum; value: Datum; span: Span };

const isDefine = (d: Datum): d is ListDatum => isList(d) && headName(d) === 'define';

export function checkProgram(forms: Datum[], resolver: Resolver, sourceLength: number): Program | undefined {
  const report = resolver.report;
  if (forms.length === 0) {
    report(diag('E0010', { start: 0, end: sourceLength }));
    return undefined;
  }
  const results = forms.filter((f) => !isDefine(f));
  if (results.length === 0) report(diag('E0013', forms[forms.length - 1].span));
  if (results.length > 1)
    report(diag('E0011', results[1].span, { count: results.length }, 'combine the results, e.g. into a vector [a b]'));
  const firstResult = forms.indexOf(results[0]);
  const definitions: Definition[] = [];
  forms.forEach((f, i) => {
    if (!isDefine(f)) return;
    if (results.length > 0 && i > firstResult) report(diag('E0012', f.span));
    const def = definition(f, resolver);
    if (def) definitions.push(def);
  });
  reportDuplicates(
    report,
    definitions.map((d) => d.name),
    'program',
  );

  // A define would shadow the caller's input or param of that name, which then silently does nothing.
  for (const { name } of definitions) {
    const role = resolver.declaredRole(name.name);
    if (role)
      report(
        diag(
          'E0039',
          name.span,
          { name: name.name, role },
          `rename the define, or stop declaring '${name.name}' a ${role}`,
        ),
      );
  }

  const top = new Scope();
  const functionDefs = definitions.filter((d) => d.kind === 'function');
  const valueDefs = definitions.filter((d) => d.kind === 'value');
  for (const f of functionDefs)
    top.define(f.name.name, {
      kind: 'function',
      name: resolver.uniqueFunctionName(f.name.name),
      arity: f.params.length,
    });
  valueDefs.forEach((v, index) => top.define(v.name.name, { kind: 'value', name: v.name.name, index }));

  const functions: FunctionDef[] = functionDefs.map((f) => ({
    name: f.name.name,
    nameSpan: f.name.span,
    ...resolver.functionBody(
      { scope: top, tail: false, valuesDefined: Infinity, usage: newUsage() },
      f.name.name,
      f.params,
      f.body,
    ),
    span: f.span,
  }));
  const values: ValueDef[] = valueDefs.map((v, index) => {
    const usage = newUsage();
    const value = resolver.expr(v.value, { scope: top, tail: false, valuesDefined: index, usage });
    reportEarlyReads(resolver, index, usage);
    return { name: v.name.name, nameSpan: v.name.span, value, span: v.span };
  });
  const result =
    results[0] &&
    resolver.expr(results[0], { scope: top, tail: false, valuesDefined: valueDefs.length, usage: newUsage() });
  if (!result) return undefined;
  const free = [...resolver.free];
  return {
    functions,
    values,
    result,
    inputs: free.filter(([, role]) => role === 'input').map(([name]) => name),
    params: free.filter(([, role]) => role === 'param').map(([name]) => name),
  };
}

function definition(d: ListDatum, resolver: Resolver): Definition | undefined {
  const report = resolver.report;
  if (!expectParts(report, 'define', d, 2, 'a name or signature and one expression')) return undefined;
  const [, target, body] = d.items;
  if (isSymbol(target)) {
    const name = bindableName(report, target);
    return name && { kind: 'value', name, value: body, span: d.span };
  }
  if (isList(target) && isSymbol(target.items[0])) {
    const name = bindableName(report, target.items[0]);
    const params = paramList(report, 'define', { ...target, items: target.items.slice(1) });
    return name && params && { kind: 'function', name, params, body, span: d.span };
  }
  return malformed(report, 'define', target.span, 'expected a name or (name param ...)');
}

/** Value `index` may only read values before it, also through the functions it calls. */
function reportEarlyReads(resolver: Resolver, index: number, usage: Usage): void {
  for (const v of usage.values) if (v.index >= index) return; // already reported as E0038 directly
  for (const call of usage.calls) {
    const seen = new Set<string>();
    const pending = [call.name];
    while (pending.length > 0) {
      const fn = resolver.functionUsage.get(pending.pop()!);
      if (!fn) continue;
      const early = fn.values.find((v) => v.index >= index);
      if (early) {
        resolver.report(
          diag(
            'E0038',
            call.span,
            { name: early.name },
            `'${call.name}' reads '${early.name}', and is called before '${early.name}' is defined`,
          ),
        );
        return;
      }
      for (const c of fn.calls) if (!seen.has(c.name)) (seen.add(c.name), pending.push(c.name));
    }
  }
}
