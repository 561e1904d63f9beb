// AST -> op graph, in one walk that also infers and checks shapes (the checker) and decides batching.
//
// Sub-regions are closed: a value from an enclosing region reaches a sub-region as a capture (an
// `arg` node), discovered on first use and resolved through every region in between. Functions are
// specialised per argument shapes and batching; recursive functions and loops whose result shape is
// only known after their body is lowered are lowered again with the corrected guess.
import type { Expr, FunctionDef, Program, Span } from '../ast';
import { CompileError, diag, type Diagnostic, type DiagnosticCode } from '../diagnostics';
import type { SourceFile } from '../frontend';
import { applyPointwise, ELEMENTWISE, pointwiseForm, primitive, showShape, type Primitive, type Shape } from '../ops';
import {
  CHECKPOINT_DOUBLING,
  scalarConst,
  type IrGraph,
  type IrNode,
  type IfNode,
  type IrRegion,
  type NewNode,
} from './ir';
import { gridAttrs } from './grid-attrs';
import { removeDeadCode } from './passes';
import { walk } from './walk';

export interface LowerOptions {
  inputs: { name: string; shape: Shape; batched: boolean }[];
  /** Every parameter the graph reads: the program's own first, then those of inlined programs. */
  params: { name: string; shape: Shape }[];
  /** Loop iterations and recursion depth. */
  limit: number;
  /** What a loop's backward keeps (default 'auto': see loopCheckpoint). */
  checkpoint?: CheckpointOption;
  source: SourceFile;
  /** Functions supplied by the caller, by the name the program calls them. */
  externals?: ReadonlyMap<string, External>;
}

/**
 * A caller-supplied function. A compiled program is inlined (composition is one graph, exact); its
 * parameters sit at `paramOffset` in the graph's parameter list, its own functions in `externals`.
 */
export interface ExternalProgram {
  kind: 'program';
  program: Program;
  /** The callee's inputs in call-argument order (its declared inputs, used or not). */
  inputs: string[];
  source: SourceFile;
  paramOffset: number;
  externals: ReadonlyMap<string, External>;
  /** Per-sample shapes the callee declared for its inputs, where it did. */
  inputShapes: (Shape | undefined)[];
}

/** A learned component (an MLP), the `index`-th of the graph's callables; its arguments are concatenated. */
export interface ExternalLearned {
  kind: 'learned';
  index: number;
  /** Where its weights and biases start in the graph's parameter list (the tier reads them there). */
  paramOffset: number;
  inFeatures: number;
  outFeatures: number;
}

export type External = ExternalProgram | ExternalLearned;

/** Stops lowering at the first error; the message is already a diagnostic. */
class Stop extends Error {
  constructor(
    readonly diagnostic: Diagnostic,
    /** For branches of different shapes: the two shapes (a recursive function may retry with the other). */
    readonly shapes?: [Shape, Shape],
  ) {
    super(diagnostic.message);
  }
}

const fail = (code: DiagnosticCode, span: Span, args: Record<string, string | number> = {}, hint?: string): never => {
  throw new Stop(diag(code, span, args, hint));
};

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Values a family of sibling sub-regions (then/else, or a loop body) takes from the parent. */
class Captures {
  readonly outer: number[] = [];
  constructor(readonly offset: number) {}
  indexOf(parentId: number): number {
    let i = this.outer.indexOf(parentId);
    if (i < 0) i = this.outer.push(parentId) - 1;
    return this.offset + i;
  }
}

/** 'off', 'auto', or the iterations per recomputed segment of a loop's backward. */
export type CheckpointOption = 'auto' | 'off' | number;

/**
 * Per-sample elements of a loop-carried value from which 'auto' checkpoints the loop: the fields of
 * a grid, not the scalars of an ODE, whose tape is small and would only be recomputed for nothing.
 */
export const AUTO_CHECKPOINT_ELEMENTS = 1024;

/** The `checkpoint` of a loop whose state has these per-sample shapes. */
function loopCheckpoint(option: CheckpointOption, stateShapes: readonly Shape[]): number {
  if (option === 'off') return 0;
  if (option !== 'auto') return option;
  const large = stateShapes.some((s) => s.reduce((a, b) => a * b, 1) >= AUTO_CHECKPOINT_ELEMENTS);
  return large ? CHECKPOINT_DOUBLING : 0;
}

/**
 * The most nodes, and constant elements, one graph may hold (about 1 GB of compiler memory each).
 * A 1 MB source cannot reach them directly, but function instances multiply: a large body called at
 * many shapes is lowered once per shape, and each (eye 1000) holds a million constants.
 */
export const MAX_GRAPH_NODES = 1_000_000;
export const MAX_GRAPH_CONSTANTS = 100_000_000;
const NO_SPAN: Span = { start: 0, end: 0 };

class RegionBuilder implements IrRegion {
  nodes: IrNode[] = [];
  results: number[] = [];
  private readonly captured = new Map<number, number>();
  constructor(
    readonly index: number,
    readonly name: string,
    private readonly shared: Shared,
    readonly parent?: RegionBuilder,
    readonly captures?: Captures,
  ) {}

  emit(node: NewNode): number {
    const size = this.shared.size;
    size.nodes += 1;
    size.constants += node.op === 'const' ? node.data.length : 0;
    if (size.nodes > MAX_GRAPH_NODES)
      fail(
        'E0109',
        node.span ?? NO_SPAN,
        { limit: `${MAX_GRAPH_NODES.toLocaleString('en-US')} nodes` },
        'a function is compiled once for each shape it is called at; call it at fewer shapes, or split the program',
      );
    if (size.constants > MAX_GRAPH_CONSTANTS)
      fail(
        'E0109',
        node.span ?? NO_SPAN,
        { limit: `${MAX_GRAPH_CONSTANTS.toLocaleString('en-US')} constant elements` },
        'large constants (eye, zeros, ones) are stored in the graph; pass big arrays as inputs instead',
      );
    return this.nodes.push({ attrs: [], ...node } as IrNode) - 1;
  }

  /** The id in this region of a value that lives in `owner` (this region or an enclosing one). */
  use(owner: RegionBuilder, id: number): number {
    if (owner === this) return id;
    if (!this.parent || !this.captures)
      throw new Error(`internal: value of region ${owner.name} used in closed region ${this.name}`);
    const parentId = this.parent.use(owner, id);
    const index = this.captures.indexOf(parentId);
    let local = this.captured.get(index);
    if (local === undefined) {
      const p = this.parent.nodes[parentId];
      local = this.emit({ op: 'arg', args: [], index, shape: p.shape, batched: p.batched });
      this.captured.set(index, local);
    }
    return local;
  }
}

interface Binding {
  region: RegionBuilder;
  id: number;
}

/**
 * Lexical environment keyed by the front end's resolution: `l<id>`, `d:<name>`, `f:<name>`. Immutable
 * to its users. Extending the newest env of a chain shares its map (a let of n bindings is O(n), not
 * O(n^2)): entries carry their insertion number and an env sees only the first `size` of them.
 */
class Env {
  constructor(
    private readonly vars: Map<string, { b: Binding; seq: number }> = new Map(),
    private readonly size = 0,
  ) {}
  with(key: string, b: Binding): Env {
    if (this.vars.size === this.size && !this.vars.has(key)) {
      this.vars.set(key, { b, seq: this.size });
      return new Env(this.vars, this.size + 1);
    }
    // Extended before, or rebinding a key: a copy of what this env sees (seqs 0 .. size-1), then the key.
    const copy = new Map<string, { b: Binding; seq: number }>();
    for (const [k, e] of this.vars) if (e.seq < this.size) copy.set(k, e);
    const old = copy.get(key);
    copy.set(key, { b, seq: old ? old.seq : this.size });
    return new Env(copy, old ? this.size : this.size + 1);
  }
  get(key: string): Binding | undefined {
    const e = this.vars.get(key);
    return e !== undefined && e.seq < this.size ? e.b : undefined;
  }
}

const refKey = (e: Extract<Expr, { kind: 'var' }>): string | undefined => {
  switch (e.ref.kind) {
    case 'local':
      return `l${e.ref.id}`;
    case 'define':
      return `d:${e.ref.name}`;
    case 'free':
      return `f:${e.ref.name}`;
    case 'pi':
      return undefined;
  }
};

/** Every function of the program by its unique name, with the outer names each one reads (transitively). */
function analyseFunctions(program: Program): Map<string, { def: FunctionDef; free: string[] }> {
  const defs = new Map<string, FunctionDef>();
  for (const f of program.functions) defs.set(f.name, f);
  walk(program.result, (e) => e.kind === 'letrec' && e.functions.forEach((f) => defs.set(f.name, f)));
  for (const v of program.values)
    walk(v.value, (e) => e.kind === 'letrec' && e.functions.forEach((f) => defs.set(f.name, f)));
  for (const f of [...defs.values()])
    walk(f.body, (e) => e.kind === 'letrec' && e.functions.forEach((g) => defs.set(g.name, g)));

  const direct = new Map<string, { reads: Set<string>; bound: Set<string>; calls: Set<string> }>();
  for (const [name, f] of defs) {
    const reads = new Set<string>();
    const bound = new Set(f.params.map((p) => `l${p.id}`));
    const calls = new Set<string>();
    walk(f.body, (e) => {
      if (e.kind === 'var') {
        const k = refKey(e);
        if (k) reads.add(k);
      } else if (e.kind === 'call' && e.callee.kind === 'function') calls.add(e.callee.name);
      else if (e.kind === 'let') e.bindings.forEach((b) => bound.add(`l${b.binding.id}`));
      else if (e.kind === 'loop') e.bindings.forEach((b) => bound.add(`l${b.binding.id}`));
      else if (e.kind === 'letrec') e.functions.forEach((g) => g.params.forEach((p) => bound.add(`l${p.id}`)));
    });
    direct.set(name, { reads, bound, calls });
  }
  // Fixed point: a function also reads what the functions it calls read from outside themselves.
  const free = new Map<string, Set<string>>();
  for (const [name, d] of direct) free.set(name, new Set([...d.reads].filter((k) => !d.bound.has(k))));
  for (let changed = true; changed;) {
    changed = false;
    for (const [name, d] of direct) {
      const mine = free.get(name)!;
      for (const callee of d.calls)
        for (const k of free.get(callee) ?? [])
          if (!d.bound.has(k) && !mine.has(k)) {
            mine.add(k);
            changed = true;
          }
    }
  }
  const out = new Map<string, { def: FunctionDef; free: string[] }>();
  for (const [name, def] of defs) out.set(name, { def, free: [...free.get(name)!].sort() });
  return out;
}

interface Instance {
  region: RegionBuilder;
  shape: Shape;
  batched: boolean;
}

/** Values of a loop body's tail: [done, result, next state...]. */
interface LoopContext {
  stateShapes: Shape[];
  /** The loop body region and its state arguments (a leaf in a branch region reaches them as captures). */
  body?: RegionBuilder;
  stateIds: number[];
  resultGuess: Shape;
  resultShape?: Shape;
}

const MAX_GUESSES = 4;

/** What the lowerers of a program and of the programs inlined into it build together. */
interface Shared {
  regions: RegionBuilder[];
  recursive: boolean;
  /** Nodes and constant elements emitted so far, against MAX_GRAPH_NODES and MAX_GRAPH_CONSTANTS. */
  size: { nodes: number; constants: number };
}

class Lowerer {
  private readonly functions: Map<string, { def: FunctionDef; free: string[] }>;
  private readonly instances = new Map<string, Instance>();
  /** The compile-time value of scalar arithmetic on known numbers (see primitive). */
  private readonly folded = new WeakMap<IrNode, number>();

  constructor(
    private readonly program: Program,
    private readonly options: LowerOptions,
    readonly shared: Shared = { regions: [], recursive: false, size: { nodes: 0, constants: 0 } },
    private readonly paramOffset = 0,
  ) {
    this.functions = analyseFunctions(program);
  }

  region(name: string, parent?: RegionBuilder, captures?: Captures): RegionBuilder {
    const r = new RegionBuilder(this.shared.regions.length, name, this.shared, parent, captures);
    this.shared.regions.push(r);
    return r;
  }

  private where(span: Span): string {
    const p = this.options.source.position(span.start);
    return `${p.line}:${p.column}`;
  }

  lowerProgram(): void {
    const main = this.region('main');
    const inputs = new Map(
      this.options.inputs.map((input, index) => [
        input.name,
        main.emit({ op: 'input', args: [], index, shape: input.shape, batched: input.batched }),
      ]),
    );
    let result = this.lowerBody(inputs, main);
    // A batch in gives a batch out, even where the result does not depend on the batched inputs.
    const like = [...inputs.values()].find((id) => main.nodes[id].batched);
    const r = main.nodes[result];
    if (like !== undefined && !r.batched)
      result = main.emit({ op: 'expand-batch', args: [result, like], shape: r.shape, batched: true, span: r.span });
    main.results = [result];
  }

  /** The program's values and result in region `rb`, its inputs bound by name to ids in rb. */
  private lowerBody(inputs: ReadonlyMap<string, number>, rb: RegionBuilder): number {
    let env = new Env();
    for (const name of this.program.inputs) {
      const id = inputs.get(name);
      if (id === undefined) throw new Error(`internal: input '${name}' has no value`);
      env = env.with(`f:${name}`, { region: rb, id });
    }
    this.program.params.forEach((name, k) => {
      const index = this.paramOffset + k;
      const id = rb.emit({ op: 'param', args: [], index, shape: this.options.params[index].shape, batched: false });
      env = env.with(`f:${name}`, { region: rb, id });
    });
    for (const v of this.program.values)
      env = env.with(`d:${v.name}`, { region: rb, id: this.lower(v.value, env, rb) });
    return this.lower(this.program.result, env, rb);
  }

  private constant(rb: RegionBuilder, data: number[], shape: Shape, span?: Span): number {
    return rb.emit({ op: 'const', args: [], data: Float64Array.from(data), shape, batched: false, span });
  }

  lower(e: Expr, env: Env, rb: RegionBuilder): number {
    switch (e.kind) {
      case 'number':
        return this.constant(rb, [e.value], [], e.span);
      case 'bool':
        return this.constant(rb, [e.value ? 1 : 0], [], e.span);
      case 'var': {
        const key = refKey(e);
        if (key === undefined) return this.constant(rb, [Math.PI], [], e.span);
        const b = env.get(key);
        if (!b) throw new Error(`internal: '${e.name}' (${key}) has no value`);
        return rb.use(b.region, b.id);
      }
      case 'let': {
        let inner = env;
        for (const { binding, value } of e.bindings)
          inner = inner.with(`l${binding.id}`, { region: rb, id: this.lower(value, inner, rb) });
        return this.lower(e.body, inner, rb);
      }
      case 'letrec':
        return this.lower(e.body, env, rb);
      case 'if':
        return this.lowerIf(e.test, e.consequent, e.alternative, env, rb, e.span);
      case 'cond':
        return this.lower(condToIf(e), env, rb);
      case 'loop':
        return this.lowerLoop(e, env, rb);
      case 'recur':
        throw new Error('internal: recur outside the tail of a loop reached the compiler');
      case 'call': {
        if (e.callee.kind === 'function') {
          const looped = this.tailCallLoop(e, e.callee.name, env, rb);
          if (looped !== undefined) return looped;
        }
        const args = e.args.map((a) => this.lower(a, env, rb));
        if (e.callee.kind === 'primitive') return this.primitive(primitive(e.callee.name)!, args, rb, e.span);
        if (e.callee.kind === 'function') return this.call(e.callee.name, args, env, rb, e.span);
        return this.external(e.callee.name, args, rb, e.span);
      }
    }
  }

  /** A supplied program is inlined: its body is lowered right here, with its inputs bound to the arguments. */
  private external(name: string, args: number[], rb: RegionBuilder, span: Span): number {
    const ext = this.options.externals?.get(name);
    if (!ext) throw new Error(`internal: external function '${name}' has no implementation`);
    if (ext.kind === 'learned') return this.learned(name, ext, args, rb, span);
    ext.inputShapes.forEach((expected, k) => {
      const got = rb.nodes[args[k]].shape;
      if (expected && !sameShape(expected, got))
        fail('E0107', span, {
          k: k + 1,
          name,
          got: showShape(got),
          input: ext.inputs[k],
          expected: showShape(expected),
        });
    });
    const options = { ...this.options, source: ext.source, externals: ext.externals };
    try {
      const bound = new Map(ext.inputs.map((input, k) => [input, args[k]]));
      return new Lowerer(ext.program, options, this.shared, ext.paramOffset).lowerBody(bound, rb);
    } catch (e) {
      if (!(e instanceof Stop)) throw e;
      // The problem lies in the other program's text: report it at this call, saying where in that text.
      const p = ext.source.position(e.diagnostic.span!.start); // lowering always reports a place
      return fail('E0106', span, {
        name,
        file: ext.source.file,
        line: p.line,
        column: p.column,
        message: e.diagnostic.message,
      });
    }
  }

  /** A learned component called on scalars and vectors, concatenated into its input features. */
  private learned(name: string, ext: ExternalLearned, args: number[], rb: RegionBuilder, span: Span): number {
    const nodes = args.map((a) => rb.nodes[a]);
    const bad = nodes.findIndex((n) => n.shape.length > 1);
    if (bad >= 0)
      fail('E0108', span, {
        name,
        problem: `argument ${bad + 1} is ${showShape(nodes[bad].shape)}; pass scalars and vectors`,
      });
    const features = nodes.reduce((sum, n) => sum + (n.shape.length === 0 ? 1 : n.shape[0]), 0);
    if (features !== ext.inFeatures)
      fail('E0108', span, {
        name,
        problem: `it takes ${ext.inFeatures} input features, the arguments give ${features} (${nodes.map((n) => showShape(n.shape)).join(', ')})`,
      });
    return rb.emit({
      op: 'extern',
      args,
      index: ext.index,
      argBatched: nodes.map((n) => n.batched),
      shape: ext.outFeatures === 1 ? [] : [ext.outFeatures],
      batched: nodes.some((n) => n.batched),
      span,
    });
  }

  /** A primitive applied to lowered arguments: shape rule, compile-time values, batch alignment. */
  primitive(p: Primitive, args: number[], rb: RegionBuilder, span: Span): number {
    const nodes = args.map((a) => rb.nodes[a]);
    const shapes = nodes.map((n) => n.shape);
    const consts = nodes.map((n) => scalarConst(n) ?? this.folded.get(n));
    const result = p.shape(shapes, consts);
    if (typeof result === 'string') return fail('E0100', span, { name: p.name, problem: result });
    switch (p.name) {
      case 'vlen':
        return this.constant(rb, [shapes[0][shapes[0].length - 1]], [], span);
      case 'zeros':
      case 'ones':
        return this.constant(rb, new Array(result[0]).fill(p.name === 'ones' ? 1 : 0), result, span);
      case 'eye': {
        const n = result[0];
        return this.constant(
          rb,
          Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0)),
          result,
          span,
        );
      }
    }
    const batched = nodes.some((n) => n.batched);
    let attrs: number[] = [];
    if (p.name === 'ref') attrs = [result.length, nodes[0].batched ? 1 : 0];
    else if (p.name === 'solve') attrs = [shapes[1].length === 1 ? 1 : 0];
    else if (p.name === 'diag') attrs = [shapes[0].length === 1 ? 1 : 0];
    else if (p.name === 'tridiagonal-solve') attrs = nodes.map((n) => (n.batched ? 1 : 0));
    else if (p.group === 'grid') attrs = gridAttrs(p.name, shapes, consts);
    const exponent = p.name === 'pow' ? scalarConst(nodes[1]) : undefined;
    if (exponent !== undefined) {
      // A literal exponent is a plain number to libtorch, as one writes by hand: pow(x, 2) is then
      // exactly x*x (a tensor exponent takes the general, less exact path).
      return rb.emit({ op: 'pow-scalar', args: [args[0]], attrs: [exponent], shape: result, batched, span });
    }
    const aligned =
      p.shape === ELEMENTWISE || p.name === 'scale'
        ? args.map((a) => this.align(rb, a, result.length))
        : p.group === 'grid' && p.name !== 'tridiagonal-solve' // its kernel takes each argument's batching
          ? this.alignToGrid(rb, p, args)
          : args;
    // An index known only at run time, and a matrix that may be singular (or a tridiagonal system
    // with a zero pivot), are checked there; the label lets that error name this call.
    const checked =
      (p.name === 'ref' && scalarConst(nodes[1]) === undefined) ||
      p.name === 'inv' ||
      p.name === 'solve' ||
      p.name === 'tridiagonal-solve';
    const label = checked ? `'${p.name}' at ${this.where(span)}` : undefined;
    const out = rb.emit({ op: p.name, args: aligned, attrs, shape: result, batched, span, ...(label && { label }) });
    // Arithmetic on known numbers has a known value (the node stays; folding is an optimisation
    // pass), so a size such as (ones (- n 1)) is known here.
    if (pointwiseForm(p, args.length) && !batched && consts.every((c) => c !== undefined))
      this.folded.set(rb.nodes[out], applyPointwise(p, consts as number[], []));
    return out;
  }

  /**
   * A grid primitive's scalar tensor arguments (a spacing h, a pad value c) broadcast per sample
   * against its array: aligned to the array's rank. Constant arguments are left as they are.
   */
  private alignToGrid(rb: RegionBuilder, p: Primitive, args: number[]): number[] {
    const rank = rb.nodes[args[p.constArgs?.includes(0) ? 1 : 0]].shape.length;
    return args.map((a, i) => (p.constArgs?.includes(i) ? a : this.align(rb, a, rank)));
  }

  /** A batched value of lower per-sample rank gets trailing unit dimensions, so it broadcasts per sample. */
  private align(rb: RegionBuilder, id: number, rank: number): number {
    const n = rb.nodes[id];
    const missing = rank - n.shape.length;
    if (!n.batched || missing <= 0) return id;
    return rb.emit({ op: 'unsqueeze-tail', args: [id], attrs: [missing], shape: n.shape, batched: true, span: n.span });
  }

  private lowerIf(test: Expr, consequent: Expr, alternative: Expr, env: Env, rb: RegionBuilder, span: Span): number {
    const t = this.lower(test, env, rb);
    const tn = rb.nodes[t];
    const known = scalarConst(tn);
    if (known !== undefined) return this.lower(known !== 0 ? consequent : alternative, env, rb);
    if (tn.shape.length > 0) {
      // A vector or matrix test selects element by element: both branches run, blended by `where`.
      const a = this.lower(consequent, env, rb);
      const b = this.lower(alternative, env, rb);
      return this.primitive(WHERE, [t, a, b], rb, span);
    }
    const caps = new Captures(0);
    const branches = [consequent, alternative].map((branch, k) => {
      const r = this.region(k === 0 ? 'then' : 'else', rb, caps);
      r.results = [this.lower(branch, env, r)];
      return r;
    });
    const [a, b] = branches.map((r) => r.nodes[r.results[0]]);
    if (!sameShape(a.shape, b.shape)) {
      const d = diag(
        'E0103',
        span,
        { a: showShape(a.shape), b: showShape(b.shape) },
        'give both branches the same shape, e.g. (* x (ones n)) for a vector of x',
      );
      throw new Stop(d, [a.shape, b.shape]);
    }
    return this.branchNode(rb, t, caps, branches, span);
  }

  /** An `if` node over branch regions with equal result counts; output j is batched if the test or either branch's j is. */
  private branchNode(rb: RegionBuilder, test: number, caps: Captures, branches: RegionBuilder[], span: Span): number {
    const args = [test, ...caps.outer];
    const testBatched = rb.nodes[test].batched;
    const [a, b] = branches.map((r) => r.results.map((id) => r.nodes[id]));
    const outputBatched = a.map((n, j) => testBatched || n.batched || b[j].batched);
    return rb.emit({
      op: 'if',
      args,
      regions: branches.map((r) => r.index),
      argBatched: args.map((x) => rb.nodes[x].batched),
      outputs: a.length,
      outputBatched,
      shape: a.length === 1 ? a[0].shape : [],
      batched: a.length === 1 && outputBatched[0],
      span,
    });
  }

  private call(name: string, args: number[], env: Env, rb: RegionBuilder, span: Span): number {
    const { def, free } = this.functions.get(name)!;
    const outer = free.map((key) => {
      const b = env.get(key);
      if (!b) throw new Error(`internal: function '${name}' reads ${key}, unbound at its call`);
      return rb.use(b.region, b.id);
    });
    const all = [...args, ...outer];
    const instance = this.instance(
      def,
      free,
      all.map((a) => rb.nodes[a]),
    );
    this.shared.recursive = true;
    return rb.emit({
      op: 'call',
      args: all,
      regions: [instance.region.index],
      argBatched: all.map((a) => rb.nodes[a].batched),
      limit: this.options.limit,
      label: `function '${displayName(def.name)}'`,
      shape: instance.shape,
      batched: instance.batched,
      span,
    });
  }

  /** The function specialised to its arguments' shapes and batching (lowered on first use). */
  private instance(def: FunctionDef, free: string[], args: IrNode[]): Instance {
    const key = `${def.name}(${args.map((a) => `${a.shape.join('x')}${a.batched ? 'b' : ''}`).join(',')})`;
    const existing = this.instances.get(key);
    if (existing) return existing;
    // First guess for a recursive call met while lowering the body: a scalar, batched like the arguments.
    const instance: Instance = { region: this.region(key), shape: [], batched: args.some((a) => a.batched) };
    this.instances.set(key, instance);
    try {
      return this.lowerInstance(key, instance, def, free, args);
    } catch (e) {
      this.forgetSince(key, true);
      throw e;
    }
  }

  /**
   * Drops the instances made after `key` (and `key` itself with `inclusive`). They were lowered while
   * `key`'s result was still a guess, so a call of `key` in them may rest on the wrong shape; and one
   * whose lowering failed has a region without results. Mutual recursion meets both.
   */
  private forgetSince(key: string, inclusive: boolean): void {
    let after = false;
    for (const k of [...this.instances.keys()]) {
      if (after || (k === key && inclusive)) this.instances.delete(k);
      after ||= k === key;
    }
  }

  private lowerInstance(key: string, instance: Instance, def: FunctionDef, free: string[], args: IrNode[]): Instance {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.forgetSince(key, false);
      const r = attempt === 0 ? instance.region : this.region(key);
      instance.region = r;
      let env = new Env();
      [...def.params.map((p) => `l${p.id}`), ...free].forEach((k, index) => {
        env = env.with(k, {
          region: r,
          id: r.emit({ op: 'arg', args: [], index, shape: args[index].shape, batched: args[index].batched }),
        });
      });
      let out: { shape: Shape; batched: boolean };
      try {
        r.results = [this.lower(def.body, env, r)];
        out = r.nodes[r.results[0]];
      } catch (e) {
        // A branch disagreeing with the guessed result of a recursive call: guess the other branch's shape.
        const other = e instanceof Stop && e.shapes?.find((s) => !sameShape(s, instance.shape));
        if (!other || attempt + 1 >= MAX_GUESSES || !e.shapes!.some((s) => sameShape(s, instance.shape))) throw e;
        out = { shape: other, batched: instance.batched };
      }
      if (sameShape(out.shape, instance.shape) && out.batched === instance.batched) return instance;
      // A recursive call assumed another result; lower again with what the body gave.
      if (attempt + 1 >= MAX_GUESSES) fail('E0105', def.nameSpan, { name: displayName(def.name) });
      instance.shape = out.shape;
      instance.batched = out.batched;
    }
  }

  /**
   * A call of a function whose only self-calls are tail calls, lowered as a loop (recur for each
   * self-call), as the reference runs tail calls: no depth to exhaust, the loop limit still applies
   * (naming the function). Undefined when the function is not of that kind, or when its arguments
   * change shape from call to call (a loop's state cannot): then it is an ordinary call.
   */
  private tailCallLoop(
    e: Extract<Expr, { kind: 'call' }>,
    name: string,
    env: Env,
    rb: RegionBuilder,
  ): number | undefined {
    const { def } = this.functions.get(name)!;
    if (!onlyTailSelfCalls(def)) return undefined;
    const loop: Extract<Expr, { kind: 'loop' }> = {
      kind: 'loop',
      id: TAIL_LOOP_ID,
      bindings: def.params.map((binding, k) => ({ binding, init: e.args[k] })),
      body: asRecur(def.body, name),
      span: e.span,
    };
    try {
      return this.lowerLoop(loop, env, rb, `function '${displayName(name)}'`);
    } catch (err) {
      if (err instanceof Stop) return undefined;
      throw err;
    }
  }

  private lowerLoop(e: Extract<Expr, { kind: 'loop' }>, env: Env, rb: RegionBuilder, label?: string): number {
    let inner = env;
    const inits: number[] = [];
    for (const { binding, init } of e.bindings) {
      const id = this.lower(init, inner, rb);
      inits.push(id);
      inner = inner.with(`l${binding.id}`, { region: rb, id });
    }
    const initNodes = inits.map((id) => rb.nodes[id]);
    // Batched when an initial value or anything the body reads is; a read the lowering then folds
    // away is found out below (no batched argument) and the loop lowered again unbatched.
    let batched = initNodes.some((n) => n.batched) || this.readsBatched(e.body, env);
    const ctx: LoopContext = { stateShapes: initNodes.map((n) => n.shape), stateIds: [], resultGuess: [] };
    for (let attempt = 0; ; attempt++) {
      const caps = new Captures(inits.length);
      const body = this.region('loop body', rb, caps);
      ctx.body = body;
      let bodyEnv = env;
      ctx.stateIds = e.bindings.map(({ binding }, index) => {
        const id = body.emit({
          op: 'arg',
          args: [],
          index,
          shape: ctx.stateShapes[index],
          batched,
          span: binding.span,
        });
        bodyEnv = bodyEnv.with(`l${binding.id}`, { region: body, id });
        return id;
      });
      ctx.resultShape = undefined;
      body.results = this.lowerTail(e.body, bodyEnv, body, ctx);
      const resultShape: Shape = ctx.resultShape ?? fail('E0104', e.span);
      const args = [...inits, ...caps.outer];
      if (batched && !args.some((a) => rb.nodes[a].batched)) {
        batched = false;
        continue;
      }
      if (sameShape(resultShape, ctx.resultGuess)) {
        return rb.emit({
          op: 'loop',
          args,
          regions: [body.index],
          argBatched: args.map((a) => rb.nodes[a].batched),
          state: inits.length,
          limit: this.options.limit,
          checkpoint: loopCheckpoint(this.options.checkpoint ?? 'auto', ctx.stateShapes),
          label: label ?? `loop at ${this.where(e.span)}`,
          shape: resultShape,
          batched,
          span: e.span,
        });
      }
      if (attempt + 1 >= MAX_GUESSES) throw new Error('internal: loop result shape did not settle');
      ctx.resultGuess = resultShape;
    }
  }

  /** Whether an expression reads a batched value from the environment (directly or through functions). */
  private readsBatched(e: Expr, env: Env): boolean {
    let found = false;
    const check = (key: string) => {
      const b = env.get(key);
      if (b && b.region.nodes[b.id].batched) found = true;
    };
    walk(e, (x) => {
      if (x.kind === 'var') {
        const k = refKey(x);
        if (k) check(k);
      } else if (x.kind === 'call' && x.callee.kind === 'function')
        this.functions.get(x.callee.name)!.free.forEach(check);
    });
    return found;
  }

  /** Lowers an expression in tail position of a loop body to [done, result, next state...]. */
  private lowerTail(e: Expr, env: Env, rb: RegionBuilder, ctx: LoopContext): number[] {
    switch (e.kind) {
      case 'recur': {
        const next = e.args.map((a) => this.lower(a, env, rb));
        next.forEach((id, i) => {
          const got = rb.nodes[id].shape;
          if (!sameShape(got, ctx.stateShapes[i]))
            fail('E0101', e.args[i].span, { got: showShape(got), expected: showShape(ctx.stateShapes[i]) });
        });
        const placeholder = this.constant(
          rb,
          new Array(ctx.resultGuess.reduce((a, b) => a * b, 1)).fill(0),
          ctx.resultGuess,
        );
        return [this.constant(rb, [0], []), placeholder, ...next];
      }
      case 'let': {
        let inner = env;
        for (const { binding, value } of e.bindings)
          inner = inner.with(`l${binding.id}`, { region: rb, id: this.lower(value, inner, rb) });
        return this.lowerTail(e.body, inner, rb, ctx);
      }
      case 'letrec':
        return this.lowerTail(e.body, env, rb, ctx);
      case 'cond':
        return this.lowerTail(condToIf(e), env, rb, ctx);
      case 'if': {
        const t = this.lower(e.test, env, rb);
        const tn = rb.nodes[t];
        const known = scalarConst(tn);
        if (known !== undefined) return this.lowerTail(known !== 0 ? e.consequent : e.alternative, env, rb, ctx);
        if (tn.shape.length > 0) fail('E0102', e.test.span, { shape: showShape(tn.shape) });
        const caps = new Captures(0);
        const branches = [e.consequent, e.alternative].map((branch, k) => {
          const r = this.region(k === 0 ? 'then' : 'else', rb, caps);
          r.results = this.lowerTail(branch, env, r, ctx);
          return r;
        });
        const tuple = this.branchNode(rb, t, caps, branches, e.span);
        const { outputBatched } = rb.nodes[tuple] as IfNode;
        return branches[0].results.map((id, j) =>
          rb.emit({
            op: 'proj',
            args: [tuple],
            index: j,
            shape: branches[0].nodes[id].shape,
            batched: outputBatched[j],
          }),
        );
      }
      default: {
        const value = this.lower(e, env, rb);
        const shape = rb.nodes[value].shape;
        if (ctx.resultShape === undefined) {
          ctx.resultShape = shape;
        } else if (!sameShape(shape, ctx.resultShape)) {
          fail(
            'E0103',
            e.span,
            { a: showShape(ctx.resultShape), b: showShape(shape) },
            'every way out of a loop must give a value of one shape',
          );
        }
        const result = sameShape(shape, ctx.resultGuess)
          ? value
          : this.constant(rb, new Array(ctx.resultGuess.reduce((a, b) => a * b, 1)).fill(0), ctx.resultGuess);
        return [this.constant(rb, [1], []), result, ...ctx.stateIds.map((id) => rb.use(ctx.body!, id))];
      }
    }
  }
}

/** The `where` blend as a primitive-like entry: elementwise over (test, then, else). */
const WHERE: Primitive = { ...primitive('+')!, name: 'where', minArgs: 3, maxArgs: 3, doc: '' };

function condToIf(e: Extract<Expr, { kind: 'cond' }>): Expr {
  return e.clauses.reduceRight<Expr>(
    (rest, c) => ({ kind: 'if', test: c.test, consequent: c.body, alternative: rest, span: c.span }),
    e.otherwise,
  );
}

/** Letrec functions carry unique internal names; show the name as written. */
const displayName = (name: string): string => name.replace(/#\d+$/, '');

/** The id of the loops tail calls become (recur targets the innermost loop; the id only labels it). */
const TAIL_LOOP_ID = -1;

/** Whether the function calls itself, and only in tail position (not inside a loop or a local function). */
function onlyTailSelfCalls(def: FunctionDef): boolean {
  let tail = 0;
  let other = 0;
  const visit = (e: Expr, inTail: boolean): void => {
    switch (e.kind) {
      case 'call':
        if (e.callee.kind === 'function' && e.callee.name === def.name) inTail ? tail++ : other++;
        return e.args.forEach((a) => visit(a, false));
      case 'if':
        visit(e.test, false);
        visit(e.consequent, inTail);
        return visit(e.alternative, inTail);
      case 'cond':
        e.clauses.forEach((c) => (visit(c.test, false), visit(c.body, inTail)));
        return visit(e.otherwise, inTail);
      case 'let':
        e.bindings.forEach((b) => visit(b.value, false));
        return visit(e.body, inTail);
      case 'letrec':
        e.functions.forEach((f) => visit(f.body, false));
        return visit(e.body, inTail);
      case 'loop':
        e.bindings.forEach((b) => visit(b.init, false));
        return visit(e.body, false);
      case 'recur':
        return e.args.forEach((a) => visit(a, false));
      default:
        return;
    }
  };
  visit(def.body, true);
  return tail > 0 && other === 0;
}

/** The body with each (tail) self-call of `name` as a recur. */
function asRecur(e: Expr, name: string): Expr {
  switch (e.kind) {
    case 'call':
      return e.callee.kind === 'function' && e.callee.name === name
        ? { kind: 'recur', loop: TAIL_LOOP_ID, args: e.args, span: e.span }
        : e;
    case 'if':
      return { ...e, consequent: asRecur(e.consequent, name), alternative: asRecur(e.alternative, name) };
    case 'cond':
      return {
        ...e,
        clauses: e.clauses.map((c) => ({ ...c, body: asRecur(c.body, name) })),
        otherwise: asRecur(e.otherwise, name),
      };
    case 'let':
    case 'letrec':
      return { ...e, body: asRecur(e.body, name) };
    default:
      return e;
  }
}

export function lowerProgram(program: Program, options: LowerOptions): IrGraph {
  const l = new Lowerer(program, options);
  try {
    l.lowerProgram();
  } catch (e) {
    if (e instanceof Stop) throw new CompileError([e.diagnostic], options.source);
    throw e;
  }
  const graph: IrGraph = {
    regions: l.shared.regions.map((r) => ({ name: r.name, nodes: r.nodes, results: r.results })),
    inputs: options.inputs,
    params: options.params,
    recursive: l.shared.recursive,
  };
  // Attempts abandoned when a guessed result shape was wrong leave regions nothing live calls (and
  // some without results); they go here, with or without the optimisation passes.
  removeDeadCode(graph, true);
  return graph;
}
