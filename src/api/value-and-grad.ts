// module.valueAndGrad: the value of a program and the gradients of its sum, in one native call on
// plain numbers and typed arrays, like JAX's value_and_grad. Programs of scalar pointwise ops (and
// the MLPs they call) run on the small-program tier (native/tape.cpp: no tensors, no autograd,
// nothing allocated for a single sample but an MLP's weight gradients); any other program takes
// the libtorch path (forward, sum, backward) with the same result.
import type { NativeTape, NativeTensor } from '../runtime/native';
import { describe, flatten, type Nested } from '../runtime/host-data';
import { grad } from '../train/autograd';
import { Tensor, type DType } from '../runtime/tensor';
import { numel } from '../runtime/spec';
import { knownOptions } from '../runtime/validate';
import { repeats, tierTakes, type TapeSpec } from '../compiler/tape';
import type { IrGraph } from '../compiler/ir';
import { sameShape, type Shape } from '../ops';
import type { Module } from './module';

export interface ValueAndGradOptions {
  /**
   * Arrays are batches of per-sample scalars (numbers are shared by every sample); for a vector or
   * matrix input, nested arrays are a batch of samples, and an array of its own shape is shared.
   * Default false.
   */
  batch?: boolean;
  /** Inputs whose gradients are wanted too (every trainable parameter's always is). */
  wrt?: string[];
  /**
   * With `batch`: a typed array of the module's dtype, one element per output value, that receives
   * the value and is returned as it, instead of a new array per call. Where calls repeat, this
   * saves allocating an array each call and bringing its memory into the cache.
   */
  out?: Values;
}

type Values = Float32Array | Float64Array;

export interface ValueAndGrad {
  /** The output: a number, or one per sample when a batch came in. */
  value: number | Values;
  /**
   * d(sum of the output over the batch)/d(each trainable parameter and each input named in `wrt`):
   * numbers for scalars and shared inputs, one per sample for batched inputs.
   */
  grads: Record<string, number | Values>;
}

/** What the tier keeps per input signature: the native program and reusable single-sample buffers. */
export interface TierProgram {
  tape: NativeTape;
  /** The module's parameters in the tape's order (scalars, then weight blocks) and their names. */
  params: Tensor[];
  paramNames: string[];
  /** Per parameter, where its gradient starts in `paramGrads` (a block's runs over its elements). */
  paramOffsets: number[];
  /** The weight blocks' elements (the MLPs' weights): large batches of them go to libtorch. */
  weights: number;
  /** Whether it runs loops or calls: large batches of them go to libtorch too. */
  repeats: boolean;
  /** Per input, its elements per sample. */
  inputSizes: number[];
  /** Per input, its rank per sample. */
  inputRanks: number[];
  /** The result's shape per sample. */
  resultShape: number[];
  /** The graph the tape was made from: where a failure at a labelled node (a loop's limit) is. */
  graph: IrGraph;
  /** Per input, a one-sample buffer for a value given (a number, or a shared sample's elements). */
  sample: Values[];
  /** One sample's result. */
  out: Values;
  paramGrads: Float64Array;
  /** Per input, a one-sample buffer for the gradient of a shared input. */
  inputGrads: Values[];
}

const OPTIONS = ['batch', 'wrt', 'out'];

/**
 * From this batch on, a program whose result is a fused node takes the one-pass value and gradient
 * (native GraphModule::value_and_sum_grad, SIMD blocks) instead of the tier's scalar sample-by-sample
 * code. Measured on gravity (`npm run bench -- --only onepass`, its crossover table): the pass costs
 * about 7 us whatever the batch, the tier about 50 ns a sample; they are about even at 64 samples,
 * and the pass is the faster from 128.
 */
export const ONE_PASS_MIN_BATCH = 128;

const arrayOf = (dtype: DType, n: number): Values => (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));

/** No `wrt`: one shared empty list (only read), so that the batch-1 hot path allocates none. */
const NO_INPUTS: string[] = [];

export function valueAndGrad(
  module: Module,
  inputs: Record<string, unknown>,
  options?: ValueAndGradOptions,
): ValueAndGrad {
  if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs))
    throw new TypeError(`valueAndGrad() takes an object mapping input names to values, got ${describe(inputs)}`);
  if (options !== undefined) knownOptions('valueAndGrad', options, OPTIONS);
  const batch = options?.batch ?? false;
  const wrt = options?.wrt ?? NO_INPUTS;
  const given = options?.out;
  if (given !== undefined) checkOut(module, given, batch);
  for (const name of wrt)
    if (!module.inputs.includes(name))
      throw new RangeError(
        `valueAndGrad: wrt names '${name}', which is not an input (the inputs are ${module.inputs.join(', ')})`,
      );
  if (given === undefined && module.inputs.length <= 53) {
    // The hot path: one sample (numbers, and vectors as arrays of their length), straight into the bound buffers.
    const tier = oneSample(module, inputs) ? module.singleSampleTier() : undefined;
    if (tier && tierTakes(1, tier.weights, tier.repeats)) return single(module, tier, inputs, wrt);
  }
  const values = module.inputs.map((name) => inputs[name]);
  const shapes = module.inputs.map((name) => module.declaredShape(name) ?? []);
  const data =
    Object.keys(inputs).length === module.inputs.length
      ? values.map((v, i) => tierInput(v, shapes[i], batch))
      : undefined;
  if (!data || !data.every((d) => d !== undefined)) return viaTensors(module, inputs, batch, wrt, given);
  const batchSize = batch ? batchOf(module, data) : 1;
  if (shapes.every((s) => s.length === 0) && batchSize >= ONE_PASS_MIN_BATCH) {
    const found = viaOnePass(module, values as (number | ArrayLike<number>)[], batchSize, wrt, given);
    if (found) return found;
  }
  const tier = module.tier(
    data.map((d) => d.batched),
    shapes,
  );
  if (!tier || !tierTakes(batchSize, tier.weights, tier.repeats)) return viaTensors(module, inputs, batch, wrt, given);
  return viaTier(module, tier, data, batchSize, wrt, given);
}

/** An input as the tier reads it: its elements, a sample's or a batch's one sample after another. */
interface TierInput {
  data: number | ArrayLike<number>;
  batched: boolean;
  /** The samples in a batch (1 for a shared value). */
  samples: number;
}

/**
 * A value for an input of this per-sample shape, as the tier reads it: a number (a scalar), an
 * array of numbers (a batch of scalars, or one sample of a vector or matrix, row-major), or nested
 * arrays of a batch of vectors or matrices; undefined for anything else (the libtorch path reads it, or says what is wrong).
 */
function tierInput(v: unknown, shape: Shape, batch: boolean): TierInput | undefined {
  if (typeof v === 'number') return shape.length === 0 ? { data: v, batched: false, samples: 1 } : undefined;
  if (shape.length === 0) return batch && isNumbers(v) ? { data: v, batched: true, samples: v.length } : undefined;
  if (isNumbers(v))
    return shape.length === 1 && v.length === shape[0] ? { data: v, batched: false, samples: 1 } : undefined;
  if (!Array.isArray(v) || v.length === 0) return undefined;
  try {
    const flat = flatten(v as Nested, 'the value');
    if (sameShape(flat.shape, shape)) return { data: flat.data, batched: false, samples: 1 };
    const ok = batch && flat.shape.length === shape.length + 1 && sameShape(flat.shape.slice(1), shape);
    return ok ? { data: flat.data, batched: true, samples: flat.shape[0] } : undefined;
  } catch {
    return undefined;
  }
}

function checkOut(module: Module, out: unknown, batch: boolean): void {
  const ok = module.dtype === 'float64' ? out instanceof Float64Array : out instanceof Float32Array;
  if (!ok)
    throw new TypeError(
      `valueAndGrad: out must be a ${module.dtype === 'float64' ? 'Float64Array' : 'Float32Array'} (the module's dtype is ${module.dtype}), got ${describe(out)}`,
    );
  if (!batch) throw new RangeError('valueAndGrad: out receives a batch of values: it needs batch: true');
}

/**
 * The array the value goes to: `given` (checked against the value's size), else a new one. Every
 * caller writes each element, so a new one is taken unzeroed: zeroing it, or faulting in fresh
 * zero pages for it, cost a large batch as much as the pass itself.
 */
function outputArray(dtype: DType, given: Values | undefined, n: number): Values {
  if (given === undefined) {
    const bytes = Buffer.allocUnsafeSlow(n * (dtype === 'float64' ? 8 : 4)).buffer;
    return dtype === 'float64' ? new Float64Array(bytes, 0, n) : new Float32Array(bytes, 0, n);
  }
  if (given.length !== n)
    throw new RangeError(`valueAndGrad: out holds ${given.length} values, the value ${n} (one per sample)`);
  return given;
}

/**
 * Whether the inputs are one sample, every input given and nothing else: a number for a scalar, an
 * array of its length for a declared vector (shared by a batch either way). Read from the
 * declarations, not the single-sample program's shapes, so that a batch builds no such program.
 */
function oneSample(module: Module, inputs: Record<string, unknown>): boolean {
  const names = module.inputs;
  let given = 0;
  for (const _ in inputs) given++; // counted without allocating: this is the hot path
  if (given !== names.length) return false;
  for (let i = 0; i < names.length; i++) {
    const v = inputs[names[i]];
    const shape = module.declaredShape(names[i]); // undeclared: a scalar
    const fits =
      shape === undefined || shape.length === 0
        ? typeof v === 'number'
        : shape.length === 1 && isNumbers(v) && v.length === shape[0];
    if (!fits) return false;
  }
  return true;
}

/** One sample (oneSample's), written into the bound buffers. */
function single(module: Module, tier: TierProgram, inputs: Record<string, unknown>, wrt: string[]): ValueAndGrad {
  const names = module.inputs;
  for (let i = 0; i < names.length; i++) {
    const v = inputs[names[i]] as number | ArrayLike<number>;
    if (typeof v === 'number') tier.sample[i][0] = v;
    else tier.sample[i].set(v);
  }
  // Bit i asks for input i's gradient (exact in a double up to 53 inputs; the tier takes at most 64).
  let wanted = 0;
  for (let i = 0; i < names.length; i++) if (wrt.includes(names[i])) wanted += 2 ** i;
  try {
    tier.tape.runBound(wanted);
  } catch (e) {
    throw module.tierError(tier, e as Error);
  }
  const grads = paramGrads(tier, module.dtype);
  for (const name of wrt) {
    const i = names.indexOf(name);
    grads[name] = ofSample(tier.inputGrads[i], tier.inputRanks[i]);
  }
  return { value: ofSample(tier.out, tier.resultShape.length), grads };
}

/** One sample's values in a reused buffer as the caller gets them: a scalar's as a number, else a copy. */
function ofSample(buffer: Values, rank: number): number | Values {
  return rank === 0 ? buffer[0] : buffer.slice();
}

function paramGrads(tier: TierProgram, dtype: DType): Record<string, number | Values> {
  const grads: Record<string, number | Values> = {};
  for (let k = 0; k < tier.params.length; k++) {
    const p = tier.params[k];
    if (!p.requiresGrad) continue;
    const at = tier.paramOffsets[k];
    // A weight block's gradient as the libtorch path gives it: an array of the dtype.
    if (p.shape.length === 0) grads[tier.paramNames[k]] = tier.paramGrads[at];
    else {
      const g = arrayOf(dtype, numel(p.shape));
      g.set(tier.paramGrads.subarray(at, at + g.length)); // one native copy, converting to the dtype
      grads[tier.paramNames[k]] = g;
    }
  }
  return grads;
}

function isNumbers(v: unknown): v is ArrayLike<number> {
  return (
    v instanceof Float64Array ||
    v instanceof Float32Array ||
    (Array.isArray(v) && v.every((x) => typeof x === 'number'))
  );
}

function batchOf(module: Module, inputs: TierInput[]): number {
  let size: number | undefined;
  inputs.forEach((v, i) => {
    if (!v.batched) return;
    if (size !== undefined && v.samples !== size)
      throw new RangeError(`valueAndGrad: input '${module.inputs[i]}' has ${v.samples} samples, the others ${size}`);
    size = v.samples;
  });
  if (size === 0) throw new RangeError('valueAndGrad: a batch needs at least one sample');
  return size ?? 1;
}

function viaTier(
  module: Module,
  tier: TierProgram,
  inputs: TierInput[],
  batch: number,
  wrt: string[],
  given: Values | undefined,
): ValueAndGrad {
  const dtype = module.dtype;
  const data = inputs.map(({ data: v }, i) => {
    if (typeof v !== 'number') return ofDtype(v, dtype);
    tier.sample[i][0] = v;
    return tier.sample[i];
  });
  const batchedOut = inputs.some((v) => v.batched);
  if (!batchedOut && given)
    throw new RangeError(
      `valueAndGrad: out receives a batch, but every input is one ${tier.inputRanks.every((r) => r === 0) ? 'number' : 'sample'}`,
    );
  const resultSize = tier.out.length;
  const out = batchedOut ? outputArray(dtype, given, batch * resultSize) : tier.out;
  const inputGrads = module.inputs.map((name, i) =>
    !wrt.includes(name) ? null : inputs[i].batched ? arrayOf(dtype, batch * tier.inputSizes[i]) : tier.inputGrads[i],
  );
  try {
    tier.tape.run(data, batch, out, inputGrads);
  } catch (e) {
    throw module.tierError(tier, e as Error);
  }
  const grads = paramGrads(tier, dtype);
  module.inputs.forEach((name, i) => {
    const g = inputGrads[i];
    if (g) grads[name] = inputs[i].batched ? g : ofSample(g, tier.inputRanks[i]);
  });
  return { value: batchedOut ? out : ofSample(out, tier.resultShape.length), grads };
}

/** The values as a typed array of the dtype: the array itself when it is one. */
function ofDtype(v: ArrayLike<number>, dtype: DType): Values {
  if (dtype === 'float64') return v instanceof Float64Array ? v : Float64Array.from(v);
  return v instanceof Float32Array ? v : Float32Array.from(v);
}

/**
 * A large batch whose result is a fused node: forward and the backward of the sum in one pass over
 * the blocks of the data (native/fused.cpp), the value written straight into the returned array;
 * undefined for other programs.
 */
function viaOnePass(
  module: Module,
  values: (number | ArrayLike<number>)[],
  batch: number,
  wrt: string[],
  given: Values | undefined,
): ValueAndGrad | undefined {
  const dtype = module.dtype;
  const batched = values.map((v) => typeof v !== 'number');
  const wanted = module.inputs.map((name) => wrt.includes(name));
  // The data converted and the result's array made only once the program is known to take this path.
  let out = given;
  const found = module.withFusedResult(batched, (graph) => {
    const data = values.map((v) => (typeof v === 'number' ? arrayOf(dtype, 1).fill(v) : ofDtype(v, dtype)));
    out = outputArray(dtype, given, batch);
    return graph.valueAndSumGrad(data, batched, batch, out, wanted);
  });
  if (!found || !out) return undefined;
  const grads: Record<string, number | Values> = {};
  const read = (handle: NativeTensor | null, zero: () => number | Values): number | Values => {
    if (!handle) return zero();
    const t = new Tensor(handle);
    try {
      return t.shape.length === 0 ? t.item() : t.toTypedArray();
    } finally {
      t.dispose();
    }
  };
  Object.entries(module.namedParameters()).forEach(([name, p], k) => {
    if (p.requiresGrad)
      grads[name] = read(found.params[k], () => (p.shape.length === 0 ? 0 : arrayOf(dtype, numel(p.shape))));
  });
  module.inputs.forEach((name, i) => {
    if (wanted[i]) grads[name] = read(found.inputs[i], () => (batched[i] ? arrayOf(dtype, batch) : 0));
  });
  return { value: out, grads };
}

/**
 * The libtorch path: the inputs as leaf tensors, forward, and the gradients of the sum through
 * autograd's grad (not backward: the parameters' accumulated .grad, the user's, stay untouched).
 */
function viaTensors(
  module: Module,
  inputs: Record<string, unknown>,
  batch: boolean,
  wrt: string[],
  given: Values | undefined,
): ValueAndGrad {
  const made: Tensor[] = [];
  try {
    const leaves: Record<string, Tensor> = {};
    for (const [name, v] of Object.entries(inputs)) {
      const { tensor: t, owned } = module.inputTensor(
        name,
        (v instanceof Float32Array || v instanceof Float64Array ? Array.from(v) : v) as never,
      );
      const leaf = wrt.includes(name) ? (owned ? t : t.detach()) : t;
      if (owned || wrt.includes(name)) made.push(leaf);
      if (wrt.includes(name)) leaf.requiresGrad = true;
      leaves[name] = leaf;
    }
    const out = module.forward(leaves, { batch, grad: true });
    made.push(out);
    const value = out.shape.length === 0 ? out.item() : out.toTypedArray();
    if (given && typeof value === 'number')
      throw new RangeError('valueAndGrad: out receives a batch, but the value is one number');
    if (given) outputArray(module.dtype, given, (value as Values).length).set(value as Values);
    const wanted = [
      ...Object.entries(module.namedParameters()).filter(([, p]) => p.requiresGrad),
      ...wrt.map((n) => [n, leaves[n]] as const),
    ];
    const found =
      out.requiresGrad && wanted.length > 0
        ? grad(
            out,
            wanted.map(([, t]) => t),
          )
        : [];
    made.push(...found);
    const grads: Record<string, number | Values> = {};
    wanted.forEach(([name, t], k) => {
      const g = found[k];
      grads[name] = g
        ? g.shape.length === 0
          ? g.item()
          : g.toTypedArray()
        : t.shape.length === 0
          ? 0
          : arrayOf(module.dtype, t.shape[0]);
    });
    return { value: given ?? value, grads };
  } finally {
    for (const t of made) t.dispose();
  }
}

/** The buffers around a tape for a module with these inputs and parameters. */
export function tierProgram(
  tape: NativeTape,
  dtype: DType,
  spec: TapeSpec,
  params: { name: string; tensor: Tensor }[],
  graph: IrGraph,
): TierProgram {
  const tensors = params.map((p) => p.tensor);
  const paramOffsets: number[] = [];
  let elements = 0;
  for (const t of tensors) {
    paramOffsets.push(elements);
    elements += numel(t.shape);
  }
  const weights = tensors.reduce((sum, t) => sum + (t.shape.length === 0 ? 0 : numel(t.shape)), 0);
  const program: TierProgram = {
    tape,
    params: tensors,
    paramNames: params.map((p) => p.name),
    paramOffsets,
    weights,
    repeats: repeats(spec),
    inputSizes: spec.inputSizes,
    inputRanks: spec.inputRanks,
    resultShape: spec.resultShape,
    graph,
    sample: spec.inputSizes.map((n) => arrayOf(dtype, n)),
    out: arrayOf(dtype, spec.results.length),
    paramGrads: new Float64Array(elements),
    inputGrads: spec.inputSizes.map((n) => arrayOf(dtype, n)),
  };
  const handles = tensors.map((t) => t.handle);
  tape.bind(program.sample, handles, program.out, program.paramGrads, program.inputGrads);
  return program;
}
