// Turns Datums into the typed AST: recognizes special forms, resolves every name (see scope.ts),
// checks arities, recur placement, and classifies free identifiers as inputs or params.
import type { Callee, Expr, FunctionDef, LocalBinding, Span } from '../ast';
import { diag, didYouMean, renameFixes, suggest, withFixes, type Diagnostic, type Fix } from '../diagnostics';
import { PRIMITIVES, primitive } from '../ops';
import { headName, isList, isSymbol, type Datum, type ListDatum, type SymbolDatum } from './datum';
import { bindingList, expectParts, malformed, paramList, reportDuplicates, type Report } from './forms';
import { RESERVED, Scope } from './scope';

export interface ExternalFunction {
  minArgs: number;
  maxArgs: number;
}

export interface InterfaceOptions {
  inputs?: string[];
  params?: string[];
  functions?: Record<string, ExternalFunction>;
}

/** Where calls and value uses are recorded, to find values read before they are defined. */
export interface Usage {
  calls: { name: string; span: Span }[];
  values: { index: number; name: string; span: Span }[];
}

export const newUsage = (): Usage => ({ calls: [], values: [] });

export interface Context {
  scope: Scope;
  loop?: { id: number; arity: number };
  /** In tail position of the innermost loop's body (where `recur` may appear). */
  tail: boolean;
  /** Top-level values with an index below this are defined by now. */
  valuesDefined: number;
  usage: Usage;
}

/** A resolved operator with its arity; `display` is the name as written (function names may be renamed). */
interface CallTarget {
  callee: Callee;
  display: string;
  min: number;
  max: number;
}

const VEC: CallTarget = { callee: { kind: 'primitive', name: 'vec' }, display: 'vec', min: 1, max: Infinity };

/** Stands in for an expression that had an error; never reaches the compiler (no program then). */
const placeholder = (span: Span): Expr => ({ kind: 'number', value: NaN, span });

export class Resolver {
  readonly diagnostics: Diagnostic[] = [];
  readonly report: Report = (d) => this.diagnostics.push(d);
  /** Free identifiers in order of first use. */
  readonly free = new Map<string, 'input' | 'param'>();
  /** Usage of each function body, by unique function name. */
  readonly functionUsage = new Map<string, Usage>();
  private nextId = 0;
  private readonly functionNames = new Set<string>();
  private readonly declaredInputs: Set<string> | undefined;
  private readonly declaredParams: Set<string>;

  constructor(private readonly options: InterfaceOptions) {
    this.declaredInputs = options.inputs && new Set(options.inputs);
    this.declaredParams = new Set(options.params ?? []);
  }

  freshId(): number {
    return this.nextId++;
  }

  /** A program-wide unique name for a function: `f`, or `f#2` for the second function named f. */
  uniqueFunctionName(name: string): string {
    let unique = name;
    for (let k = 2; this.functionNames.has(unique); k++) unique = `${name}#${k}`;
    this.functionNames.add(unique);
    return unique;
  }

  local(scope: Scope, name: SymbolDatum): LocalBinding {
    const binding = { id: this.freshId(), name: name.name, span: name.span };
    scope.define(name.name, { kind: 'local', id: binding.id });
    return binding;
  }

  /** Resolves a function's body in a new scope holding its parameters. */
  functionBody(ctx: Context, name: string, params: SymbolDatum[], body: Datum): { params: LocalBinding[]; body: Expr } {
    reportDuplicates(this.report, params, 'parameter list');
    const scope = new Scope(ctx.scope);
    const locals = params.map((p) => this.local(scope, p));
    const usage = newUsage();
    this.functionUsage.set(name, usage);
    return { params: locals, body: this.expr(body, { scope, tail: false, valuesDefined: ctx.valuesDefined, usage }) };
  }

  expr(d: Datum, ctx: Context): Expr {
    switch (d.kind) {
      case 'number':
        return { kind: 'number', value: d.value, span: d.span };
      case 'bool':
        return { kind: 'bool', value: d.value, span: d.span };
      case 'invalid':
        return placeholder(d.span);
      case 'symbol':
        return this.variable(d, ctx);
      case 'vector':
        return this.call(VEC, { start: d.span.start, end: d.span.start + 1 }, d.items, d.span, ctx);
      case 'list':
        return this.list(d, ctx);
    }
  }

  private args(items: Datum[], ctx: Context): Expr[] {
    const inner = ctx.tail ? { ...ctx, tail: false } : ctx; // contexts are never mutated, so share one when it is the same
    return items.map((a) => this.expr(a, inner));
  }

  /** Whether the caller declared `name` as an input or a param. */
  declaredRole(name: string): 'input' | 'param' | undefined {
    return this.declaredInputs?.has(name) ? 'input' : this.declaredParams.has(name) ? 'param' : undefined;
  }

  private variable(d: SymbolDatum, ctx: Context): Expr {
    const { name, span } = d;
    if (RESERVED.has(name)) {
      this.report(diag('E0026', span, { name, use: 'a value' }));
      return placeholder(span);
    }
    const b = ctx.scope.lookup(name);
    if (b?.kind === 'local') return { kind: 'var', name, ref: { kind: 'local', id: b.id }, span };
    if (b?.kind === 'value') {
      if (b.index >= ctx.valuesDefined) this.report(diag('E0038', span, { name }));
      ctx.usage.values.push({ index: b.index, name, span });
      return { kind: 'var', name, ref: { kind: 'define', name }, span };
    }
    if (b?.kind === 'function' || this.options.functions?.[name]) {
      this.report(diag('E0034', span, { name }));
      return placeholder(span);
    }
    // A primitive's name as a value is an input of that name, as in the reference (its tests have an
    // input `exp`); in the head of a call it stays the primitive.
    const role = this.declaredRole(name);
    if (role) return this.freeVar(name, role, span);
    if (name === 'pi') return { kind: 'var', name, ref: { kind: 'pi' }, span };
    const nearby = () =>
      suggest(name, [...ctx.scope.visibleNames(), ...this.declaredParams, ...(this.declaredInputs ?? [])]);
    if (this.declaredInputs) {
      const nearbyNames = nearby();
      const close =
        nearbyNames.length > 0
          ? nearbyNames
          : suggest(
              name,
              PRIMITIVES.map((p) => p.name),
            );
      this.report(withFixes(diag('E0030', span, { name }, didYouMean(close)), renameFixes(span, close, true)));
      return placeholder(span);
    }
    // Only the first use of a free name is worth a warning (and worth the search).
    if (!this.free.has(name)) {
      const close = nearby();
      if (close.length > 0)
        this.report(withFixes(diag('W0001', span, { name }, didYouMean(close)), renameFixes(span, close, false)));
    }
    return this.freeVar(name, 'input', span);
  }

  private freeVar(name: string, role: 'input' | 'param', span: Span): Expr {
    if (!this.free.has(name)) this.free.set(name, role);
    return { kind: 'var', name, ref: { kind: 'free', name, role }, span };
  }

  private list(d: ListDatum, ctx: Context): Expr {
    const head = d.items[0];
    if (!head) {
      this.report(diag('E0036', d.span));
      return placeholder(d.span);
    }
    switch (headName(d)) {
      case 'let':
      case 'let*':
        return this.let(d, ctx);
      case 'if':
        return this.if(d, ctx);
      case 'cond':
        return this.cond(d, ctx);
      case 'letrec':
        return this.letrec(d, ctx);
      case 'loop':
        return this.loop(d, ctx);
      case 'recur':
        return this.recur(d, ctx);
      case 'lambda':
        this.report(diag('E0022', d.span));
        return placeholder(d.span);
      case 'define':
        this.report(diag('E0014', d.span));
        return placeholder(d.span);
      case 'else':
        this.report(diag('E0026', head.span, { name: 'else', use: 'an operator (it ends a cond)' }));
        return placeholder(d.span);
    }
    if (!isSymbol(head)) {
      this.report(diag('E0035', head.span));
      this.args(d.items.slice(1), ctx);
      return placeholder(d.span);
    }
    const target = this.callee(head, ctx);
    if (target) return this.call(target, head.span, d.items.slice(1), d.span, ctx);
    this.args(d.items.slice(1), ctx);
    return placeholder(d.span);
  }

  private callee(head: SymbolDatum, ctx: Context): CallTarget | undefined {
    const { name, span } = head;
    const b = ctx.scope.lookup(name);
    if (b?.kind === 'function') {
      ctx.usage.calls.push({ name: b.name, span });
      return { callee: { kind: 'function', name: b.name }, display: name, min: b.arity, max: b.arity };
    }
    const what =
      b?.kind === 'local'
        ? 'a local variable'
        : b?.kind === 'value'
          ? 'a value definition'
          : this.options.functions?.[name]
            ? undefined
            : primitive(name)
              ? undefined
              : this.declaredInputs?.has(name)
                ? 'an input'
                : this.declaredParams.has(name)
                  ? 'a param'
                  : name === 'pi'
                    ? 'a constant'
                    : null;
    if (what) {
      this.report(diag('E0033', span, { name, what }));
      return undefined;
    }
    if (what === undefined) {
      const external = this.options.functions?.[name];
      if (external)
        return { callee: { kind: 'external', name }, display: name, min: external.minArgs, max: external.maxArgs };
      const p = primitive(name)!;
      return { callee: { kind: 'primitive', name }, display: name, min: p.minArgs, max: p.maxArgs };
    }
    const candidates = [
      ...ctx.scope.visibleNames(),
      ...Object.keys(this.options.functions ?? {}),
      ...PRIMITIVES.map((p) => p.name),
    ];
    const close = suggest(name, candidates);
    this.report(withFixes(diag('E0031', span, { name }, didYouMean(close)), renameFixes(span, close, true)));
    return undefined;
  }

  private call(target: CallTarget, calleeSpan: Span, items: Datum[], span: Span, ctx: Context): Expr {
    const args = this.args(items, ctx);
    const { min, max } = target;
    if (args.length < min || args.length > max) {
      const expected = max === Infinity ? `at least ${min}` : min === max ? `${min}` : `${min} to ${max}`;
      const d = diag('E0040', span, { name: target.display, expected, got: args.length });
      this.report(
        withFixes(
          d,
          arityFixes(
            target.display,
            calleeSpan,
            items,
            span,
            args.length < min ? min - args.length : max - args.length,
          ),
        ),
      );
    }
    return { kind: 'call', callee: target.callee, calleeSpan, args, span };
  }

  private let(d: ListDatum, ctx: Context): Expr {
    const form = headName(d)!;
    if (!expectParts(this.report, form, d, 2, 'a binding list and one body expression')) return placeholder(d.span);
    const bindings = bindingList(this.report, form, d.items[1]) ?? [];
    reportDuplicates(
      this.report,
      bindings.map((b) => b.name),
      form,
    );
    const scope = new Scope(ctx.scope);
    const resolved = bindings.map((b) => {
      const value = this.expr(b.value, { ...ctx, scope, tail: false });
      return { binding: this.local(scope, b.name), value };
    });
    return { kind: 'let', bindings: resolved, body: this.expr(d.items[2], { ...ctx, scope }), span: d.span };
  }

  private if(d: ListDatum, ctx: Context): Expr {
    if (!expectParts(this.report, 'if', d, 3, 'a test, a then branch and an else branch')) return placeholder(d.span);
    return {
      kind: 'if',
      test: this.expr(d.items[1], { ...ctx, tail: false }),
      consequent: this.expr(d.items[2], ctx),
      alternative: this.expr(d.items[3], ctx),
      span: d.span,
    };
  }

  private cond(d: ListDatum, ctx: Context): Expr {
    const clauses: { test: Expr; body: Expr; span: Span }[] = [];
    let otherwise: Expr | undefined;
    const items = d.items.slice(1);
    items.forEach((c, i) => {
      if (!isList(c) || c.items.length !== 2) {
        malformed(this.report, 'cond', c.span, 'each clause must be (test expr) or (else expr)');
      } else if (headName(c) === 'else') {
        if (i !== items.length - 1) malformed(this.report, 'cond', c.span, "'else' must be the last clause");
        otherwise = this.expr(c.items[1], ctx);
      } else {
        clauses.push({
          test: this.expr(c.items[0], { ...ctx, tail: false }),
          body: this.expr(c.items[1], ctx),
          span: c.span,
        });
      }
    });
    if (!otherwise) {
      const last = items[items.length - 1];
      if (!(isList(last) && headName(last) === 'else'))
        this.report(diag('E0021', d.span, {}, 'add (else expr) as the last clause'));
      return placeholder(d.span);
    }
    return { kind: 'cond', clauses, otherwise, span: d.span };
  }

  private letrec(d: ListDatum, ctx: Context): Expr {
    if (!expectParts(this.report, 'letrec', d, 2, 'a binding list and one body expression')) return placeholder(d.span);
    const scope = new Scope(ctx.scope);
    const lambdas: { name: SymbolDatum; unique: string; params: SymbolDatum[]; body: Datum; span: Span }[] = [];
    for (const b of bindingList(this.report, 'letrec', d.items[1]) ?? []) {
      const lambda = b.value;
      const isLambda = isList(lambda) && headName(lambda) === 'lambda';
      if (!isLambda) {
        malformed(this.report, 'letrec', lambda.span, `the value of '${b.name.name}' must be a lambda`);
        continue;
      }
      if (!expectParts(this.report, 'lambda', lambda, 2, 'a parameter list and one body expression')) continue;
      const params = paramList(this.report, 'lambda', lambda.items[1]);
      if (!params) continue;
      const unique = this.uniqueFunctionName(b.name.name);
      scope.define(b.name.name, { kind: 'function', name: unique, arity: params.length });
      lambdas.push({ name: b.name, unique, params, body: lambda.items[2], span: b.span });
    }
    reportDuplicates(
      this.report,
      lambdas.map((l) => l.name),
      'letrec',
    );
    const inner: Context = { ...ctx, scope };
    const functions: FunctionDef[] = lambdas.map((l) => ({
      name: l.unique,
      nameSpan: l.name.span,
      ...this.functionBody(inner, l.unique, l.params, l.body),
      span: l.span,
    }));
    // Calls from the lambdas are made on behalf of whoever calls them; record them for the caller too.
    for (const f of functions) ctx.usage.calls.push({ name: f.name, span: f.nameSpan });
    return { kind: 'letrec', functions, body: this.expr(d.items[2], inner), span: d.span };
  }

  private loop(d: ListDatum, ctx: Context): Expr {
    if (!expectParts(this.report, 'loop', d, 2, 'a binding list and one body expression')) return placeholder(d.span);
    const bindings = bindingList(this.report, 'loop', d.items[1]) ?? [];
    reportDuplicates(
      this.report,
      bindings.map((b) => b.name),
      'loop',
    );
    const scope = new Scope(ctx.scope);
    const resolved = bindings.map((b) => {
      const init = this.expr(b.value, { ...ctx, scope, tail: false });
      return { binding: this.local(scope, b.name), init };
    });
    const id = this.freshId();
    const body = this.expr(d.items[2], { ...ctx, scope, loop: { id, arity: resolved.length }, tail: true });
    return { kind: 'loop', id, bindings: resolved, body, span: d.span };
  }

  private recur(d: ListDatum, ctx: Context): Expr {
    const args = this.args(d.items.slice(1), ctx);
    if (!ctx.loop) {
      this.report(diag('E0023', d.span));
      return placeholder(d.span);
    }
    if (args.length !== ctx.loop.arity)
      this.report(diag('E0024', d.span, { got: args.length, expected: ctx.loop.arity }));
    if (!ctx.tail)
      this.report(diag('E0025', d.span, {}, 'recur must be the last thing the loop body does, e.g. a branch of an if'));
    return { kind: 'recur', loop: ctx.loop.id, args, span: d.span };
  }
}

/**
 * One argument too few or too many: add a placeholder 0 before the closing bracket, or drop the
 * last argument. Which argument was meant is a guess, so neither is safe.
 */
function arityFixes(name: string, calleeSpan: Span, items: Datum[], span: Span, missing: number): Fix[] {
  if (missing === 1) {
    const at = span.end - 1; // before the closing bracket
    return [
      {
        title: `add a missing argument to '${name}' (a placeholder 0)`,
        edits: [{ span: { start: at, end: at }, text: ' 0' }],
        safe: false,
      },
    ];
  }
  if (missing === -1) {
    const last = items[items.length - 1];
    const before = items.length > 1 ? items[items.length - 2].span.end : calleeSpan.end;
    return [
      {
        title: `remove the extra last argument of '${name}'`,
        edits: [{ span: { start: before, end: last.span.end }, text: '' }],
        safe: false,
      },
    ];
  }
  return [];
}
