// The op graph as a program of the small-program tier (native/tape.h): one flat register program,
// forward and reverse, for graphs whose values are scalars or small vectors and matrices of static
// size, with `if` on a scalar test (a jump per sample), loops (a loop instruction running its
// body, a tape of its own, per sample) and calls (a call instruction running its function's tape,
// which may call functions in turn, recursion included). Every value is
// scalarised: it gets one register per element (row-major), and each op becomes the scalar
// instructions of its elements (pointwise ops with broadcasting, ref by a constant index, vec, dot,
// cross, vsum, vmean, vmax, vmin, scale, norm, normalize, mat, matvec, matmul, transpose, outer, trace, det up
// to 4 x 4, solve and inv by LU). Registers are the
// inputs' elements, the scalar params, the constants, then one per instruction; the result's
// elements are the result registers. A learned component (an MLP) becomes its dense layers' rows
// (one instruction per output, reading the layer's weight blocks) with its activation between them
// as the registry's forms; a vector or matrix param is a weight block too, read element by element.
// Loops' and functions' bodies share the program's weight blocks. A graph the tier cannot take
// (other ops, calls whose count depends on the values) has no tape, and runs on the libtorch path.
import { TAPE_FORMS, tapeForm, type Shape } from '../ops';
import { controlOp, pathNumber } from '../ops/tape-control';
import type { IrGraph, IrNode } from './ir';

/** What binding/tape_wrap.cpp reads. `code` holds 4 per instruction: form, a, b + 1, c + 1 (0: none). */
export interface TapeSpec {
  /** Input registers: every input's elements, in input order. */
  numInputs: number;
  /** Registers per program input (its per-sample element count). */
  inputSizes: number[];
  /** The program's: per input, its per-sample rank (empty in bodies). */
  inputRanks: number[];
  /** The program's: the result's per-sample shape, its elements the result registers (empty in bodies). */
  resultShape: number[];
  /** The scalar params (registers). */
  numParams: number;
  /** The tape's params in the graph's parameter list: the scalar params, then the weight blocks (not read by binding). */
  paramOrder: number[];
  /** Elements per weight block: every non-scalar param (the MLPs' weights and biases), in graph order. */
  blockSizes: number[];
  /** Per dense layer: its weight block, its bias block, its input count, then its input registers. */
  dense: number[];
  consts: number[];
  code: number[];
  attrs: number[];
  /** Per instruction, how autograd's graph passes through it (native/tape.h's kPath*). */
  paths: number[];
  /** The result's registers, its elements row-major (a loop body's: done, result, next state...). */
  results: number[];
  batched: boolean[];
  /** The loops the program's loop instructions run (instruction `a` is the index here). */
  loops: TapeLoopSpec[];
  /** The calls the program's call instructions make (instruction `a` is the index here). */
  calls: TapeCallSpec[];
  /** The linear solves the program's solve instructions run (instruction `a` is the index here). */
  solves: TapeSolveSpec[];
  /** The functions the calls run, by index: the program's, its functions' calls included (empty in bodies). */
  functions: TapeSpec[];
}

/**
 * A loop: its body a tape of its own whose inputs are the state's elements, then the captures',
 * and whose results are done, the result's elements, the next state's; run per sample up to
 * `limit` iterations, the error at the limit naming `label` as the libtorch path's does.
 */
export interface TapeLoopSpec {
  body: TapeSpec;
  /** The registers of the initial state's elements, then of the captures', in the parent program. */
  inputs: number[];
  /** The state's elements. */
  state: number;
  /** The result's elements: the loop instruction writes its register and the next outputs - 1 instructions'. */
  outputs: number;
  limit: number;
  label: string;
}

/**
 * A call: its function's tape (inputs the arguments' elements, results the result's) run per sample,
 * nesting at most `limit` deep, the error past it naming `label` as the libtorch path's does.
 */
export interface TapeCallSpec {
  /** Its function, in the program's `functions`. */
  function: number;
  /** The registers of the arguments' elements. */
  inputs: number[];
  /** The result's elements: the call instruction writes its register and the next outputs - 1 instructions'. */
  outputs: number;
  limit: number;
  label: string;
}

/**
 * X = A^-1 B by LU with partial pivoting: A's n x n registers consecutive from `a`, B's n x k from
 * `b` (-1: the identity, for inv); a singular A fails naming `label`, as the libtorch path's kernel.
 */
export interface TapeSolveSpec {
  a: number;
  b: number;
  n: number;
  k: number;
  label: string;
  /** Whether A differs per sample (then its error names the sample, as the kernel's does). */
  batched: boolean;
}

/** A learned component as the graph calls it (the `extern` node's index): its weights and layers. */
export interface LearnedLayout {
  /** Its parameters in the graph's parameter list: layer 0's weight, its bias, layer 1's weight, ... */
  params: number[];
  /** [in, hidden..., out] */
  sizes: readonly number[];
  activation: string;
}

/**
 * With learned components, the most samples a call or step times their weights: the tier runs an MLP
 * sample by sample, libtorch over the whole batch through BLAS, so past some work libtorch wins. An
 * algebraic fit of a 3-32-32-1 MLP (1,217 weights; `node scripts/experiments-profile.js`) took 0.225
 * against 0.295 ms a step at 32 samples (38,944) and 0.288 against 0.268 ms at 64 (77,888): they cross
 * near 70,000. Forward and valueAndGrad take the same cap; the script measures fit() steps only.
 */
export const TIER_MAX_WEIGHT_WORK = 60_000;

/**
 * The same for fit()'s ODE windows (windows times weights), where libtorch pays its per-op cost on
 * every step of every stage. The experiments' neural ODEs (2-64-64-64-2 MLPs, 8,642 weights, RK4 over
 * windows of 25 steps; `node scripts/experiments-profile.js`): Lotka-Volterra's epoch of 4 windows
 * (34,568) took 5.8 ms on the tier against 14.6 on libtorch, the pendulum's of 8 (69,136) 10.6
 * against 15.9 ms. The tier's time grows about in proportion to the windows and libtorch's much more
 * slowly: through these two problems' figures the lines cross near 13 windows (115,000), an
 * estimate from two problems, not a sweep of one.
 */
export const TIER_MAX_ODE_WEIGHT_WORK = 110_000;

/**
 * With loops or calls, the most samples a call or step: the tier runs each sample's iterations (or
 * frames) one by one (and again in its reverse sweep), libtorch each iteration once over the whole batch, so the two
 * cross at a batch that hardly depends on the iteration count: newton_sqrt's valueAndGrad (20
 * iterations) took 0.68 against 0.92 ms at 256 samples, 2.9 against 1.2 ms at 1,000
 * (`node scripts/experiments-profile.js`).
 */
export const TIER_MAX_LOOP_BATCH = 256;

/**
 * Whether the tier takes this many samples (or an ODE fit's windows) of a program with these MLP
 * weights (and loops or calls, or not).
 */
export const tierTakes = (samples: number, weights: number, repeats: boolean, ode = false): boolean =>
  samples * weights <= (ode ? TIER_MAX_ODE_WEIGHT_WORK : TIER_MAX_WEIGHT_WORK) &&
  (!repeats || samples <= TIER_MAX_LOOP_BATCH);

/** Whether a tape runs loops or calls: work per sample that libtorch does once per batch (tierTakes). */
export const repeats = (spec: TapeSpec): boolean => spec.loops.length > 0 || spec.calls.length > 0;

/** The most elements a value may have on the tier (beyond, libtorch's kernels are the better engine). */
const MAX_ELEMENTS = 64;

const size = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** The element of an argument of shape `arg` that broadcasts to element `k` of shape `out` (rank <= 2). */
function broadcastElement(arg: Shape, out: Shape, k: number): number {
  const index = out.length === 2 ? [Math.floor(k / out[1]), k % out[1]] : out.length === 1 ? [k] : [];
  const aligned = index.slice(index.length - arg.length); // numpy broadcasting aligns on the right
  return aligned.reduce((flat, i, d) => flat * arg[d] + (arg[d] === 1 ? 0 : i), 0);
}

class Unsupported extends Error {}

// The control instructions and gradient paths (src/ops/tape-control.ts numbers them for native/tape.h too)
const JUMP_IF_ZERO = controlOp('JumpIfZero');
const JUMP = controlOp('Jump');
const DENSE_ROW = controlOp('DenseRow');
const LOOP = controlOp('Loop');
const LOOP_REST = controlOp('LoopRest');
const BLOCK_READ = controlOp('BlockRead');
const CALL = controlOp('Call');
const CALL_REST = controlOp('CallRest');
const EXTREMUM = controlOp('Extremum');
const SOLVE = controlOp('Solve');
const SOLVE_REST = controlOp('SolveRest');
const PATH_THROUGH = pathNumber('Through');
const PATH_NONE = pathNumber('None');
const PATH_TAKEN = pathNumber('Taken');

/**
 * The most register values a loop's or call's reverse sweep may record for one sample (its limit
 * times its body's registers, 32 MB in float64): beyond, the libtorch path's checkpointing bounds the memory.
 */
const MAX_RECORD = 4_000_000;

/**
 * The graph as a tape, or undefined when it holds anything the tier does not run. `learned` gives
 * the learned components its `extern` nodes call, by index; `maxSteps` is the run's budget of loop
 * iterations (the tier takes loops only when their limits, multiplied where they nest, stay within
 * it, so that the budget, counted per batch on the libtorch path, can never be what stops a run).
 */
export function toTape(
  graph: IrGraph,
  learned: readonly LearnedLayout[] = [],
  maxSteps = Infinity,
): TapeSpec | undefined {
  if (graph.inputs.length + graph.params.length === 0) return undefined; // a constant: nothing to run per sample
  const { results } = graph.regions[0];
  if (results.length !== 1) return undefined;
  const small = (n: IrNode) => n.op === 'if' || (n.shape.length <= 2 && size(n.shape) <= MAX_ELEMENTS);
  if (!graph.regions.every((r) => r.nodes.every(small))) return undefined;
  const calls = callBound(graph);
  if (calls === undefined || iterationBound(graph, 0) + calls > maxSteps) return undefined;
  try {
    const spec = new Scalariser(graph, learned).run(results[0]);
    return recordBound(spec) <= MAX_RECORD ? spec : undefined;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

/** The most loop iterations a run of the region can take: each loop's limit times one plus its body's. */
function iterationBound(graph: IrGraph, region: number): number {
  let bound = 0;
  for (const n of graph.regions[region].nodes)
    if (n.op === 'loop') bound += n.limit * (1 + iterationBound(graph, n.regions[0]));
    else if (n.op === 'if') bound += iterationBound(graph, n.regions[0]) + iterationBound(graph, n.regions[1]);
  return bound;
}

/**
 * The most calls a run can make on the libtorch path, which counts them against the run's budget
 * per batch, not per sample, when every function makes at most one call: then each of the
 * program's calls makes one chain of calls, at most its limit deep, the same chain for every
 * sample. Undefined when a function may call more than once (the count then depends on the values).
 */
function callBound(graph: IrGraph): number | undefined {
  const callsIn = (root: number) =>
    [...emittedRegions(graph, root)].flatMap((r) => graph.regions[r].nodes.filter((n) => n.op === 'call'));
  const functions = new Set(graph.regions.flatMap((r) => r.nodes.flatMap((n) => (n.op === 'call' ? n.regions : []))));
  if ([...functions].some((f) => callsIn(f).length > 1)) return undefined;
  return callsIn(0).reduce((bound, n) => bound + (n.op === 'call' ? n.limit : 0), 0);
}

/** The most register values a sample's reverse sweep of the program's calls records: frames of its largest function. */
function recordBound(spec: TapeSpec): number {
  const registers = (f: TapeSpec) => f.numInputs + f.consts.length + f.attrs.length;
  const largest = Math.max(0, ...spec.functions.map(registers));
  return spec.calls.reduce((bound, c) => Math.max(bound, c.limit * largest), 0);
}

/** The region and those its ifs own, at any depth, but not the bodies of its loops. */
function emittedRegions(graph: IrGraph, root: number, out = new Set<number>()): Set<number> {
  out.add(root);
  for (const n of graph.regions[root].nodes)
    if (n.op === 'if') for (const r of n.regions) emittedRegions(graph, r, out);
  return out;
}

/** The functions of one program's tape, made on first call: by the graph region of their body. */
interface FunctionTable {
  index: Map<number, number>;
  specs: TapeSpec[];
}

/** What a Scalariser writes: the program, a loop's body (which makes no calls) or a function's (which runs no loops). */
type TapeKind = 'program' | 'loop' | 'function';

class Scalariser {
  private readonly inputSizes: number[];
  /** Each input's first register. */
  private readonly inputStart: number[];
  private readonly numInputs: number;
  private readonly numParams: number;
  private readonly consts: number[] = [];
  private readonly code: number[] = [];
  private readonly attrs: number[] = [];
  private readonly paths: number[] = [];
  private readonly dense: number[] = [];
  private denseLayers = 0;
  /** Per graph param, its register (a scalar) or its weight block (any other shape). */
  private readonly paramSlot: number[];
  private readonly scalarParams: number[];
  private readonly blocks: number[];
  /** Per region and node, the registers of a const node's elements (all placed before the instructions). */
  private readonly constRegisters: number[][][];

  private readonly loops: TapeLoopSpec[] = [];
  private readonly calls: TapeCallSpec[] = [];
  private readonly solves: TapeSolveSpec[] = [];

  /**
   * `args` makes the program a body (a loop's or a function's, as `kind` says): its inputs are
   * values of these sizes, it reads no scalar params (its caller passes what it uses as arguments),
   * and it shares the program's weight blocks (the MLPs it calls read them, and their gradients add
   * to the program's) and functions.
   */
  constructor(
    private readonly graph: IrGraph,
    private readonly learned: readonly LearnedLayout[],
    private readonly args?: number[],
    private readonly root = 0,
    private readonly kind: TapeKind = 'program',
    private readonly functions: FunctionTable = { index: new Map(), specs: [] },
  ) {
    this.inputSizes = args ?? graph.inputs.map((i) => size(i.shape));
    this.inputStart = this.inputSizes.map((_, i) => this.inputSizes.slice(0, i).reduce((a, b) => a + b, 0));
    this.numInputs = this.inputSizes.reduce((a, b) => a + b, 0);
    const indices = graph.params.map((_, k) => k);
    this.scalarParams = args === undefined ? indices.filter((k) => graph.params[k].shape.length === 0) : [];
    this.blocks = indices.filter((k) => graph.params[k].shape.length !== 0);
    this.paramSlot = indices.map((k) => Math.max(this.scalarParams.indexOf(k), this.blocks.indexOf(k)));
    this.numParams = this.scalarParams.length;
    // Constants first, so that instruction registers can be numbered as they are emitted: every
    // region's const nodes' elements, then the lengths that vmean divides by.
    // Only the regions this program emits: its root's, and its ifs', not its loops' bodies (tapes of their own).
    const emits = emittedRegions(graph, root);
    this.constRegisters = graph.regions.map((r, index) =>
      r.nodes.map((n) => {
        if (n.op !== 'const' || !emits.has(index)) return [];
        const start = this.numInputs + this.numParams + this.consts.length;
        this.consts.push(...n.data);
        return range(start, n.data.length);
      }),
    );
    const regions = [...emits].map((index) => graph.regions[index]);
    for (const r of regions)
      for (const n of r.nodes) if (n.op === 'vmean') this.consts.push(size(r.nodes[n.args[0]].shape));
    // The numbers the activations take (gelu's, softplus's threshold) and norm's guards, whether used or not.
    const has = (op: string) => regions.some((r) => r.nodes.some((n) => n.op === op));
    if (has('extern')) this.consts.push(0.5, 1, Math.SQRT1_2, 20);
    this.consts.push(0); // sums end on + 0
    if (has('norm') || has('normalize')) this.consts.push(1);
    if (has('normalize')) this.consts.push(1e-8);
  }

  run(result: number): TapeSpec {
    return {
      ...this.spec(this.region(0, [])[result]),
      inputRanks: this.graph.inputs.map((i) => i.shape.length),
      resultShape: [...this.graph.regions[0].nodes[result].shape],
    };
  }

  /** A body's tape (its root region) on its inputs: a loop's results done, the result, the next state; a function's its result. */
  body(): TapeSpec {
    const registers = this.region(
      this.root,
      this.inputSizes.map((n, k) => range(this.inputStart[k], n)),
    );
    return this.spec(this.graph.regions[this.root].results.flatMap((r) => registers[r]));
  }

  private spec(results: number[]): TapeSpec {
    return {
      numInputs: this.numInputs,
      inputSizes: this.inputSizes,
      inputRanks: [],
      resultShape: [],
      numParams: this.numParams,
      paramOrder: [...this.scalarParams, ...this.blocks],
      blockSizes: this.blocks.map((k) => size(this.graph.params[k].shape)),
      dense: this.dense,
      consts: this.consts,
      code: this.code,
      attrs: this.attrs,
      paths: this.paths,
      results,
      batched: this.args === undefined ? this.graph.inputs.map((i) => i.batched) : [],
      loops: this.loops,
      calls: this.calls,
      solves: this.solves,
      functions: this.kind === 'program' ? this.functions.specs : [],
    };
  }

  /** Emits a region's instructions; its nodes' registers, `arg k` being captures[k]. */
  private region(index: number, captures: number[][]): number[][] {
    const { nodes } = this.graph.regions[index];
    const registers: number[][] = [];
    // A multi-output if's outputs (a loop body's tail), read by `proj`.
    const tuples = new Map<number, number[][]>();
    for (const [i, n] of nodes.entries()) {
      if (n.op === 'input') {
        if (this.args !== undefined) throw new Unsupported();
        registers[i] = range(this.inputStart[n.index], this.inputSizes[n.index]);
      } else if (n.op === 'param') {
        if (this.args !== undefined) throw new Unsupported();
        const shape = this.graph.params[n.index].shape;
        // a scalar param is a register; a vector or matrix param a weight block, read element by element
        registers[i] =
          shape.length === 0
            ? [this.numInputs + this.paramSlot[n.index]]
            : range(0, size(shape)).map((e) => this.control(BLOCK_READ, this.paramSlot[n.index], e));
      } else if (n.op === 'extern') registers[i] = this.mlp(n.index, n.args.map((a) => registers[a]).flat());
      else if (n.op === 'arg') registers[i] = captures[n.index];
      else if (n.op === 'const') registers[i] = this.constRegisters[index][i];
      else if (n.op === 'if') {
        const outputs = this.branch(
          n,
          n.args.map((a) => registers[a]),
        );
        if (outputs.length === 1) registers[i] = outputs[0];
        else (tuples.set(i, outputs), (registers[i] = []));
      } else if (n.op === 'proj') {
        const tuple = tuples.get(n.args[0]);
        if (!tuple) throw new Unsupported();
        registers[i] = tuple[n.index];
      } else if (n.op === 'loop')
        registers[i] = this.loop(
          n,
          n.args.map((a) => registers[a]),
        );
      else if (n.op === 'call')
        registers[i] = this.call(
          n,
          n.args.map((a) => registers[a]),
        );
      else registers[i] = this.lower(n, nodes, registers);
    }
    return registers;
  }

  /**
   * A loop: one instruction running its body's tape per sample (native/tape.cpp recomputes the
   * iterations in reverse, so nothing is kept between forward and backward), then one more per
   * further element of its result, whose registers it writes.
   */
  private loop(n: IrNode, args: number[][]): number[] {
    if (n.op !== 'loop' || args.flat().length === 0 || this.kind === 'function') throw new Unsupported();
    const sizes = args.map((a) => a.length);
    const state = sizes.slice(0, n.state).reduce((a, b) => a + b, 0);
    const outputs = size(n.shape);
    const region = this.graph.regions[n.regions[0]];
    const done = region.nodes[region.results[0]];
    if (region.results.length !== n.state + 2 || size(done.shape) !== 1) throw new Unsupported();
    const body = new Scalariser(this.graph, this.learned, sizes, n.regions[0], 'loop', this.functions).body();
    if (body.results.length !== 1 + outputs + state) throw new Unsupported();
    if (n.limit * (body.numInputs + body.consts.length + body.attrs.length) > MAX_RECORD) throw new Unsupported();
    const index = this.loops.length;
    this.loops.push({ body, inputs: args.flat(), state, outputs, limit: n.limit, label: n.label });
    return range(0, outputs).map((j) => this.control(j === 0 ? LOOP : LOOP_REST, index));
  }

  /**
   * A call: one instruction running its function's tape per sample (native/tape.cpp keeps the
   * frames on a stack of its own, and recomputes them in reverse), then one more per further element
   * of its result, whose registers it writes. A function's tape is made on its first call; a
   * recursive call, met while it is being made, finds its index already taken.
   */
  private call(n: IrNode, args: number[][]): number[] {
    if (n.op !== 'call' || this.kind === 'loop') throw new Unsupported();
    const [region] = n.regions;
    let fn = this.functions.index.get(region);
    if (fn === undefined) {
      fn = this.functions.specs.length;
      this.functions.index.set(region, fn);
      this.functions.specs.length++;
      const sizes = args.map((a) => a.length);
      this.functions.specs[fn] = new Scalariser(
        this.graph,
        this.learned,
        sizes,
        region,
        'function',
        this.functions,
      ).body();
    }
    const outputs = size(n.shape);
    const index = this.calls.length;
    this.calls.push({ function: fn, inputs: args.flat(), outputs, limit: n.limit, label: n.label });
    return range(0, outputs).map((j) => this.control(j === 0 ? CALL : CALL_REST, index));
  }

  /**
   * A per-sample `if`: a jump over the then-branch when the test is 0, a jump over the else-branch
   * after it, and a `where` on the test picking the branch taken (the other's registers are never
   * read for a value, and `where` sends them no gradient).
   */
  private branch(n: IrNode, args: number[][]): number[][] {
    if (n.op !== 'if' || args[0].length !== 1) throw new Unsupported();
    const test = args[0][0];
    const captures = args.slice(1);
    const outputs = (region: number) => {
      const { results } = this.graph.regions[region];
      const registers = this.region(region, captures);
      return results.map((r) => registers[r]);
    };
    const skipThen = this.jump(test);
    const then = outputs(n.regions[0]);
    const skipElse = this.jump();
    this.land(skipThen);
    const otherwise = outputs(n.regions[1]);
    this.land(skipElse);
    return then.map((registers, j) =>
      registers.map((r, k) => this.emit('where', [test, r, otherwise[j][k]], 0, PATH_TAKEN)),
    );
  }

  /**
   * A learned component on its features: per layer, one dense row per output, then (between layers)
   * its activation on each, as the registry's forms compute libtorch's (softplus: beta 1, threshold 20).
   */
  private mlp(index: number, features: number[]): number[] {
    const layout = this.learned[index];
    if (!layout) throw new Unsupported();
    const layers = layout.sizes.length - 1;
    let x = features;
    for (let l = 0; l < layers; l++) {
      const layer = this.denseLayers++;
      this.dense.push(this.paramSlot[layout.params[2 * l]], this.paramSlot[layout.params[2 * l + 1]], x.length, ...x);
      const z = range(0, layout.sizes[l + 1]).map((row) => this.denseRow(layer, row));
      x = l + 1 < layers ? this.activate(layout.activation, z) : z;
    }
    return x;
  }

  private denseRow(layer: number, row: number): number {
    return this.control(DENSE_ROW, layer, row);
  }

  /** One of the tier's own instructions (not a registry form) with operands a and b; returns its register. */
  private control(op: number, a: number, b = -1, attr = 0): number {
    this.code.push(op, a, b + 1, 0);
    this.attrs.push(attr);
    this.paths.push(PATH_THROUGH);
    return this.first + this.attrs.length - 1;
  }

  /**
   * The activation of a layer's outputs, each stage over every element so that the last stage's
   * registers are consecutive (the next layer reads them without a lookup).
   */
  private activate(activation: string, z: number[]): number[] {
    const each = (op: string, ...args: ((k: number) => number)[]) =>
      z.map((_, k) =>
        this.emit(
          op,
          args.map((a) => a(k)),
        ),
      );
    const c = (v: number) => () => this.constantRegister(v);
    const zk = (k: number) => z[k];
    switch (activation) {
      case 'tanh':
      case 'relu':
        return each(activation, zk);
      case 'silu': {
        const s = each('sigmoid', zk);
        return each('*', zk, (k) => s[k]);
      }
      case 'gelu': {
        // x * 0.5 * (1 + erf(x / sqrt 2)), as ATen's exact gelu
        const scaled = each('*', zk, c(Math.SQRT1_2));
        const erf = each('erf', (k) => scaled[k]);
        const cdf = each('+', c(1), (k) => erf[k]);
        const half = each('*', zk, c(0.5));
        return each(
          '*',
          (k) => half[k],
          (k) => cdf[k],
        );
      }
      case 'softplus': {
        // at::softplus: the identity past the threshold 20
        const past = each('>', zk, c(20));
        const soft = each('softplus', zk);
        return each(
          'where',
          (k) => past[k],
          zk,
          (k) => soft[k],
        );
      }
      default:
        throw new Error(`internal: the tier has no activation '${activation}'`);
    }
  }

  /** A jump (when `test` is 0, or always), its target set by `land`; returns where it is in the code. */
  private jump(test?: number): number {
    this.code.push(test === undefined ? JUMP : JUMP_IF_ZERO, test ?? 0, 0, 0);
    this.attrs.push(0);
    this.paths.push(PATH_THROUGH);
    return this.attrs.length - 1;
  }

  /** Points a jump at the next instruction to be emitted. */
  private land(jump: number): void {
    this.code[4 * jump + 2] = this.attrs.length + 1; // b + 1, as operands are written
  }

  private get first(): number {
    return this.numInputs + this.numParams + this.consts.length;
  }

  private emit(op: string, args: number[], attr = 0, path = PATH_THROUGH): number {
    const form = tapeForm(op, args.length);
    if (form < 0) throw new Error(`internal: the tier has no form '${op}'/${args.length}`);
    this.code.push(form, args[0], (args[1] ?? -1) + 1, (args[2] ?? -1) + 1);
    this.attrs.push(attr);
    // A comparison's result is a boolean to autograd: no gradient path through it.
    this.paths.push(TAPE_FORMS[form].op.gradient === 'none' ? PATH_NONE : path);
    return this.first + this.attrs.length - 1;
  }

  /**
   * A vector's length: sqrt of the sum of squares; a zero vector has length 0 and gradient 0
   * (autograd's masked subgradient): the inner where keeps sqrt finite there, the outer sends it no gradient.
   */
  private norm(v: number[]): number {
    const squares = this.sum(v.map((r) => this.emit('*', [r, r])));
    const [zero, one] = [this.constantRegister(0), this.constantRegister(1)];
    const positive = this.emit('>', [squares, zero]);
    const root = this.emit('sqrt', [this.emit('where', [positive, squares, one])]);
    return this.emit('where', [positive, root, zero]);
  }

  /**
   * The determinant of an n x n matrix (its registers row-major) by cofactor expansion along the
   * first row, in the kernel's order (native/kernels.cpp, det_expansion): the same operations, so
   * the same value and, through the registry's derivatives, the same gradient.
   */
  private det(m: number[], n: number): number {
    if (n === 1) return m[0];
    if (n === 2) return this.emit('-', [this.emit('*', [m[0], m[3]]), this.emit('*', [m[1], m[2]])]);
    let sum = -1;
    for (let j = 0; j < n; j++) {
      const minor = range(1, n - 1).flatMap((i) =>
        range(0, n)
          .filter((c) => c !== j)
          .map((c) => m[i * n + c]),
      );
      const term = this.emit('*', [m[j], this.det(minor, n - 1)]);
      sum = j === 0 ? term : this.emit(j % 2 ? '-' : '+', [sum, term]);
    }
    return sum;
  }

  /** The registers, or copies of them in consecutive registers (for an instruction that reads a run of them). */
  private consecutive(registers: number[]): number[] {
    return registers.every((r, j) => r === registers[0] + j) ? registers : registers.map((r) => this.emit('+', [r]));
  }

  /**
   * A sum of registers, left to right, plus 0: ATen's reductions (sum, BLAS dot and products) start
   * from +0, so a sum of zeros is +0 even when every term is -0 (whose reciprocal is -inf).
   */
  private sum(terms: number[]): number {
    const total = terms.slice(1).reduce((acc, r) => this.emit('+', [acc, r]), terms[0]);
    return this.emit('+', [total, this.constantRegister(0)]);
  }

  /** The register of a constant value placed before the first instruction. */
  private constantRegister(value: number): number {
    return this.numInputs + this.numParams + this.consts.findIndex((c) => Object.is(c, value)); // +0, not -0
  }

  /** The value of a scalar const node (a `ref` index); a value known only at run time is not for the tier. */
  private constantValue(nodes: IrNode[], node: number): number {
    const n = nodes[node];
    if (n.op !== 'const' || n.data.length !== 1) throw new Unsupported();
    return n.data[0];
  }

  private lower(n: IrNode, nodes: IrNode[], registers: number[][]): number[] {
    const args = n.args.map((a) => registers[a]);
    const shapes = n.args.map((a) => nodes[a].shape);
    const elements = size(n.shape);
    const each = (f: (k: number) => number): number[] => Array.from({ length: elements }, (_, k) => f(k));
    const at = (j: number, k: number): number => args[j][broadcastElement(shapes[j], n.shape, k)];
    switch (n.op) {
      // The batch dimension is the tier's loop: a value expanded to it, or aligned for it, is the value.
      case 'expand-batch':
      case 'unsqueeze-tail':
        return args[0];
      // clamp is max, then min (its definition in the kernel table)
      case 'clamp':
        return each((k) => this.emit('min', [this.emit('max', [at(0, k), at(1, k)]), at(2, k)]));
      case 'vec':
        if (!shapes.every((s) => s.length === 0)) throw new Unsupported();
        return args.map((r) => r[0]);
      case 'mat': // rows of equal vectors
        if (!shapes.every((s) => s.length === 1 && s[0] === shapes[0][0])) throw new Unsupported();
        return args.flat();
      case 'ref': {
        const index = this.constantValue(nodes, n.args[1]);
        const v = shapes[0];
        if (v.length === 1) return [args[0][index]];
        return range(0, v[0]).map((row) => args[0][row * v[1] + index]); // a matrix: column `index`
      }
      case 'dot':
        return [this.sum(args[0].map((r, i) => this.emit('*', [r, args[1][i]])))];
      case 'vsum':
        if (shapes[0].length !== 1) throw new Unsupported();
        return [this.sum(args[0])];
      case 'vmean':
        if (shapes[0].length !== 1) throw new Unsupported();
        return [this.emit('/', [this.sum(args[0]), this.constantRegister(shapes[0][0])])];
      case 'vmax':
      case 'vmin': {
        // per row (a vector is one): its elements in consecutive registers, copied there unless they are
        const [rows, cols] = shapes[0].length === 1 ? [1, shapes[0][0]] : shapes[0];
        return range(0, rows).map((i) => {
          const x = this.consecutive(args[0].slice(i * cols, (i + 1) * cols));
          return this.control(EXTREMUM, x[0], cols, n.op === 'vmin' ? 1 : 0);
        });
      }
      case 'scale':
        return each((k) => this.emit('*', [at(0, k), at(1, k)]));
      case 'norm':
        if (shapes[0].length !== 1) throw new Unsupported();
        return [this.norm(args[0])];
      case 'normalize': {
        // v / max(norm(v), 1e-8) as the kernel's clamp_min: below 1e-8 the length is the constant,
        // which sends it no gradient (clamp_min's backward passes where the length is >= 1e-8)
        if (shapes[0].length !== 1) throw new Unsupported();
        const length = this.norm(args[0]);
        const least = this.constantRegister(1e-8);
        const clamped = this.emit('where', [this.emit('>=', [length, least]), length, least]);
        return args[0].map((r) => this.emit('/', [r, clamped]));
      }
      case 'cross': {
        const [a, b] = args;
        const component = (i: number, j: number) =>
          this.emit('-', [this.emit('*', [a[i], b[j]]), this.emit('*', [a[j], b[i]])]);
        return [component(1, 2), component(2, 0), component(0, 1)];
      }
      case 'matvec': {
        const [rows, cols] = shapes[0];
        return range(0, rows).map((i) =>
          this.sum(range(0, cols).map((j) => this.emit('*', [args[0][i * cols + j], args[1][j]]))),
        );
      }
      case 'matmul': {
        if (shapes[0].length !== 2 || shapes[1].length !== 2) throw new Unsupported();
        const inner = shapes[0][1];
        const cols = shapes[1][1];
        return each((k) => {
          const [i, j] = [Math.floor(k / cols), k % cols];
          return this.sum(range(0, inner).map((m) => this.emit('*', [args[0][i * inner + m], args[1][m * cols + j]])));
        });
      }
      case 'transpose': {
        const [rows, cols] = shapes[0];
        return each((k) => args[0][(k % rows) * cols + Math.floor(k / rows)]);
      }
      case 'outer':
        return each((k) => this.emit('*', [args[0][Math.floor(k / shapes[1][0])], args[1][k % shapes[1][0]]]));
      case 'trace': {
        const [rows, cols] = shapes[0];
        return [this.sum(range(0, Math.min(rows, cols)).map((i) => args[0][i * cols + i]))];
      }
      case 'solve':
      case 'inv': {
        // one instruction writing X (n x k, row-major) and one more per further element, as a loop's result
        const size = shapes[0][0];
        const k = n.op === 'inv' ? size : shapes[1].length === 1 ? 1 : shapes[1][1];
        const a = this.consecutive(args[0])[0];
        const b = n.op === 'inv' ? -1 : this.consecutive(args[1])[0];
        const index = this.solves.length;
        this.solves.push({ a, b, n: size, k, label: n.label ?? n.op, batched: nodes[n.args[0]].batched });
        return range(0, size * k).map((j) => this.control(j === 0 ? SOLVE : SOLVE_REST, index));
      }
      case 'det':
        if (shapes[0][0] > 4) throw new Unsupported(); // beyond 4 x 4 the kernel is LAPACK's LU
        return [this.det(args[0], shapes[0][0])];
      default: {
        if (n.op === 'fused' || !TAPE_FORMS.some((f) => f.op.name === n.op)) throw new Unsupported();
        if (args.length <= 2 || n.op === 'where')
          return each((k) =>
            this.emit(
              n.op,
              args.map((_, j) => at(j, k)),
              n.attrs[0] ?? 0,
            ),
          );
        // n-ary ops fold left, as the kernel table does
        return each((k) => args.slice(1).reduce((acc, _, j) => this.emit(n.op, [acc, at(j + 1, k)]), at(0, k)));
      }
    }
  }
}

const range = (start: number, length: number): number[] => Array.from({ length }, (_, i) => start + i);
