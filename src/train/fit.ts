// fit(): a whole training loop that runs natively on a worker thread (native/fit.cpp), so the event
// loop stays free while a model trains. This file checks the arguments, turns the data into tensors
// and the program's inputs into the integrator's wiring, and assembles the result.
import { Module, type InputValue } from '../compiler/module';
import { describe, flatten, type Nested } from '../runtime/host-data';
import type { NativeTensor } from '../runtime/native';
import { Tensor, tensor } from '../runtime/tensor';
import type { OdeMethod, OdeSlot } from './native-ode';
import { fitAddon, type NativeAlgebraicData, type NativeOdeData } from './native-fit';
import type { OptimizerKind } from './native-optim';
import * as optim from './optim';
import * as schedules from './schedules';
import { knownOptions, numberIn } from './validate';

export interface FitOdeOptions {
  /** Scalar inputs that make up the state, in the observations' column order (default: the vector input `y`). */
  state?: string[];
  /** The time input (default: `t`, when the program has it and it has no other role). */
  time?: string;
  /** Integrator (default 'rk4'). */
  method?: OdeMethod;
  /** Euler/RK4: the largest step (default: one step per observation interval). */
  step?: number;
  /** dopri5 tolerances (defaults 1e-6 and 1e-8). */
  rtol?: number;
  atol?: number;
  /** Most integrator steps per trajectory (default 10,000). */
  maxSteps?: number;
  /** Multiple shooting: windows of this many observation intervals, each integrated from its observed start. */
  windowSteps?: number;
  /** Values of the program's other inputs (constants). */
  inputs?: Record<string, InputValue>;
}

export interface FitProgress {
  /** Optimizer steps taken so far. */
  step: number;
  /** The loss of this step's (mini)batch, before its update. */
  loss: number;
  params: Record<string, Nested>;
}

export interface FitOptions {
  /** Passes over the data (with minibatches, each pass takes several steps). */
  epochs: number;
  optimizer?: OptimizerKind;
  /** Default 1e-2 (Adam, AdamW, SGD) or 1 (L-BFGS, which searches its step with strong Wolfe conditions). */
  lr?: number;
  /** Learning-rate decay over all the steps: cosine to 0, 'step' (x0.1 at each third), 'exponential' (to 1% at the end). */
  schedule?: 'cosine' | 'step' | 'exponential' | 'none';
  /** Largest joint gradient 2-norm. */
  clip?: number;
  /** Default 'mse'; 'huber' uses delta = 1. */
  loss?: 'mse' | 'mae' | 'huber';
  /** Seeds the minibatch order (default: a random seed). Full-batch training is deterministic anyway. */
  seed?: number;
  /** Samples (algebraic) or shooting windows (ODE) per step; default the whole data set. */
  batchSize?: number;
  onProgress?: (p: FitProgress) => void;
  /** Steps between progress reports (default 1); the last step is always reported. */
  progressEvery?: number;
  /** Stop when the epoch's mean loss has not improved by more than minDelta (default 0) for `patience` epochs. */
  earlyStopping?: { patience: number; minDelta?: number };
  /** Stops before the next step; fit then resolves with the parameters so far and stopped = 'aborted'. */
  signal?: AbortSignal;
  /** Default true: a non-finite loss rejects with an Error naming the step and the parameters. False skips that step's update. */
  stopOnNonFinite?: boolean;
  /** ODE mode: how the program's inputs receive the state and the time, and how to integrate. */
  ode?: FitOdeOptions;
}

/** Algebraic data: samples in the first dimension of every input and of the target. */
export interface AlgebraicData {
  inputs: Record<string, InputValue>;
  target: InputValue;
}

/** ODE data: observed states [T][n] at the times t. */
export interface OdeData {
  t: number[];
  observations: Nested | Tensor;
}

export interface FitResult {
  params: Record<string, Nested>;
  /** The loss on all the data at the final parameters. */
  loss: number;
  steps: number;
  stopped: 'epochs' | 'early' | 'aborted';
}

const WHO = 'fit';
const OPTIONS = ['epochs', 'optimizer', 'lr', 'schedule', 'clip', 'loss', 'seed', 'batchSize', 'onProgress', 'progressEvery', 'earlyStopping', 'signal', 'stopOnNonFinite', 'ode'] as const;
const ODE_OPTIONS = ['state', 'time', 'method', 'step', 'rtol', 'atol', 'maxSteps', 'windowSteps', 'inputs'] as const;
const OPTIMIZERS: readonly unknown[] = ['adam', 'adamw', 'sgd', 'lbfgs'];
const SCHEDULES: readonly unknown[] = ['cosine', 'step', 'exponential', 'none'];
const LOSSES: readonly unknown[] = ['mse', 'mae', 'huber'];
const METHODS: readonly unknown[] = ['euler', 'rk4', 'dopri5'];

/**
 * Trains the model's parameters (its own and those of the functions it calls, MLPs included) in
 * place, on a worker thread. While it runs, the model's forward() and dispose() throw. Rejects on
 * bad arguments, a failing step or (by default) a non-finite loss.
 */
export async function fit(model: Module, data: AlgebraicData | OdeData, options: FitOptions): Promise<FitResult> {
  if (!(model instanceof Module)) throw new TypeError(`${WHO}: the model must be a compiled Module, got ${describe(model)}`);
  if (model.training) throw new Error(`${WHO}: this module is already being trained by another fit(); await it first`);
  const o = knownOptions<FitOptions>(WHO, options, OPTIONS);
  const settings = settingsOf(o);
  const named = Object.entries(model.namedParameters()).filter(([, t]) => t.requiresGrad);
  if (named.length === 0) throw new Error(`${WHO}: the model has no trainable parameters (none, or all frozen)`);
  if (data === null || typeof data !== 'object') throw new TypeError(`${WHO}: data must be {inputs, target} or {t, observations}, got ${describe(data)}`);

  const owned: Tensor[] = [];
  try {
    const prepared = 'target' in data ? algebraic(model, data, owned, o.ode) : ode(model, data, owned, o.ode ?? {});
    const names = named.map(([name]) => name);
    const onProgress = o.onProgress && progressCallback(o.onProgress, names);
    // Aborted before it starts: no steps at all (cancelling after the start would race the worker).
    const abortedBefore = o.signal?.aborted === true;
    const total = abortedBefore ? 0 : o.epochs! * prepared.stepsPerEpoch(settings.batchSize);
    const config = { ...settings, epochs: abortedBefore ? 0 : settings.epochs, lrs: learningRates(settings.schedule, settings.lr, total) };
    const run = fitAddon().fit(prepared.graph, named.map(([, t]) => t.handle), names, { kind: settings.optimizer, lr: settings.lr }, prepared.data, config, onProgress);
    model.training = true;
    const abort = (): void => run.cancel();
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      const result = await run.promise;
      if (abortedBefore) result.stopped = 'aborted';
      return { params: Object.fromEntries(named.map(([name, t]) => [name, t.toArray()])), ...result };
    } finally {
      o.signal?.removeEventListener('abort', abort);
      model.training = false;
    }
  } finally {
    for (const t of owned) t.dispose();
  }
}

function settingsOf(o: Partial<FitOptions>) {
  const optimizer = o.optimizer ?? 'adam';
  if (!OPTIMIZERS.includes(optimizer)) throw new RangeError(`${WHO}: optimizer must be 'adam', 'adamw', 'sgd' or 'lbfgs', got ${describe(optimizer)}`);
  const schedule = o.schedule ?? 'none';
  if (!SCHEDULES.includes(schedule)) throw new RangeError(`${WHO}: schedule must be 'cosine', 'step', 'exponential' or 'none', got ${describe(schedule)}`);
  const loss = o.loss ?? 'mse';
  if (!LOSSES.includes(loss)) throw new RangeError(`${WHO}: loss must be 'mse', 'mae' or 'huber', got ${describe(loss)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError(`${WHO}: onProgress must be a function, got ${describe(o.onProgress)}`);
  if (o.stopOnNonFinite !== undefined && typeof o.stopOnNonFinite !== 'boolean')
    throw new TypeError(`${WHO}: stopOnNonFinite must be a boolean, got ${describe(o.stopOnNonFinite)}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError(`${WHO}: signal must be an AbortSignal, got ${describe(o.signal)}`);
  const early = knownOptions<{ patience: number; minDelta: number }>(`${WHO}: earlyStopping`, o.earlyStopping, ['patience', 'minDelta']);
  return {
    optimizer,
    schedule,
    loss,
    epochs: numberIn(WHO, 'epochs', o.epochs, { min: 1, integer: true, below: 1e9 }),
    lr: o.lr === undefined ? (optimizer === 'lbfgs' ? 1 : 1e-2) : numberIn(WHO, 'lr', o.lr, { min: 0, above: true }),
    clip: o.clip === undefined ? 0 : numberIn(WHO, 'clip', o.clip, { min: 0, above: true }),
    seed: o.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : numberIn(WHO, 'seed', o.seed, { min: 0, integer: true, below: 2 ** 53 }),
    batchSize: o.batchSize === undefined ? 0 : numberIn(WHO, 'batchSize', o.batchSize, { min: 1, integer: true, below: 2 ** 53 }),
    progressEvery: o.onProgress === undefined ? 0 : numberIn(WHO, 'progressEvery', o.progressEvery ?? 1, { min: 1, integer: true, below: 2 ** 53 }),
    patience: o.earlyStopping === undefined ? 0 : numberIn(WHO, 'earlyStopping.patience', early.patience, { min: 1, integer: true, below: 2 ** 53 }),
    minDelta: numberIn(WHO, 'earlyStopping.minDelta', early.minDelta ?? 0, { min: 0 }),
    stopOnNonFinite: o.stopOnNonFinite ?? true,
  };
}

/** Every step's learning rate under the schedule: the schedules' own formulas, read off a throwaway optimizer. */
function learningRates(kind: string, lr: number, total: number): Float64Array {
  if (kind === 'none') return new Float64Array(0);
  const dummy = tensor([0], { requiresGrad: true });
  const opt = optim.sgd([dummy], { lr });
  try {
    const sched =
      kind === 'cosine' ? schedules.cosine(opt, { steps: total })
      : kind === 'step' ? schedules.step(opt, { every: Math.max(1, Math.ceil(total / 3)), gamma: 0.1 })
      : schedules.exponential(opt, { gamma: 0.01 ** (1 / total) });
    const out = new Float64Array(total);
    for (let i = 0; i < total; i++, sched.step()) out[i] = sched.lr;
    return out;
  } finally {
    opt.dispose();
    dummy.dispose();
  }
}

function progressCallback(onProgress: (p: FitProgress) => void, names: string[]) {
  return (step: number, loss: number, handles: NativeTensor[]): void => {
    const params: Record<string, Nested> = {};
    handles.forEach((h, i) => {
      const t = new Tensor(h);
      params[names[i]] = t.toArray();
      t.dispose();
    });
    onProgress({ step, loss, params });
  };
}

interface Prepared {
  graph: ReturnType<Module['nativeGraph']>;
  data: NativeAlgebraicData | NativeOdeData;
  /** Steps per epoch for a batch size (0: the full batch). */
  stepsPerEpoch(batchSize: number): number;
}

/** Keeps a tensor made here for freeing once the fit settles. */
function own(owned: Tensor[], made: { tensor: Tensor; owned: boolean }): Tensor {
  if (made.owned) owned.push(made.tensor);
  return made.tensor;
}

function algebraic(model: Module, data: AlgebraicData, owned: Tensor[], odeOptions: unknown): Prepared {
  if (odeOptions !== undefined) throw new TypeError(`${WHO}: options.ode is for {t, observations} data, but the data has a target`);
  const given = data.inputs;
  if (given === null || typeof given !== 'object' || Array.isArray(given) || given instanceof Tensor)
    throw new TypeError(`${WHO}: data.inputs must map the program's inputs (${model.inputs.join(', ')}) to batched values, got ${describe(given)}`);
  for (const name of Object.keys(given))
    if (!model.inputs.includes(name)) throw new Error(`${WHO}: data.inputs has '${name}', which is not an input of the program (${model.inputs.join(', ')})`);
  const target = own(owned, model.inputTensor('target', data.target));
  if (target.shape.length === 0 || target.shape[0] === 0) throw new RangeError(`${WHO}: the target must hold at least one sample in its first dimension, got shape [${target.shape}]`);
  const n = target.shape[0];
  const inputs = model.inputs.map((name) => {
    if (!(name in given)) throw new Error(`${WHO}: data.inputs has no value for the input '${name}'`);
    const t = own(owned, model.inputTensor(name, given[name]));
    if (t.shape[0] !== n) throw new RangeError(`${WHO}: input '${name}' has ${t.shape.length === 0 ? 'no sample dimension' : `${t.shape[0]} samples`} but the target has ${n}`);
    return t;
  });
  const graph = model.nativeGraph(model.inputs.map((name, i) => ({ name, shape: inputs[i].shape.slice(1), batched: true })));
  return {
    graph,
    data: { inputs: inputs.map((t) => t.handle), target: target.handle },
    stepsPerEpoch: (b) => (b === 0 ? 1 : Math.ceil(n / Math.min(b, n))),
  };
}

function ode(model: Module, data: OdeData, owned: Tensor[], options: FitOdeOptions): Prepared {
  const o = knownOptions<FitOdeOptions>(`${WHO}: options.ode`, options, ODE_OPTIONS);
  if (!Array.isArray(data.t) || data.t.some((x) => typeof x !== 'number'))
    throw new TypeError(`${WHO}: data.t must be an array of numbers (the observation times), got ${describe(data.t)}`);
  const flat = data.observations instanceof Tensor ? { data: data.observations.toTypedArray(), shape: data.observations.shape } : flatten(data.observations, `${WHO}: data.observations`);
  if (flat.shape.length !== 2 || flat.shape.includes(0))
    throw new RangeError(`${WHO}: data.observations must have shape [T, n] (one state per time), got [${flat.shape}]`);
  const [steps, n] = flat.shape;
  if (steps !== data.t.length) throw new RangeError(`${WHO}: there are ${steps} observations but ${data.t.length} times`);
  const method = o.method ?? 'rk4';
  if (!METHODS.includes(method)) throw new RangeError(`${WHO}: ode.method must be 'euler', 'rk4' or 'dopri5', got ${describe(method)}`);
  const k = o.windowSteps === undefined ? 0 : numberIn(WHO, 'ode.windowSteps', o.windowSteps, { min: 1, integer: true, below: steps });
  const windows = k === 0 ? 0 : Math.floor((steps - 1) / k);
  const wiring = wire(model, n, k > 0, o, owned);
  const graph = model.nativeGraph(wiring.signature);
  const observations = tensor(flat.data, { shape: flat.shape, dtype: model.dtype, device: model.device });
  owned.push(observations);
  return {
    graph,
    data: {
      observations: observations.handle,
      times: Float64Array.from(data.t),
      windowSteps: k,
      slots: wiring.slots,
      resultBatched: resultBatched(model, n),
      method,
      step: o.step === undefined ? 0 : numberIn(WHO, 'ode.step', o.step, { min: 0, above: true }),
      rtol: o.rtol === undefined ? 1e-6 : numberIn(WHO, 'ode.rtol', o.rtol, { min: 0 }),
      atol: o.atol === undefined ? 1e-8 : numberIn(WHO, 'ode.atol', o.atol, { min: 0 }),
      maxSteps: o.maxSteps === undefined ? 10000 : numberIn(WHO, 'ode.maxSteps', o.maxSteps, { min: 1, integer: true, below: 1e12 }),
    },
    stepsPerEpoch: (b) => (b === 0 || windows === 0 ? 1 : Math.ceil(windows / Math.min(b, windows))),
  };
}

/** Which program input receives the state (whole or one component), the time, or a constant. */
function wire(model: Module, n: number, batched: boolean, o: Partial<FitOdeOptions>, owned: Tensor[]) {
  const names = model.inputs;
  const check = (name: unknown, role: string): string => {
    if (typeof name !== 'string' || !names.includes(name)) throw new Error(`${WHO}: ${role} ${describe(name)} is not an input of the program (the inputs are ${names.join(', ') || 'none'})`);
    return name;
  };
  const vector = o.state === undefined;
  if (vector && !names.includes('y')) throw new Error(`${WHO}: name the program's state inputs with ode.state (the inputs are ${names.join(', ') || 'none'})`);
  if (!vector && (!Array.isArray(o.state) || o.state.length !== n))
    throw new RangeError(`${WHO}: ode.state must name one input per observed column (${n}), got ${describe(o.state)}`);
  const state = vector ? ['y'] : o.state!.map((name) => check(name, 'the state input'));
  const constants = o.inputs ?? {};
  const time = o.time !== undefined ? check(o.time, 'the time input') : names.includes('t') && !state.includes('t') && !('t' in constants) ? 't' : undefined;
  const signature: { name: string; shape: number[]; batched: boolean }[] = [];
  const slots = names.map((name): OdeSlot => {
    const k = state.indexOf(name);
    if (k >= 0) {
      signature.push({ name, shape: vector ? [n] : [], batched });
      return vector ? { kind: 'state' } : { kind: 'component', index: k };
    }
    if (name === time) {
      signature.push({ name, shape: [], batched });
      return { kind: 'time' };
    }
    if (!(name in constants)) throw new Error(`${WHO}: no value for the input '${name}': it is not in ode.state, not the time, and not given in ode.inputs`);
    const c = own(owned, model.inputTensor(name, constants[name]));
    signature.push({ name, shape: c.shape, batched: false });
    return { kind: 'constant', tensor: c.handle };
  });
  return { signature, slots };
}

/** Checks the specialised right-hand side's result against the state; returns whether it carries the batch dimension. */
function resultBatched(model: Module, n: number): boolean {
  const main = model.graph!.regions[0];
  const out = main.nodes[main.results[0]];
  if (!(out.shape.length === 1 ? out.shape[0] === n : out.shape.length === 0 && n === 1))
    throw new RangeError(`${WHO}: the right-hand side returns shape [${out.shape}] but the state has ${n} components; it must return a vector[${n}]`);
  return out.batched;
}
