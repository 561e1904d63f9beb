// The public face of the compiler: `compile` turns source into a Module (a frozen program with
// trainable parameters) and `run` evaluates once into plain JS data. Inputs are validated here, in
// one message format, before anything reaches native code.
import type { Program, Span } from '../ast';
import { CompileError, diag, type Diagnostic, type DiagnosticCode } from '../diagnostics';
import { parseProgram, type SourceFile } from '../frontend';
import { MAX_RANK, showShape, type Shape } from '../ops';
import { describe, flatten, type Nested } from '../runtime/host-data';
import { native, type NativeGraph, type NativeTape } from '../runtime/native';
import { computedNodes, footprint, nativeSpec, numel, type Footprint } from '../runtime/spec';
import { flag, knownOptions, oneOf } from '../runtime/validate';
import { MAX_TENSOR_BYTES, Tensor, gb, tensor, type Device, type DType } from '../runtime/tensor';
import { Mlp } from '../nn/mlp';
import type { IrGraph } from '../compiler/ir';
import type { CheckpointOption, External } from '../compiler/lower';
import { compileGraph } from '../compiler/pipeline';
import { graphToDot, graphToText } from '../compiler/print';
import { walk } from '../compiler/walk';
import { repeats, tierTakes, toTape, type LearnedLayout, type TapeSpec } from '../compiler/tape';
import { checkCompileArguments } from './options';
import {
  tierProgram,
  valueAndGrad,
  type TierProgram,
  type ValueAndGrad,
  type ValueAndGradOptions,
} from './value-and-grad';
import { printWithParams, type ParamStyle } from '../tools/print-source';

/** A per-sample input shape: 'scalar', [n] for a vector, [r, c] for a matrix. */
export type InputShape = 'scalar' | number[];

export interface CompileOptions {
  /** File name used in diagnostics. */
  file?: string;
  /** Input names, optionally with per-sample shapes. Undeclared shapes are taken from the first values. */
  inputs?: string[] | Record<string, InputShape | null>;
  /** Trainable parameters: names (initialised at 1.0, as the reference does) or initial values. */
  params?: string[] | Record<string, Nested>;
  dtype?: DType;
  device?: Device;
  /** Loop iterations and recursion depth allowed per call (default 10,000). */
  limit?: number;
  /**
   * Loop iterations and function calls one run may take in all (default 1,000,000): nested loops and
   * branching recursion multiply within their own limits, and this bounds the time of a run.
   */
  maxSteps?: number;
  /** Run constant folding, CSE and dead-code removal (default true). */
  optimize?: boolean;
  /**
   * What a loop's backward keeps (docs/architecture.md, "Loops and checkpointing"). 'auto' (default):
   * loops carrying a value of 1,024 or more elements per sample keep their state at about
   * sqrt(2N) of their N iterations and recompute the segments between (about one extra forward run);
   * smaller loops keep every iteration's tape. 'off': every loop keeps its tape. A whole number n:
   * every loop keeps its state every n iterations.
   */
  checkpoint?: CheckpointOption;
  /**
   * Fuse chains of elementwise ops into single nodes (default true): large batches run each chain
   * in one pass over the data forward and backward, small ones op by op with identical results.
   */
  fuse?: boolean;
  /**
   * The small-program tier (default true): programs of scalar pointwise ops run without libtorch's
   * per-op dispatch. forward() takes it on small CPU batches (below the sizes where libtorch's
   * vectorised kernels win, chosen by benchmarks); its result is still a Tensor whose backward runs
   * the tier's reverse program, float64 within 1e-12 of the libtorch path, float32 within a few
   * ulps (not bit for bit: summation order and libm calls differ). valueAndGrad and fit() (each step's
   * loss and gradient, ODE integration included) use it wherever the program allows. false keeps
   * everything on libtorch.
   */
  tier?: boolean;
  /**
   * Functions the program may call by name. A compiled module is inlined into this graph
   * (composition is exact; arity: its number of inputs). An MLP (`nn.mlp`) runs inside the graph on
   * its arguments, scalars and vectors concatenated into its input features. Their parameters train
   * with this module's.
   */
  functions?: Record<string, Module | Mlp>;
}

/** An input value: a Tensor, a number, nested arrays, or a typed array with its shape. */
export type InputValue =
  Tensor | Nested | Float32Array | Float64Array | { data: Float32Array | Float64Array; shape: number[] };

const FORWARD_OPTIONS = ['batch', 'grad'];

export interface ForwardOptions {
  /** Every input carries a leading batch dimension (needed only where input shapes were not declared). */
  batch?: boolean;
  /** Record the autograd graph (default: when a parameter or an input tensor requires a gradient). */
  grad?: boolean;
}

/** @internal See `Module.state()`. */
export interface ModuleState {
  params: readonly { name: string; tensor: Tensor }[];
  functions: ReadonlyMap<string, Module | Mlp>;
  declared: ReadonlyMap<string, Shape | undefined>;
  limit: number;
  maxSteps: number;
  checkpoint: CheckpointOption;
  optimize: boolean;
}

export const DEFAULT_LIMIT = 10000;
export const DEFAULT_MAX_STEPS = 1_000_000;
const TRAINING =
  'module is being trained by fit() (itself, or a model that calls it); await that fit, or abort it through its signal, first';

interface Specialisation {
  graph: IrGraph;
  native: NativeGraph;
  footprint: Footprint;
}

/**
 * The largest batches forward() runs on the small-program tier, without and with a gradient recorded:
 * above them libtorch's vectorised kernels win (`npm run bench -- --only tier`, the crossover table).
 */
const TIER_MAX_BATCH = { value: 128, grad: 512 };

/** Input signatures of the small-program tier: which inputs are batched, and each one's per-sample shape. */
const tierKey = (batched: boolean[], shapes: Shape[]): string =>
  batched.map((b, i) => `${b ? 'b' : 's'}${shapes[i].join('x')}`).join(',');

export class Module {
  readonly source: SourceFile;
  readonly program: Program;
  /** The input names, in order: the declared ones (used or not), else the free names the program reads. */
  readonly inputs: readonly string[];
  readonly dtype: DType;
  readonly device: Device;
  /** Diagnostics that are not errors (warnings), kept for callers that want to show them. */
  readonly warnings: Diagnostic[];
  private readonly params: { name: string; tensor: Tensor }[];
  /** The initial values given to `compile` for the own params, by index (the stability check reads them). */
  private readonly paramValues: (Float64Array | undefined)[];
  private readonly functions: Map<string, Module | Mlp>;
  /** Own parameters, then each supplied function's (named `function.param`): the graph's parameter list. */
  private readonly allParams: { name: string; tensor: Tensor }[];
  /** The learned components the graph calls: those given here, then those of the modules given. */
  private readonly callables: Mlp[];
  private readonly declared: Map<string, Shape | undefined>;
  private readonly specialisations = new Map<string, Specialisation>();
  /** The small-program tier's programs by input batching (null: the tier cannot run this program). */
  private readonly tiers = new Map<string, TierProgram | null>();
  private single?: TierProgram | null;
  private readonly limit: number;
  private readonly maxSteps: number;
  private readonly optimize: boolean;
  private readonly checkpoint: CheckpointOption;
  private readonly fuse: boolean;
  /** @internal Compile option tier: whether anything runs on the small-program tier. */
  readonly useTier: boolean;
  private last?: Specialisation;
  /** The input signature `last` was chosen for: a repeated call skips building the key string. */
  private lastSignature?: { shape: Shape; batched: boolean }[];
  /** forward()'s last tier lookup: a call batched as the one before finds its program without a key. */
  private lastTier?: { signature: { shape: Shape; batched: boolean }[]; program: TierProgram | undefined };
  /** The signature of the last forward() call when the tier ran it: `graph` builds its graph on request. */
  private tierSignature?: { name: string; shape: Shape; batched: boolean }[];
  private disposed = false;
  /** @internal Set by fit() while a worker thread trains the parameters through this module's graph. */
  training = false;

  /** @internal Use `compile`. */
  constructor(text: string, options: CompileOptions = {}) {
    checkCompileArguments('compile', text, options);
    const paramInit = normaliseParams(options.params);
    const declared = normaliseInputs(options.inputs);
    this.functions = normaliseFunctions(options.functions, options.dtype ?? 'float32');
    const parsed = parseProgram(text, {
      file: options.file,
      inputs: declared && [...declared.keys()],
      params: paramInit && [...paramInit.keys()],
      functions: Object.fromEntries(
        [...this.functions].map(([name, f]) => [
          name,
          f instanceof Mlp
            ? { minArgs: 1, maxArgs: f.inFeatures }
            : { minArgs: f.inputs.length, maxArgs: f.inputs.length },
        ]),
      ),
    });
    if (!parsed.program) throw new CompileError(parsed.diagnostics, parsed.source);
    this.source = parsed.source;
    this.program = parsed.program;
    this.warnings = parsed.diagnostics.filter((d) => d.severity === 'warning');
    this.dtype = options.dtype ?? 'float32';
    this.device = options.device ?? 'cpu';
    this.limit = checkLimit('limit', options.limit, DEFAULT_LIMIT);
    this.maxSteps = checkLimit('maxSteps', options.maxSteps, DEFAULT_MAX_STEPS);
    this.optimize = options.optimize ?? true;
    this.checkpoint = options.checkpoint ?? 'auto';
    this.fuse = options.fuse ?? true;
    this.useTier = options.tier ?? true;
    this.inputs = declared ? [...declared.keys()] : this.program.inputs;
    this.declared = new Map(this.inputs.map((name) => [name, declared?.get(name)]));

    const problems: Diagnostic[] = [];
    const flatParams = this.program.params.map((name) => {
      const value = paramInit?.get(name) ?? 1;
      try {
        const flat = flatten(value, 'its value');
        if (flat.shape.length > MAX_RANK)
          problems.push(
            this.error('E0204', name, {
              name,
              problem: `its value must be a scalar or an array of rank ≤ ${MAX_RANK}`,
            }),
          );
        if (flat.data.some(Number.isNaN))
          problems.push(this.error('E0204', name, { name, problem: 'its initial value is NaN' }));
        return { name, flat };
      } catch (e) {
        problems.push(this.error('E0204', name, { name, problem: (e as Error).message }));
        return undefined;
      }
    });
    if (problems.length > 0) throw new CompileError(problems, this.source);
    // Names alone leave the values to run time (they start at 1 only to have one).
    this.paramValues = options.params && !Array.isArray(options.params) ? flatParams.map((p) => p!.flat.data) : [];
    this.params = flatParams.map((p) => ({
      name: p!.name,
      tensor: tensor(p!.flat.data, {
        shape: p!.flat.shape,
        dtype: this.dtype,
        device: this.device,
        requiresGrad: true,
      }),
    }));
    const functionParams = ([fname, f]: [string, Module | Mlp]) =>
      Object.entries(f.namedParameters()).map(([name, t]) => ({ name: `${fname}.${name}`, tensor: t }));
    this.allParams = [...this.params, ...[...this.functions].flatMap(functionParams)];
    this.callables = [...this.functions.values()].flatMap((f) => (f instanceof Mlp ? [f] : f.callables));
    // With every input's shape declared, shapes are checked now rather than at the first call.
    if ([...this.declared.values()].every((s) => s !== undefined))
      this.specialise(this.inputs.map((name) => ({ name, shape: this.declared.get(name)!, batched: false })));
  }

  /** The op graph of the last call's signature (or of the declared shapes before any call). */
  get graph(): IrGraph | undefined {
    // A call the tier ran built no libtorch graph: built now, as that call would have on libtorch.
    if (this.tierSignature) this.specialise(this.tierSignature);
    return this.last?.graph;
  }
  graphText(format: 'text' | 'dot' = 'text'): string {
    const graph = this.graph;
    if (!graph) throw new Error('no graph yet: declare input shapes or call forward() once');
    return format === 'dot' ? graphToDot(graph) : graphToText(graph);
  }

  /**
   * The program with its current parameter values written in: as `(define name value)` forms at
   * the top (default) or as literals at each use. It compiles, with the same dtype and no params,
   * to the same values (bit for bit in float64). Modules given `functions` cannot be printed alone.
   */
  toSource(options: { params?: ParamStyle } = {}): string {
    this.checkUsable();
    knownOptions('toSource', options, ['params']);
    oneOf('toSource', 'params', options.params, ['defines', 'literals']);
    if (this.functions.size > 0)
      throw new Error(
        `toSource: this module calls functions given at compile time (${[...this.functions.keys()].join(', ')}); print each of them separately`,
      );
    const values = Object.fromEntries(this.params.map((p) => [p.name, p.tensor.toArray()]));
    return printWithParams(this.source.text, this.program, values, options.params ?? 'defines', this.dtype);
  }

  /** Every parameter the module trains: its own, then those of the functions it was given. */
  parameters(): Tensor[] {
    return this.allParams.map((p) => p.tensor);
  }
  namedParameters(): Record<string, Tensor> {
    return Object.fromEntries(this.allParams.map((p) => [p.name, p.tensor]));
  }
  /** The parameters of the learned components it calls: its MLPs' and those of the modules it calls. */
  learnedParameters(): Tensor[] {
    return [...this.functions.values()].flatMap((f) => (f instanceof Mlp ? f.parameters() : f.learnedParameters()));
  }
  /** The learned parameters a weight penalty covers: the hidden layers of the MLPs it calls (Mlp.penalisedParameters). */
  penalisedParameters(): Tensor[] {
    return [...this.functions.values()].flatMap((f) => f.penalisedParameters());
  }
  /** Stops gradients to the parameters (they act as constants). */
  freeze(): void {
    this.checkUsable();
    for (const p of this.allParams) p.tensor.requiresGrad = false;
  }
  unfreeze(): void {
    this.checkUsable();
    for (const p of this.allParams) p.tensor.requiresGrad = true;
  }

  forward(inputs: Record<string, InputValue>, options?: ForwardOptions): Tensor {
    this.checkUsable();
    // Checked only when given: the common call, without options, is the batch-1 hot path.
    if (options !== undefined) {
      knownOptions('forward', options, FORWARD_OPTIONS);
      flag('forward', 'batch', options.batch);
      flag('forward', 'grad', options.grad);
    }
    const values = this.prepareInputs(inputs, options?.batch ?? false);
    try {
      const grad =
        options?.grad ??
        (this.allParams.some((p) => p.tensor.requiresGrad) || values.some((v) => v.tensor.requiresGrad));
      const tier = this.smallBatchTier(values, grad);
      if (tier) {
        this.tierSignature = values;
        try {
          return new Tensor(tier.tape.forward(handles(values), grad));
        } catch (e) {
          throw this.tierError(tier, e as Error);
        }
      }
      const spec = this.specialise(values.map((v) => ({ name: v.name, shape: v.shape, batched: v.batched })));
      const batch = values.find((v) => v.batched)?.tensor.shape[0] ?? 1;
      const need = spec.footprint.fixed + batch * spec.footprint.perSample;
      if (need > MAX_TENSOR_BYTES) this.tooLarge(spec.graph, batch, need);
      try {
        return new Tensor(spec.native.forward(handles(values), grad));
      } catch (e) {
        throw this.runtimeError(spec.graph, e as Error);
      }
    } finally {
      for (const v of values) if (v.owned) v.tensor.dispose();
    }
  }

  /**
   * The value and the gradients of the sum of the output, in one native call on numbers and typed
   * arrays (JAX's value_and_grad): for every trainable parameter, and for the inputs in `wrt`.
   * Programs of scalar pointwise ops (and the MLPs they call) run on the small-program tier; others
   * on the libtorch path.
   */
  valueAndGrad(
    inputs: Record<string, number | ArrayLike<number> | Nested[]>,
    options?: ValueAndGradOptions,
  ): ValueAndGrad {
    this.checkUsable();
    return valueAndGrad(this, inputs, options);
  }

  /** @internal A tier call's failure: at a labelled node (a loop's limit), the diagnostic there. */
  tierError(tier: TierProgram, e: Error): Error {
    return this.runtimeError(tier.graph, e);
  }

  /**
   * @internal For valueAndGrad at large batches: calls `run` with the native graph of scalar inputs
   * batched as given when that graph's result is a fused node of per-sample scalars (its forward and
   * the backward of its sum then run in one pass over the data), and gives its result; undefined
   * when the program is not of that kind. Native failures at a labelled node become diagnostics.
   */
  withFusedResult<R>(batched: boolean[], run: (graph: NativeGraph) => R): R | undefined {
    if (this.device !== 'cpu' || [...this.declared.values()].some((shape) => shape !== undefined && shape.length > 0))
      return undefined;
    const spec = this.specialise(this.inputs.map((name, i) => ({ name, shape: [], batched: batched[i] })));
    const region = spec.graph.regions[0];
    const root = region.results.length === 1 ? region.nodes[region.results[0]] : undefined;
    if (root?.op !== 'fused' || root.shape.length !== 0 || !root.batched) return undefined;
    try {
      return run(spec.native);
    } catch (e) {
      throw this.runtimeError(spec.graph, e as Error);
    }
  }

  /** The tier's program for a forward call, when the tier takes it: a small batch, on the CPU. */
  private smallBatchTier(
    values: { shape: Shape; batched: boolean; tensor: Tensor }[],
    grad: boolean,
  ): TierProgram | undefined {
    if (!this.useTier) return undefined;
    let batch = 1;
    for (const v of values) if (v.batched) batch = v.tensor.dims[0];
    if (batch > (grad ? TIER_MAX_BATCH.grad : TIER_MAX_BATCH.value)) return undefined;
    // A call with the signature of the one before allocates nothing here (the batch-1 hot path).
    let program = this.lastTier?.program;
    if (!this.lastTier || !sameSignature(this.lastTier.signature, values)) {
      program = this.tier(
        values.map((v) => v.batched),
        values.map((v) => v.shape),
      );
      this.lastTier = { signature: values.map(({ shape, batched }) => ({ shape, batched })), program };
    }
    // Large MLP work and large batches of loops or calls go to libtorch, as in fit() and valueAndGrad.
    return program && tierTakes(batch, program.weights, program.repeats) ? program : undefined;
  }

  /** @internal An input's declared per-sample shape (undefined: not declared, read from the value given). */
  declaredShape(name: string): Shape | undefined {
    return this.declared.get(name);
  }

  /** @internal The tier's program for one sample of its inputs' declared shapes (cached: the valueAndGrad hot path). */
  singleSampleTier(): TierProgram | undefined {
    if (this.single === undefined) this.single = this.tier(this.inputs.map(() => false)) ?? null;
    return this.single ?? undefined;
  }

  /**
   * @internal The tier's program for inputs of these per-sample shapes (by default the declared ones,
   * scalars where none is declared), batched as given, or undefined when the tier cannot run this
   * program (its graph is built without fusion, once per signature).
   */
  tier(
    batched: boolean[],
    shapes: Shape[] = this.inputs.map((name) => this.declared.get(name) ?? []),
  ): TierProgram | undefined {
    const key = tierKey(batched, shapes);
    const known = this.tiers.get(key);
    if (known !== undefined) return known ?? undefined;
    const found = this.tape(shapes, batched);
    // The binding's per-call arrays hold up to 64 inputs and params.
    const fits = found && found.spec.inputSizes.length <= 64 && found.spec.numParams <= 64;
    const tape = fits ? new (native().NativeTape)(found.spec, this.dtype) : undefined;
    const program = tape && tierProgram(tape, this.dtype, found!.spec, this.tapeParams(found!.spec), found!.graph);
    this.tiers.set(key, program ?? null);
    return program;
  }

  /**
   * @internal The program on the small-program tier for fit(), for inputs of these per-sample shapes
   * (scalars, small vectors and matrices), with every parameter it reads in its order and how many
   * elements its weight blocks hold; undefined when the tier cannot run it.
   */
  fitTape(shapes: Shape[]): { tape: NativeTape; params: Tensor[]; weights: number; repeats: boolean } | undefined {
    const spec = this.tape(
      shapes,
      shapes.map(() => false),
    )?.spec;
    if (!spec) return undefined;
    const params = this.tapeParams(spec).map((p) => p.tensor);
    const weights = spec.blockSizes.reduce((a, b) => a + b, 0);
    return { tape: new (native().NativeTape)(spec, this.dtype), params, weights, repeats: repeats(spec) };
  }

  /** The parameters in the tape's order (its scalar params, then its weight blocks), with their names. */
  private tapeParams(spec: TapeSpec): { name: string; tensor: Tensor }[] {
    return spec.paramOrder.map((k) => this.allParams[k]);
  }

  /**
   * The tape for inputs of these per-sample shapes, batched as given, and the unfused graph it was
   * made from; undefined when the tier is off or off the CPU, or the program does not compile
   * there, has ops the tier does not run, or calls an MLP off the CPU.
   */
  private tape(shapes: Shape[], batched: boolean[]): { spec: TapeSpec; graph: IrGraph } | undefined {
    if (this.device !== 'cpu' || !this.useTier) return undefined;
    const graph = this.tierGraph(shapes, batched);
    if (!graph || this.callables.some((m) => m.device !== 'cpu')) return undefined;
    const spec = toTape(graph, learnedLayouts(this.externals(this.params.length, 0), this.callables), this.maxSteps);
    return spec && { spec, graph };
  }

  /**
   * The op graph of this program for an input signature, with this module's settings; the lowering's
   * warnings go to `warnings` when given. They are looked for only without inlined programs, whose
   * nodes' places are in other sources.
   */
  private compileGraph(
    inputs: { name: string; shape: Shape; batched: boolean }[],
    fuse: boolean,
    warnings?: Diagnostic[],
  ): IrGraph {
    const inlines = [...this.functions.values()].some((f) => f instanceof Module);
    return compileGraph(this.program, {
      inputs,
      params: this.allParams.map((p) => ({ name: p.name, shape: p.tensor.shape })),
      limit: this.limit,
      checkpoint: this.checkpoint,
      source: this.source,
      externals: this.externals(this.params.length, 0),
      optimize: this.optimize,
      fuse,
      ...(!inlines && { warnings, paramValues: this.paramValues }),
    });
  }

  /** Adds the warnings not already in `warnings` (every specialisation lowers the same program). */
  private addWarnings(found: Diagnostic[]): void {
    const key = (d: Diagnostic) => `${d.code}@${d.span?.start}:${d.span?.end} ${d.message}`;
    const known = new Set(this.warnings.map(key));
    for (const d of found) {
      if (known.has(key(d))) continue;
      known.add(key(d));
      this.warnings.push(d);
    }
  }

  /** The unfused graph for scalar inputs, batched as given; undefined when the program is not scalar there. */
  private tierGraph(shapes: Shape[], batched: boolean[]): IrGraph | undefined {
    try {
      return this.compileGraph(
        this.inputs.map((name, i) => ({ name, shape: shapes[i], batched: batched[i] })),
        false,
      );
    } catch (e) {
      if (e instanceof CompileError) return undefined; // the libtorch path reports it at the call
      throw e;
    }
  }

  dispose(): void {
    if (this.training) throw new Error(TRAINING);
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.specialisations.values()) s.native.dispose();
    // The tier's programs hold the parameters' tensors: let them go with the module.
    this.tiers.clear();
    this.single = undefined;
    this.lastTier = undefined;
    this.tierSignature = undefined;
    for (const p of this.params) p.tensor.dispose();
  }

  private error(code: DiagnosticCode, name: string, args: Record<string, string | number>): Diagnostic {
    return diag(code, firstUse(this.program, name), args);
  }

  private fail(code: DiagnosticCode, name: string, args: Record<string, string | number>): never {
    throw new CompileError([this.error(code, name, args)], this.source);
  }

  /**
   * The functions as the lowering sees them: parameters placed from `paramOffset` in the graph's
   * parameter list, learned components from `callableOffset` in its callables.
   */
  private externals(paramOffset: number, callableOffset: number): Map<string, External> {
    const out = new Map<string, External>();
    for (const [name, f] of this.functions) {
      if (f instanceof Mlp) {
        out.set(name, {
          kind: 'learned',
          index: callableOffset,
          paramOffset,
          inFeatures: f.inFeatures,
          outFeatures: f.outFeatures,
        });
        paramOffset += f.parameters().length;
        callableOffset += 1;
        continue;
      }
      out.set(name, {
        kind: 'program',
        program: f.program,
        source: f.source,
        paramOffset,
        externals: f.externals(paramOffset + f.params.length, callableOffset),
        inputs: [...f.inputs],
        inputShapes: f.inputs.map((i) => f.declared.get(i)),
      });
      paramOffset += f.allParams.length;
      callableOffset += f.callables.length;
    }
    return out;
  }

  /** @internal What saving a module needs to rebuild it: its own parameters and compile settings. */
  state(): ModuleState {
    return {
      params: this.params,
      functions: this.functions,
      declared: this.declared,
      limit: this.limit,
      maxSteps: this.maxSteps,
      checkpoint: this.checkpoint,
      optimize: this.optimize,
    };
  }

  /**
   * @internal The native graph for inputs of these per-sample shapes and batching, in the order of
   * `inputs` (built on first use), for native features that call the program repeatedly.
   */
  nativeGraph(inputs: { name: string; shape: Shape; batched: boolean }[]): NativeGraph {
    this.checkUsable();
    return this.specialise(inputs).native;
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('this module has been disposed and cannot be used any more');
    if (this.training) throw new Error(TRAINING);
  }

  private specialise(inputs: { name: string; shape: Shape; batched: boolean }[]): Specialisation {
    this.tierSignature = undefined;
    if (this.last && this.lastSignature && sameSignature(this.lastSignature, inputs)) return this.last;
    const key = inputs.map((i) => `${i.shape.join('x')}${i.batched ? 'b' : ''}`).join(',');
    let s = this.specialisations.get(key);
    if (!s) {
      const warnings: Diagnostic[] = [];
      const graph = this.compileGraph(inputs, this.fuse, warnings);
      this.addWarnings(warnings);
      const params = this.allParams.map((p) => ({ name: p.name, tensor: p.tensor.handle }));
      const callables = this.callables.map((m) => m.handle);
      const nativeGraph = new (native().NativeGraph)(
        nativeSpec(graph, this.maxSteps),
        params,
        this.dtype,
        this.device,
        callables,
      );
      s = { graph, native: nativeGraph, footprint: footprint(graph, this.dtype) };
      this.specialisations.set(key, s);
    }
    this.last = s;
    this.lastSignature = inputs;
    return s;
  }

  private prepareInputs(inputs: Record<string, InputValue>, batch: boolean) {
    if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs) || inputs instanceof Tensor)
      throw new TypeError(`forward() takes an object mapping input names to values, got ${describe(inputs)}`);
    for (const name of Object.keys(inputs))
      if (!this.declared.has(name)) {
        const known =
          this.inputs.length > 0 ? `; the inputs are ${this.inputs.join(', ')}` : '; the program has no inputs';
        throw new CompileError([{ ...diag('E0201', undefined, { name }), hint: `remove it${known}` }], this.source);
      }
    const values = this.inputs.map((name) => {
      if (!(name in inputs)) this.fail('E0200', name, { name });
      const { tensor: t, owned } = this.inputTensor(name, inputs[name]);
      return { name, tensor: t, owned, ...this.classify(name, t.dims, batch) };
    });
    const batched = values.filter((v) => v.batched);
    for (const v of batched)
      if (v.tensor.dims[0] !== batched[0].tensor.dims[0])
        this.fail('E0203', v.name, {
          a: batched[0].name,
          n: batched[0].tensor.shape[0],
          b: v.name,
          m: v.tensor.shape[0],
        });
    return values;
  }

  /**
   * @internal The value as a tensor of this module's dtype and device; `owned` when made here (the
   * caller frees it). Bad values are diagnostics at the input's first use.
   */
  inputTensor(name: string, value: InputValue): { tensor: Tensor; owned: boolean } {
    const options = { dtype: this.dtype, device: this.device };
    if (value instanceof Tensor) {
      if (value.dtype === this.dtype && value.device === this.device) return { tensor: value, owned: false };
      return { tensor: value.to(options), owned: true };
    }
    try {
      // a typed array is a vector (or a batch of scalars), converted to the module's dtype as arrays are
      if (value instanceof Float32Array || value instanceof Float64Array)
        return { tensor: tensor(value, options), owned: true };
      if (value && typeof value === 'object' && !Array.isArray(value) && 'data' in value)
        return { tensor: tensor(value.data, { ...options, shape: value.shape }), owned: true };
      const flat = flatten(value, 'its value');
      return { tensor: tensor(flat.data, { ...options, shape: flat.shape }), owned: true };
    } catch (e) {
      return this.fail('E0206', name, { name, problem: (e as Error).message });
    }
  }

  /** Splits a value's shape into the batch dimension and the per-sample shape. */
  private classify(name: string, shape: readonly number[], batch: boolean): { shape: Shape; batched: boolean } {
    const declared = this.declared.get(name);
    if (declared) {
      const batched = shape.length === declared.length + 1;
      const sample = shape.slice(batched ? 1 : 0);
      if ((batched || shape.length === declared.length) && sample.every((d, i) => d === declared[i]))
        return { shape: sample, batched };
      return this.fail('E0202', name, {
        name,
        expected: `${showShape(declared)} (or a batch of them)`,
        got: shape.join(', '),
      });
    }
    const sample = shape.slice(batch ? 1 : 0);
    if ((batch && shape.length === 0) || sample.length > MAX_RANK)
      this.fail('E0202', name, {
        name,
        expected: batch
          ? `a batch of scalars or arrays of rank ≤ ${MAX_RANK}`
          : `a scalar or an array of rank ≤ ${MAX_RANK}`,
        got: shape.join(', '),
      });
    return { shape: sample, batched: batch };
  }

  /** A failure at a labelled node inside native code becomes a diagnostic at that loop, call or ref. */
  private runtimeError(graph: IrGraph, e: Error & { where?: string; kind?: 'limit' | 'budget' | 'value' }): Error {
    if (e.where === undefined) return e;
    const node = graph.regions.flatMap((r) => r.nodes).find((n) => n.label === e.where && n.span);
    if (!node) return e;
    const problem = e.message.slice(e.where.length + 2);
    const d =
      e.kind === 'value'
        ? diag(
            'E0209',
            node.span,
            { name: node.op, problem: problem.replace(`${node.op}: `, '') },
            node.op === 'ref'
              ? 'the index must be a whole number from 0 to the length - 1; round or clamp it if it is computed'
              : node.op === 'tridiagonal-solve'
                ? 'make the system diagonally dominant (|diag| > |lower| + |upper| on every row), or use solve on the dense matrix, which pivots'
                : 'the matrix has no inverse (its determinant is 0); check how it is built, or regularise it, e.g. (+ A (* 1e-6 I))',
          )
        : e.kind === 'budget'
          ? diag(
              'E0207',
              node.span,
              { limit: this.maxSteps },
              'this is where the budget ran out; if the work is intended, raise the compile option `maxSteps` (neuralc eval --max-steps N)',
            )
          : diag(
              'E0205',
              node.span,
              { what: node.label!, limit: this.limit },
              'if this is intended, raise the limit (compile option `limit`, or `--limit` on the command line)',
            );
    return new CompileError([d], this.source);
  }

  /** A run whose values would not fit in memory is refused before it allocates, at its largest value. */
  private tooLarge(graph: IrGraph, batch: number, need: number): never {
    let largest: { elements: number; span?: Span } = { elements: -1 };
    for (const node of computedNodes(graph)) {
      const elements = numel(node.shape) * (node.batched ? batch : 1);
      if (node.span && elements > largest.elements) largest = { elements, span: node.span };
    }
    const d = diag(
      'E0208',
      largest.span,
      { need: gb(need), limit: gb(MAX_TENSOR_BYTES) },
      'the largest value is computed here; run a smaller batch (or smaller inputs), in several calls if need be',
    );
    throw new CompileError([d], this.source);
  }
}

const handles = (values: { tensor: Tensor }[]) => values.map((v) => v.tensor.handle);

/** The learned components the lowering calls (by callable index), where their weights are in the graph's params. */

function learnedLayouts(
  externals: ReadonlyMap<string, External>,
  callables: readonly Mlp[],
  out: LearnedLayout[] = [],
): LearnedLayout[] {
  for (const ext of externals.values()) {
    if (ext.kind === 'program') {
      learnedLayouts(ext.externals, callables, out);
      continue;
    }
    const mlp = callables[ext.index];
    const params = Array.from({ length: mlp.parameters().length }, (_, k) => ext.paramOffset + k);
    out[ext.index] = { params, sizes: mlp.sizes, activation: mlp.activation };
  }
  return out;
}

function sameSignature(a: { shape: Shape; batched: boolean }[], b: { shape: Shape; batched: boolean }[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i].shape;
    const y = b[i].shape;
    if (a[i].batched !== b[i].batched || x.length !== y.length) return false;
    for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false;
  }
  return true;
}

export function compile(source: string, options: CompileOptions = {}): Module {
  return new Module(source, options);
}

function normaliseFunctions(functions: CompileOptions['functions'], dtype: DType): Map<string, Module | Mlp> {
  const out = new Map<string, Module | Mlp>();
  for (const [name, f] of Object.entries(functions ?? {})) {
    if (!(f instanceof Module || f instanceof Mlp))
      throw new TypeError(`function '${name}' must be a compiled Module or an nn.mlp, got ${describe(f)}`);
    if (f.dtype !== dtype)
      throw new TypeError(`function '${name}' is ${f.dtype}, but this module is ${dtype}: make both the same dtype`);
    out.set(name, f);
  }
  return out;
}

/** A pipeline: each module's single output feeds the next module's single input (compile option tier: false if any module has it). */
export function chain(...modules: Module[]): Module {
  if (modules.length === 0) throw new RangeError('chain() needs at least one module');
  modules.forEach((m, i) => {
    if (!(m instanceof Module))
      throw new TypeError(`chain(): argument ${i + 1} must be a compiled Module, got ${describe(m)}`);
  });
  modules.slice(1).forEach((m, i) => {
    if (m.inputs.length !== 1)
      throw new RangeError(
        `chain(): module ${i + 2} must take exactly one input to be fed the previous output, it takes ${m.inputs.length}`,
      );
  });
  const names = modules.map((_, i) => `stage${i + 1}`);
  const first = `(${names[0]} ${modules[0].inputs.join(' ')})`;
  const source = names.slice(1).reduce((inner, name) => `(${name} ${inner})`, first);
  return compile(source, {
    functions: Object.fromEntries(modules.map((m, i) => [names[i], m])),
    dtype: modules[0].dtype,
    device: modules[0].device,
    // off if any module turned it off (its results are then libtorch's)
    tier: modules.every((m) => m.useTier),
  });
}

function normaliseParams(params: CompileOptions['params']): Map<string, Nested> | undefined {
  if (params === undefined) return undefined;
  if (Array.isArray(params)) return new Map(params.map((name) => [name, 1]));
  if (typeof params !== 'object' || params === null)
    throw new TypeError(`params must be a list of names or an object of initial values, got ${describe(params)}`);
  return new Map(Object.entries(params));
}

function normaliseInputs(inputs: CompileOptions['inputs']): Map<string, Shape | undefined> | undefined {
  if (inputs === undefined) return undefined;
  if (Array.isArray(inputs)) return new Map(inputs.map((name) => [name, undefined]));
  if (typeof inputs !== 'object' || inputs === null)
    throw new TypeError(`inputs must be a list of names or an object of shapes, got ${describe(inputs)}`);
  return new Map(
    Object.entries(inputs).map(([name, s]) => {
      if (s === null || s === undefined) return [name, undefined];
      if (s === 'scalar') return [name, []];
      if (!Array.isArray(s) || s.length > MAX_RANK || !s.every((d) => Number.isInteger(d) && d >= 1))
        throw new TypeError(
          `the shape of input '${name}' must be 'scalar' or the sizes of an array of rank ≤ ${MAX_RANK} ([n], [rows, columns], [a, b, c]), got ${describe(s)}`,
        );
      return [name, s];
    }),
  );
}

function checkLimit(what: string, limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`${what} must be a whole number >= 1, got ${describe(limit)}`);
  return limit;
}

/** Where a free identifier is first read, for diagnostics about its value. */
function firstUse(program: Program, name: string): Span | undefined {
  let best: Span | undefined;
  for (const root of [program.result, ...program.values.map((v) => v.value), ...program.functions.map((f) => f.body)])
    walk(root, (e) => {
      if (e.kind === 'var' && e.ref.kind === 'free' && e.ref.name === name && (!best || e.span.start < best.start))
        best = e.span;
    });
  return best;
}
