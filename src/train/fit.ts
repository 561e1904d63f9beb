// fit(): a whole training loop that runs natively on a thread of its own (native/fit.cpp,
// binding/fit_wrap.cpp), so the event loop stays free while a model trains. This file checks the
// arguments, turns the data into tensors and the program's inputs into the integrator's wiring,
// guards what a running fit uses, and assembles the result.
import { Module, type InputValue } from '../api';
import { Mlp } from '../nn/mlp';
import { describe, flatten, unflatten, type Nested } from '../runtime/host-data';
import { native } from '../runtime/native';
import { Rng } from '../runtime/random';
import { Tensor, tensor, type Device } from '../runtime/tensor';
import {
  fitAddon,
  type NativeAlgebraicData,
  type NativeDistributedGroup,
  type NativeFitResult,
  type NativeFitTier,
  type NativeOdeData,
  type StopReason,
} from './native-fit';
import { distributedSpec, groupSpec, isDistributedFailure, type DistributedOptions } from './distributed';
import { SOLVER_OPTIONS, solverConfig, type OdeSolverOptions } from './ode-config';
import * as optim from './optim';
import * as schedules from './schedules';
import {
  choose,
  DEFAULT_LOSS,
  defaultOptimizer,
  DEFAULT_SCHEDULE,
  LOSSES,
  OPTIMIZERS,
  SCHEDULES,
  type LossKind,
  type OdeGradientMode,
  type OdeSensitivities,
  type OptimizerKind,
  type ScheduleKind,
} from './settings';
import { flag, knownOptions, numberIn } from '../runtime/validate';
import { checkResult, wire } from './wiring';
import { penaltyStrength } from './penalty';
import { odeGradientOption } from './ode-gradient';
import { tierTakes } from '../compiler/tape';

/** How the program's inputs receive the state and the time, and the integrator (as odeint's options). */
export interface FitOdeOptions extends OdeSolverOptions {
  /** Scalar inputs that make up the state, in the observations' column order (default: the vector input `y`). */
  state?: string[];
  /** The time input (default: `t`, when the program has it and it has no other role). */
  time?: string;
  /**
   * Multiple shooting: windows of this many observation intervals, each integrated from its observed
   * start; 0 integrates the whole trajectory from the first observation. Default: the whole
   * trajectory, except for more than 50 evenly spaced intervals: windows of 20 first, then the whole
   * trajectory from where they ended (result.shooting reports the first stage); with a batchSize,
   * only the windows.
   */
  windowSteps?: number;
  /**
   * Train each window's start state (the first state, for the whole trajectory) with the constants,
   * starting at its observation, so that the noise of an observed start does not bias them (as
   * multipleShooting's `starts`); result.startStates holds them. An array [windows][n] (such as a
   * previous fit's startStates) trains them from those values instead. Default false: each window
   * starts at its observation.
   */
  trainStarts?: boolean | number[][];
  /**
   * How a fit on the small-program tier takes the gradient through the solve (the same gradient, to
   * rounding, either way): 'forward' carries the sensitivities dy/dθ through every stage as the
   * solve goes (nothing kept per step), 'reverse' sweeps back over the accepted steps (a state and
   * the stages' register files kept per step, within 64 MB; beyond, it recomputes the stages).
   * Default 'auto': reverse, as fast or faster in every problem measured (src/train/ode-gradient.ts);
   * result.odeGradient says which ran. On the libtorch path (result.tier false) autograd
   * differentiates the solve, and this option has no effect.
   */
  sensitivities?: OdeSensitivities;
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

/**
 * What fit reads of an AbortSignal, written out so the published types need neither the DOM library
 * nor @types/node; a real AbortSignal is checked at the call.
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface FitOptions {
  /** Passes over the data (with minibatches, each pass takes several steps). */
  epochs: number;
  /**
   * The choices are in settings.ts's OPTIMIZERS (and docs/training.md). Default: 'lbfgs' for a
   * full-batch fit of at most 20 trainable numbers with no `lr` given, else 'adam' (defaultOptimizer).
   */
  optimizer?: OptimizerKind;
  /** Default 1e-2 (Adam, AdamW, SGD) or 1 (L-BFGS, which searches its step with strong Wolfe conditions). */
  lr?: number;
  /** Learning-rate decay over all the steps (default 'none'); SCHEDULES in settings.ts says what each does. */
  schedule?: ScheduleKind;
  /** Largest joint gradient 2-norm. */
  clip?: number;
  /** Default 'mse'; LOSSES in settings.ts lists them ('huber' uses delta = 1). */
  loss?: LossKind;
  /** Seeds the minibatch order (default: a random seed). Full-batch training is deterministic anyway. */
  seed?: number;
  /** Samples (algebraic) or shooting windows (ODE) per step; default the whole data set. */
  batchSize?: number;
  onProgress?: (p: FitProgress) => void;
  /** Steps between progress reports (default 1); the last step is always reported. */
  progressEvery?: number;
  /**
   * Stop when the epoch's mean loss has not improved by more than minDelta (default 0) for `patience`
   * epochs: stopReason 'loss-plateau'.
   */
  earlyStopping?: { patience: number; minDelta?: number };
  /**
   * When the fit has converged. `gradient` (default 1e-7): the largest absolute gradient entry, at
   * the end of an L-BFGS iteration or of a full-batch step of the other optimizers. `loss` (default
   * 1e-9, L-BFGS only): the relative change of the loss over an iteration.
   */
  tolerance?: { gradient?: number; loss?: number };
  /** Stops before the next step; fit then resolves with the parameters so far and stopped = 'aborted'. */
  signal?: AbortSignalLike;
  /**
   * Default true: a non-finite loss (or, in ODE mode, a solution that blows up: the Error's `kind`
   * is then 'ode-blowup'), or a finite loss with a non-finite gradient, rejects with an Error naming
   * the step and the parameters. False skips that step's update and carries on.
   */
  stopOnNonFinite?: boolean;
  /**
   * An L2 penalty on the hidden layers of the learned components the model calls (its MLPs'
   * weights and biases but the output layer's; model.penalisedParameters()), never on its named
   * constants, relative to the data's variance: each step's loss gains
   * weightPenalty * variance(target or observations) * sum(w^2). For hybrid models, whose MLPs could
   * otherwise absorb part of the known physics; the experiments' hybrids use 1e-4 (docs/training.md
   * has the study of the strength). The result's loss leaves the penalty out. Default 0.
   */
  weightPenalty?: number;
  /** ODE mode: how the program's inputs receive the state and the time, and how to integrate. */
  ode?: FitOdeOptions;
  /**
   * Train from several starting points and keep the lowest final loss: a count (the model's values,
   * then count - 1 draws of every scalar parameter v as v * 10^u, u uniform in [-1, 1), seeded by
   * `seed`; networks' weights keep their values), or an array of {parameter: value} objects tried
   * after the model's own values. Each start has a fresh optimizer and the full `epochs`.
   */
  starts?: number | Record<string, Nested>[];
  /**
   * Data-parallel training over several processes (this machine's or others'), one `rank` each: every
   * step, each takes its share of the samples (or shooting windows) and c10d sums the shares' losses
   * and gradients, so every rank takes the same steps. Each rank must call fit with the same model,
   * data and options; `seed` then defaults to 0 so that they draw the same minibatches. onProgress is
   * called on rank 0 only; every rank resolves with the same parameters. Fields default to torchrun's
   * RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
   */
  distributed?: DistributedOptions;
}

/** One start of a fit with `starts`: where it ended, or why it failed. */
export interface StartReport {
  params: Record<string, Nested>;
  /** The final loss; NaN when the start failed. */
  loss: number;
  stopReason?: StopReason;
  /** The failure (a non-finite loss, a solution that blows up). */
  error?: string;
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

export type { StopReason };

export interface FitResult {
  params: Record<string, Nested>;
  /** The loss on all the data at the final parameters. */
  loss: number;
  steps: number;
  /**
   * Why it stopped: 'gradient-tolerance' and 'loss-plateau' (the tolerances, L-BFGS finding no lower
   * loss along its direction, or earlyStopping) are convergence; 'epochs' ran out; 'aborted' by the signal.
   */
  stopReason: StopReason;
  /** stopReason is 'gradient-tolerance' or 'loss-plateau'. */
  converged: boolean;
  /** When it stopped, coarsely: 'early' for either kind of convergence. */
  stopped: 'epochs' | 'early' | 'aborted';
  /**
   * Whether each step ran on the small-program tier (a program of scalar ops, scalar data, at most
   * 512 samples or windows a step, with MLPs at most 60,000 samples (110,000 ODE windows) times weights, with loops at
   * most 256 samples, compile option `tier` not false: tierTakes) rather than through libtorch.
   */
  tier: boolean;
  /**
   * Whether, off the tier, every step's loss and gradient were taken in one pass over the data (a
   * program that is one fused elementwise node, with the MSE, MAE or Huber loss, on the CPU: forward,
   * loss and backward together) rather than through libtorch's autograd.
   */
  fused: boolean;
  /** The optimizer that trained (options.optimizer, or the default for the fit: see defaultOptimizer). */
  optimizer: OptimizerKind;
  /**
   * After the default multiple shooting of a long trajectory: its windows' stage (the result is the
   * whole trajectory's; when that failed, the windows' result stands and `error` says why).
   */
  shooting?: { windowSteps: number; loss: number; steps: number; stopReason: StopReason; error?: string };
  /** With ode.trainStarts: the trained start states, one per shooting window (one for the whole trajectory). */
  startStates?: number[][];
  /**
   * An ODE fit on the small-program tier: how its gradient was taken (ode.sensitivities, or what
   * 'auto' chose); undefined for algebraic fits and off the tier.
   */
  odeGradient?: OdeGradientMode;
  /** With `starts`: the index of the start kept (0 is the model's own values), and every start's end. */
  start?: number;
  starts?: StartReport[];
  /**
   * A distributed fit: this process's rank, how many took part, the seconds spent summing over them,
   * and the backend that summed ('nccl' on the model's CUDA device, or 'gloo').
   */
  distributed?: { rank: number; worldSize: number; communicationSeconds: number; backend: 'gloo' | 'nccl' };
}

const WHO = 'fit';
const OPTIONS = [
  'epochs',
  'weightPenalty',
  'optimizer',
  'lr',
  'schedule',
  'clip',
  'loss',
  'seed',
  'batchSize',
  'onProgress',
  'progressEvery',
  'earlyStopping',
  'signal',
  'stopOnNonFinite',
  'tolerance',
  'ode',
  'starts',
  'distributed',
] as const;
const ODE_OPTIONS = [
  'state',
  'time',
  ...SOLVER_OPTIONS,
  'windowSteps',
  'trainStarts',
  'sensitivities',
  'inputs',
] as const;

/**
 * Trains the model's parameters (its own and those of the functions it calls, MLPs included) in
 * place, on a thread of its own. While it runs, the model's (and the modules' it calls) forward() and
 * dispose() throw, and another fit() that would train or read the same parameters rejects. Rejects
 * on bad arguments, a failing step, (by default) a non-finite loss, or a parameter disposed or
 * frozen while it trains.
 */
export async function fit(model: Module, data: AlgebraicData | OdeData, options: FitOptions): Promise<FitResult> {
  if (!(model instanceof Module))
    throw new TypeError(`${WHO}: the model must be a compiled Module, got ${describe(model)}`);
  if (model.training) throw new Error(`${WHO}: this module is already being trained by another fit(); await it first`);
  const o = knownOptions<FitOptions>(WHO, options, OPTIONS);
  const all = Object.entries(model.namedParameters());
  const named = all.filter(([, t]) => t.requiresGrad);
  if (named.length === 0) throw new Error(`${WHO}: the model has no trainable parameters (none, or all frozen)`);
  const asked = distributedSpec(WHO, o.distributed);
  const spec =
    asked &&
    groupSpec(
      WHO,
      asked,
      named.map(([, t]) => t.device),
      native().buildInfo(),
    );
  const settings = settingsOf(
    spec && o.seed === undefined ? { ...o, seed: 0 } : o,
    named.reduce((n, [, t]) => n + t.size, 0),
  );
  const starts = startsOf(o.starts, named, settings.seed);
  if (data === null || typeof data !== 'object')
    throw new TypeError(`${WHO}: data must be {inputs, target} or {t, observations}, got ${describe(data)}`);
  const clash = all.find(([, t]) => trained.has(t)) ?? named.find(([, t]) => read.has(t));
  if (clash)
    throw new Error(
      `${WHO}: the parameter '${clash[0]}' is in use by another running fit() (the two models share the module or MLP it belongs to); ` +
        'await that fit first, or give each model its own copy',
    );

  const owned: Tensor[] = [];
  let group: NativeDistributedGroup | undefined;
  try {
    // Each stage's data: the one (algebraic, or an ODE's shooting as asked), or windows then the whole trajectory.
    const stages =
      'target' in data
        ? [algebraic(model, data, owned, o.ode)]
        : shootingPlan(data, o.ode ?? {}, settings.batchSize).map((k) => ode(model, data, owned, o.ode ?? {}, k));
    // The tier's program, once per stage (every start trains every stage).
    for (const stage of stages) Object.assign(stage.data, fitTier(model, stage, settings.batchSize));
    const names = named.map(([name]) => name);
    // Progress comes from rank 0 alone: the ranks' steps and losses are the same.
    const onProgress =
      o.onProgress && (spec?.rank ?? 0) === 0
        ? progressCallback(
            o.onProgress,
            names,
            named.map(([, t]) => t.shape),
          )
        : undefined;
    const { optimizer, optimizerConfig, schedule, lr, weightPenalty, ...loop } = settings;
    const covered = new Set(model.penalisedParameters());
    const penalised = named.map(([, t]) => covered.has(t));
    if (weightPenalty > 0 && !penalised.some(Boolean))
      throw new Error(
        `${WHO}: weightPenalty is for models that call learned components (MLPs), and this one trains none`,
      );
    // The penalty's strength on each stage's data, once (every start trains every stage).
    const strength = new Map(
      stages.map((s) => [s, weightPenalty > 0 ? penaltyStrength(weightPenalty, s.targetValues()) : 0]),
    );
    group = spec && fitAddon().distributedGroup(spec);
    // What every rank must hold alike besides the parameters' shapes and the data (native/distributed_fit.cpp).
    const { progressEvery, ...steps } = loop; // only rank 0 reports progress
    const agreement: [string, string][] = [
      ['program', model.graphText()],
      ['settings', JSON.stringify({ optimizerConfig, schedule, lr, weightPenalty, steps, starts })],
    ];
    let communicationSeconds = 0;
    // One training run of a stage from the parameters' current values, with a fresh optimizer.
    const train = async (prepared: Prepared): Promise<FitResult> => {
      // Aborted before it starts: no steps at all (cancelling after the start would race the worker);
      // a distributed fit is cancelled instead, so that every rank stops after the same step.
      const abortedBefore = !group && o.signal?.aborted === true;
      const total = abortedBefore ? 0 : o.epochs! * prepared.stepsPerEpoch(settings.batchSize);
      // Trained start states are the last parameter, never penalised, fresh from the observations each run.
      const startStates = prepared.startStates?.();
      const config = {
        ...loop,
        epochs: abortedBefore ? 0 : loop.epochs,
        lrs: learningRates(schedule, lr, total),
        weightPenalty: strength.get(prepared)!,
        penalised: startStates ? [...penalised, false] : penalised,
        ...(group && { distributed: { group, agreement } }),
      };
      const run = fitAddon().fit(
        prepared.graph,
        [...named.map(([, t]) => t.handle), ...(startStates ? [startStates.handle] : [])],
        startStates ? [...names, 'start states'] : names,
        optimizerConfig,
        { ...prepared.data, ...(startStates && { starts: startStates.handle }) },
        config,
        onProgress,
      );
      if (group && o.signal?.aborted) run.cancel();
      const watch = setInterval(() => misuse(named) && run.cancel(), WATCH_MS);
      watch.unref();
      const abort = (): void => run.cancel();
      o.signal?.addEventListener('abort', abort, { once: true });
      try {
        let result: NativeFitResult;
        try {
          result = await run.promise;
        } catch (e) {
          throw misuse(named) ?? e;
        }
        const problem = misuse(named);
        if (problem) throw problem;
        if (abortedBefore) result.stopReason = 'aborted';
        communicationSeconds += result.communicationSeconds;
        return {
          params: Object.fromEntries(named.map(([name, t]) => [name, t.toArray()])),
          loss: result.loss,
          steps: result.steps,
          stopReason: result.stopReason,
          converged: CONVERGED.includes(result.stopReason),
          stopped: result.stopReason === 'epochs' || result.stopReason === 'aborted' ? result.stopReason : 'early',
          tier: prepared.data.tape !== undefined,
          fused: result.fused,
          optimizer,
          ...(prepared.data.tape && 'gradient' in prepared.data && { odeGradient: prepared.data.gradient }),
          ...(startStates && { startStates: startStates.toArray() as number[][] }),
        };
      } finally {
        clearInterval(watch);
        o.signal?.removeEventListener('abort', abort);
      }
    };
    const release = claim(
      model,
      all.map(([, t]) => t),
      named.map(([, t]) => t),
    );
    try {
      const trainStages = () => inStages(stages, train, named, o.signal);
      const result = starts ? await fromStarts(starts, named, trainStages, o.signal) : await trainStages();
      return spec
        ? {
            ...result,
            distributed: { rank: spec.rank, worldSize: spec.worldSize, communicationSeconds, backend: spec.backend },
          }
        : result;
    } finally {
      release();
    }
  } finally {
    if (group) fitAddon().closeDistributedGroup(group);
    for (const t of owned) t.dispose();
  }
}

/**
 * The worker keeps its own references, so nothing crashes if a parameter is disposed or frozen
 * while it trains; but the results would be lost or wrong, so the fit stops and says why.
 */
function misuse(named: [string, Tensor][]): Error | undefined {
  const gone = named.find(([, t]) => t.disposed);
  if (gone)
    return new Error(
      `${WHO}: the parameter '${gone[0]}' was disposed while fit() was training it (directly, or by disposing the MLP or module it belongs to), ` +
        'so the trained values are lost; keep the model, the functions it calls and their parameters alive until fit() settles',
    );
  const frozen = named.find(([, t]) => !t.requiresGrad);
  if (frozen)
    return new Error(
      `${WHO}: the parameter '${frozen[0]}' was frozen (freeze() or requiresGrad = false) while fit() was training it; ` +
        'freeze parameters before calling fit() or after it settles',
    );
  return undefined;
}

/**
 * Trains each stage in turn from where the last ended; the result is the last stage's, with the
 * steps of all and, after automatic multiple shooting, the windows' stage as `shooting`. When the
 * whole trajectory then fails (it blows up, or its loss is not finite, from where the windows
 * ended), the windows' parameters and result stand and `shooting.error` says why.
 */
async function inStages(
  stages: Prepared[],
  train: (prepared: Prepared) => Promise<FitResult>,
  named: [string, Tensor][],
  signal: AbortSignalLike | undefined,
): Promise<FitResult> {
  const first = await train(stages[0]);
  if (stages.length === 1 || first.stopReason === 'aborted' || signal?.aborted) return first;
  const shooting = {
    windowSteps: stages[0].windowSteps!,
    loss: first.loss,
    steps: first.steps,
    stopReason: first.stopReason,
  };
  try {
    const last = await train(stages[1]);
    return { ...last, steps: first.steps + last.steps, shooting };
  } catch (e) {
    if (misuse(named) || isDistributedFailure(e)) throw e;
    assignStart(first.params, named);
    return { ...first, shooting: { ...shooting, error: (e as Error).message } };
  }
}

/** A trajectory of more than this many evenly spaced intervals is fitted in windows first by default. */
const AUTO_SHOOTING_INTERVALS = 50;
/** The windows' length, in observation intervals, of that first stage. */
const AUTO_WINDOW_STEPS = 20;

/**
 * The ODE stages' window lengths (0: the whole trajectory): ode.windowSteps as given; by default,
 * for a long evenly spaced trajectory, windows of 20 intervals (multiple shooting, whose loss has
 * no far-off local minima from an oscillation out of phase) and then the whole trajectory from
 * there (unbiased by the windows' noisy starting states); else the whole trajectory. With a
 * batchSize only the windows (minibatches draw from them).
 */
function shootingPlan(data: OdeData, o: FitOdeOptions, batchSize: number): number[] {
  if (o === null || typeof o !== 'object' || o.windowSteps !== undefined || !Array.isArray(data?.t)) return [-1];
  const t = data.t;
  const intervals = t.length - 1;
  const dt = (t[t.length - 1] - t[0]) / intervals;
  const even = t.every((x, i) => Math.abs(x - (t[0] + i * dt)) <= 1e-9 * Math.max(1, Math.abs(x)));
  if (intervals <= AUTO_SHOOTING_INTERVALS || !even) return [0];
  return batchSize > 0 ? [AUTO_WINDOW_STEPS] : [AUTO_WINDOW_STEPS, 0];
}

/** Starting values by parameter name: given ones, or log-spaced draws around the model's values. */
type Start = Record<string, Nested>;

/**
 * The starts of `options.starts`, the model's own values first; undefined for a single start.
 * A count draws each further start's scalar parameters as v * 10^u, u uniform in [-1, 1) (a zero
 * as u itself), seeded by `seed`; non-scalar parameters (networks' weights) keep their values.
 */
function startsOf(option: unknown, named: [string, Tensor][], seed: number): Start[] | undefined {
  if (option === undefined) return undefined;
  const own: Start = Object.fromEntries(named.map(([name, t]) => [name, t.toArray()]));
  if (typeof option === 'number') {
    const n = numberIn(WHO, 'starts', option, { min: 1, integer: true, below: 10001 });
    const rng = new Rng(seed);
    const draw = (v: number): number => {
      const u = rng.uniform(-1, 1);
      return v === 0 ? u : v * 10 ** u;
    };
    const scalars = named.filter(([, t]) => t.size === 1);
    const drawn = Array.from({ length: n - 1 }, () =>
      Object.fromEntries(scalars.map(([name, t]) => [name, reshapeLike(draw(t.item()), t)])),
    );
    return n === 1 ? undefined : [own, ...drawn];
  }
  if (!Array.isArray(option) || option.length === 0)
    throw new TypeError(
      `${WHO}: starts must be a number of starts or a non-empty array of {parameter: value} objects, got ${describe(option)}`,
    );
  const trainable = new Map(named);
  const given = option.map((start, i) => {
    if (start === null || typeof start !== 'object' || Array.isArray(start))
      throw new TypeError(`${WHO}: starts[${i}] must map parameter names to values, got ${describe(start)}`);
    for (const [name, value] of Object.entries(start)) {
      const param = trainable.get(name);
      if (!param)
        throw new Error(
          `${WHO}: starts[${i}] names '${name}', which is not a trainable parameter (${[...trainable.keys()].join(', ')})`,
        );
      const { shape } = flatten(value as Nested, `${WHO}: starts[${i}].${name}`);
      if (shape.join() !== param.shape.join())
        throw new RangeError(
          `${WHO}: starts[${i}] gives '${name}' shape [${shape}] but the parameter has shape [${param.shape}]`,
        );
    }
    return start as Start;
  });
  return [own, ...given];
}

/** A scalar drawn for a one-element parameter, in its shape ([] or [1], ...). */
const reshapeLike = (v: number, t: Tensor): Nested => t.shape.reduceRight<Nested>((acc) => [acc], v);

/** Writes a start's values (shapes checked by startsOf) into the parameters it names. */
function assignStart(start: Start, named: [string, Tensor][]): void {
  for (const [name, t] of named) {
    if (!(name in start)) continue;
    const values = tensor(start[name], { dtype: t.dtype, device: t.device as Device });
    try {
      t.handle.assign(values.handle);
    } finally {
      values.dispose();
    }
  }
}

/**
 * Trains from each start in turn (a fresh optimizer each) and keeps the parameters of the lowest
 * final loss. A start that fails (a non-finite loss, a solution that blows up) is reported with its
 * error; the fit rejects only when every start fails, or for misuse (a parameter disposed or frozen).
 */
async function fromStarts(
  starts: Start[],
  named: [string, Tensor][],
  train: () => Promise<FitResult>,
  signal: AbortSignalLike | undefined,
): Promise<FitResult> {
  const reports: StartReport[] = [];
  let best: { result: FitResult; index: number } | undefined;
  let firstError: unknown;
  for (const [i, given] of starts.entries()) {
    if (i > 0 && signal?.aborted) break;
    // Every start from the model's own values but for what it gives: nothing carries over from the last run.
    const start = { ...starts[0], ...given };
    if (i > 0) assignStart(start, named);
    try {
      const result = await train();
      reports.push({ params: result.params, loss: result.loss, stopReason: result.stopReason });
      if (!best || (Number.isFinite(result.loss) && !(result.loss >= best.result.loss))) best = { result, index: i };
    } catch (e) {
      if (misuse(named) || isDistributedFailure(e)) throw e;
      firstError ??= e;
      reports.push({ params: start, loss: NaN, error: (e as Error).message });
    }
  }
  if (!best) throw firstError;
  assignStart(best.result.params, named);
  return { ...best.result, start: best.index, starts: reports };
}

/**
 * How many fits of the process (all worker threads included) train at once; the others wait their
 * turn, emitting no progress meanwhile, and an abort still stops a waiting fit at once. Default: the
 * number of hardware threads, so that fits started together share the cores instead of
 * oversubscribing them (each trains with the threads of setNumThreads). Raising it lets waiting
 * fits start; lowering it lets running ones finish.
 */
export function setMaxConcurrentFits(n: number): void {
  numberIn('setMaxConcurrentFits', 'the limit', n, { min: 1, below: 1025, integer: true });
  fitAddon().setMaxConcurrentFits(n);
}

export const getMaxConcurrentFits = (): number => fitAddon().getMaxConcurrentFits();

const CONVERGED: StopReason[] = ['gradient-tolerance', 'loss-plateau'];

/** How often a running fit checks that its parameters are still alive and trainable. */
const WATCH_MS = 100;

// What the running fits of this thread use: the parameters they train, every parameter their
// graphs read (with counts), and the modules they run (with counts; such a module is `training`).
const trained = new Set<Tensor>();
const read = new Map<Tensor, number>();
const running = new Map<Module, number>();
let fits = 0;

// Each fit trains on a thread of its own. process.exit() (or a worker's) destroys libtorch's static
// objects without waiting for such threads, so exiting stops them first, each after its current step.
const stopFits = (): void => fitAddon().stopFits();

/** Marks the model, the modules it calls and its parameters as in use by a fit; returns the release. */
function claim(model: Module, reads: Tensor[], trains: Tensor[]): () => void {
  const modules = modulesOf(model);
  // An MLP whose weights this fit trains refuses forward() meanwhile (a frozen one stays usable).
  const trainsSet = new Set(trains);
  const nets = [...new Set(modules.flatMap((m) => [...m.state().functions.values()]))].filter(
    (f): f is Mlp => f instanceof Mlp && f.parameters().some((p) => trainsSet.has(p)),
  );
  for (const n of nets) n.training = true;
  if (fits++ === 0) process.on('exit', stopFits);
  for (const t of trains) trained.add(t);
  for (const t of reads) read.set(t, (read.get(t) ?? 0) + 1);
  for (const m of modules) {
    running.set(m, (running.get(m) ?? 0) + 1);
    m.training = true;
  }
  return () => {
    if (--fits === 0) process.off('exit', stopFits);
    for (const t of trains) trained.delete(t);
    for (const t of reads) {
      const left = read.get(t)! - 1;
      if (left > 0) read.set(t, left);
      else read.delete(t);
    }
    for (const n of nets) n.training = false;
    for (const m of modules) {
      const left = running.get(m)! - 1;
      if (left > 0) running.set(m, left);
      else (running.delete(m), (m.training = false));
    }
  };
}

/** The model and every module it calls, at any depth (their graphs are inlined into the model's). */
function modulesOf(model: Module): Module[] {
  const out = [model];
  for (const f of model.state().functions.values()) if (f instanceof Module) out.push(...modulesOf(f));
  return [...new Set(out)];
}

/** The fit's settings, checked, with the defaults for a model of `trainableNumbers` trainable numbers. */
function settingsOf(o: Partial<FitOptions>, trainableNumbers: number) {
  const optimizer = choose(
    WHO,
    'optimizer',
    o.optimizer,
    OPTIMIZERS,
    defaultOptimizer(trainableNumbers, o.batchSize === undefined, o.lr !== undefined),
  );
  const schedule = choose(WHO, 'schedule', o.schedule, SCHEDULES, DEFAULT_SCHEDULE);
  const loss = choose(WHO, 'loss', o.loss, LOSSES, DEFAULT_LOSS);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new TypeError(`${WHO}: onProgress must be a function, got ${describe(o.onProgress)}`);
  const stopOnNonFinite = flag(WHO, 'stopOnNonFinite', o.stopOnNonFinite) ?? true;
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new TypeError(`${WHO}: signal must be an AbortSignal, got ${describe(o.signal)}`);
  const early = knownOptions<{ patience: number; minDelta: number }>(`${WHO}: earlyStopping`, o.earlyStopping, [
    'patience',
    'minDelta',
  ]);
  const defaults = OPTIMIZERS.find((e) => e.name === optimizer)!.fit;
  const lr = o.lr === undefined ? defaults.lr : numberIn(WHO, 'lr', o.lr, { min: 0, above: true });
  const tolerance = knownOptions<{ gradient: number; loss: number }>(`${WHO}: tolerance`, o.tolerance, [
    'gradient',
    'loss',
  ]);
  const gradientTolerance = numberIn(WHO, 'tolerance.gradient', tolerance.gradient ?? 1e-7, { min: 0 });
  const lossTolerance = numberIn(WHO, 'tolerance.loss', tolerance.loss ?? 1e-9, { min: 0 });
  return {
    optimizer,
    optimizerConfig: optim.optimizerConfig(optimizer, {
      ...defaults,
      lr,
      ...(optimizer === 'lbfgs' && { gradientTolerance, lossTolerance }),
    }),
    gradientTolerance,
    schedule,
    loss,
    lr,
    epochs: numberIn(WHO, 'epochs', o.epochs, { min: 1, integer: true, below: 1e9 }),
    clip: o.clip === undefined ? 0 : numberIn(WHO, 'clip', o.clip, { min: 0, above: true }),
    seed:
      o.seed === undefined
        ? Math.floor(Math.random() * 2 ** 32)
        : numberIn(WHO, 'seed', o.seed, { min: 0, integer: true, below: 2 ** 53 }),
    batchSize:
      o.batchSize === undefined
        ? 0
        : numberIn(WHO, 'batchSize', o.batchSize, { min: 1, integer: true, below: 2 ** 53 }),
    progressEvery:
      o.onProgress === undefined
        ? 0
        : numberIn(WHO, 'progressEvery', o.progressEvery ?? 1, { min: 1, integer: true, below: 2 ** 53 }),
    patience:
      o.earlyStopping === undefined
        ? 0
        : numberIn(WHO, 'earlyStopping.patience', early.patience, { min: 1, integer: true, below: 2 ** 53 }),
    minDelta: numberIn(WHO, 'earlyStopping.minDelta', early.minDelta ?? 0, { min: 0 }),
    stopOnNonFinite,
    weightPenalty: o.weightPenalty === undefined ? 0 : numberIn(WHO, 'weightPenalty', o.weightPenalty, { min: 0 }),
  };
}

/** Each schedule of SCHEDULES over `total` steps, as settings.ts describes it; none for 'none'. */
const FIT_SCHEDULES: Record<ScheduleKind, ((opt: optim.Optimizer, total: number) => schedules.Schedule) | undefined> = {
  none: undefined,
  cosine: (opt, total) => schedules.cosine(opt, { steps: total }),
  step: (opt, total) => schedules.step(opt, { every: Math.max(1, Math.ceil(total / 3)), gamma: 0.1 }),
  exponential: (opt, total) => schedules.exponential(opt, { gamma: 0.01 ** (1 / total) }),
};

/** Every step's learning rate under the schedule: the schedules' own formulas, read off a throwaway optimizer. */
function learningRates(kind: ScheduleKind, lr: number, total: number): Float64Array {
  const schedule = FIT_SCHEDULES[kind];
  if (!schedule) return new Float64Array(0);
  const dummy = tensor([0], { requiresGrad: true });
  const opt = optim.sgd([dummy], { lr });
  try {
    const sched = schedule(opt, total);
    const out = new Float64Array(total);
    for (let i = 0; i < total; i++, sched.step()) out[i] = sched.lr;
    return out;
  } finally {
    opt.dispose();
    dummy.dispose();
  }
}

function progressCallback(onProgress: (p: FitProgress) => void, names: string[], shapes: number[][]) {
  return (step: number, loss: number, values: (Float32Array | Float64Array)[]): void => {
    const params: Record<string, Nested> = {};
    names.forEach((name, i) => (params[name] = unflatten(values[i], shapes[i])));
    onProgress({ step, loss, params });
  };
}

interface Prepared {
  graph: ReturnType<Module['nativeGraph']>;
  data: NativeAlgebraicData | NativeOdeData;
  /** Steps per epoch for a batch size (0: the full batch). */
  stepsPerEpoch(batchSize: number): number;
  /** Samples (or shooting windows) in one step for a batch size. */
  samplesPerStep(batchSize: number): number;
  /** Whether the data suit the small-program tier (no constant requiring a gradient). */
  tierData: boolean;
  /** The program inputs' per-sample shapes. */
  inputShapes: number[][];
  /** The values the loss compares with (target or observations): their variance scales weightPenalty. */
  targetValues(): ArrayLike<number>;
  /** ODE: the shooting windows' length in intervals (0: the whole trajectory). */
  windowSteps?: number;
  /** ODE with trainStarts: the start states at their first values, to train (freed with the fit). */
  startStates?(): Tensor;
}

/**
 * The most samples (or shooting windows) per step that fit() computes on the small-program tier:
 * one sample costs it about 10 ns an op forward and back, where libtorch's path pays about 5 us of
 * dispatch and autograd per op whatever the batch (both in docs/benchmarks.md's per-op tables), so
 * they cross near 500 samples whatever the program's length.
 */
const FIT_TIER_MAX_SAMPLES = 512;

/** The tier's program and params for the fit's data, when the tier takes it (else libtorch's path runs). */
function fitTier(model: Module, prepared: Prepared, batchSize: number): NativeFitTier {
  const samples = prepared.samplesPerStep(batchSize);
  if (!prepared.tierData || samples > FIT_TIER_MAX_SAMPLES) return {};
  const tier = model.fitTape(prepared.inputShapes);
  const ode = 'gradient' in prepared.data;
  if (!tier || !tierTakes(samples, tier.weights, tier.repeats, ode)) return {};
  return { tape: tier.tape, tapeParams: tier.params.map((t) => t.handle) };
}

/** Keeps a tensor made here for freeing once the fit settles. */
function own(owned: Tensor[], made: { tensor: Tensor; owned: boolean }): Tensor {
  if (made.owned) owned.push(made.tensor);
  return made.tensor;
}

function algebraic(model: Module, data: AlgebraicData, owned: Tensor[], odeOptions: unknown): Prepared {
  if (odeOptions !== undefined)
    throw new TypeError(`${WHO}: options.ode is for {t, observations} data, but the data has a target`);
  const given = data.inputs;
  if (given === null || typeof given !== 'object' || Array.isArray(given) || given instanceof Tensor)
    throw new TypeError(
      `${WHO}: data.inputs must map the program's inputs (${model.inputs.join(', ')}) to batched values, got ${describe(given)}`,
    );
  for (const name of Object.keys(given))
    if (!model.inputs.includes(name))
      throw new Error(
        `${WHO}: data.inputs has '${name}', which is not an input of the program (${model.inputs.join(', ')})`,
      );
  const target = own(owned, model.inputTensor('target', data.target));
  if (target.shape.length === 0 || target.shape[0] === 0)
    throw new RangeError(
      `${WHO}: the target must hold at least one sample in its first dimension, got shape [${target.shape}]`,
    );
  const n = target.shape[0];
  const inputs = model.inputs.map((name) => {
    if (!(name in given)) throw new Error(`${WHO}: data.inputs has no value for the input '${name}'`);
    const t = own(owned, model.inputTensor(name, given[name]));
    if (t.shape[0] !== n)
      throw new RangeError(
        `${WHO}: input '${name}' has ${t.shape.length === 0 ? 'no sample dimension' : `${t.shape[0]} samples`} but the target has ${n}`,
      );
    return t;
  });
  const graph = model.nativeGraph(
    model.inputs.map((name, i) => ({ name, shape: inputs[i].shape.slice(1), batched: true })),
  );
  return {
    graph,
    data: { inputs: inputs.map((t) => t.handle), target: target.handle },
    stepsPerEpoch: (b) => (b === 0 ? 1 : Math.ceil(n / Math.min(b, n))),
    samplesPerStep: (b) => (b === 0 ? n : Math.min(b, n)),
    tierData: true,
    inputShapes: inputs.map((t) => t.shape.slice(1)),
    targetValues: () => target.toTypedArray(),
  };
}

/** An ODE stage's data: windows of `windowSteps` intervals (0: the whole trajectory; -1: as options.ode says). */
function ode(model: Module, data: OdeData, owned: Tensor[], options: FitOdeOptions, windowSteps: number): Prepared {
  const o = knownOptions<FitOdeOptions>(`${WHO}: options.ode`, options, ODE_OPTIONS);
  if (!Array.isArray(data.t) || data.t.some((x) => typeof x !== 'number'))
    throw new TypeError(`${WHO}: data.t must be an array of numbers (the observation times), got ${describe(data.t)}`);
  const flat =
    data.observations instanceof Tensor
      ? { data: data.observations.toTypedArray(), shape: data.observations.shape }
      : flatten(data.observations, `${WHO}: data.observations`);
  if (flat.shape.length !== 2 || flat.shape.includes(0))
    throw new RangeError(`${WHO}: data.observations must have shape [T, n] (one state per time), got [${flat.shape}]`);
  const [steps, n] = flat.shape;
  if (steps !== data.t.length)
    throw new RangeError(`${WHO}: there are ${steps} observations but ${data.t.length} times`);
  const solver = solverConfig(WHO, 'ode.', o);
  const k =
    windowSteps >= 0
      ? windowSteps
      : numberIn(WHO, 'ode.windowSteps', o.windowSteps, { min: 0, integer: true, below: steps });
  const windows = k === 0 ? 0 : Math.floor((steps - 1) / k);
  const first = firstStarts(o.trainStarts, flat.data, n, k, windows);
  const wiring = wire({ who: WHO, options: 'ode', state: 'each observation' }, model, n, k > 0, o, k > 0);
  owned.push(...wiring.owned);
  const graph = model.nativeGraph(wiring.inputs);
  const observations = tensor(flat.data, { shape: flat.shape, dtype: model.dtype, device: model.device });
  owned.push(observations);
  return {
    graph,
    data: {
      observations: observations.handle,
      times: Float64Array.from(data.t),
      windowSteps: k,
      slots: wiring.slots,
      resultBatched: checkResult(WHO, model, n),
      gradient: odeGradientOption(WHO, o.sensitivities), // the tier's; libtorch's path has autograd's
      ...solver,
    },
    windowSteps: k,
    stepsPerEpoch: (b) => (b === 0 || windows === 0 ? 1 : Math.ceil(windows / Math.min(b, windows))),
    samplesPerStep: (b) => (windows === 0 ? 1 : b === 0 ? windows : Math.min(b, windows)),
    tierData: !wiring.constantGrad,
    inputShapes: wiring.inputs.map((i) => i.shape),
    targetValues: () => flat.data,
    ...(first && {
      startStates: () =>
        own(owned, {
          tensor: tensor(first, {
            shape: [first.length / n, n],
            dtype: model.dtype,
            device: model.device,
            requiresGrad: true,
          }),
          owned: true,
        }),
    }),
  };
}

/**
 * The start states' first values for ode.trainStarts, [rows x n] flat (one row per window, one for the
 * whole trajectory): each window's first observation, or the values given; undefined without it.
 */
function firstStarts(
  option: unknown,
  observations: ArrayLike<number>,
  n: number,
  k: number,
  windows: number,
): Float64Array | undefined {
  const rows = Math.max(windows, 1);
  if (Array.isArray(option)) {
    const given = flatten(option as Nested, `${WHO}: ode.trainStarts`);
    if (given.shape.length !== 2 || given.shape[0] !== rows || given.shape[1] !== n)
      throw new RangeError(
        `${WHO}: ode.trainStarts gives start states of shape [${given.shape}], but there ${rows === 1 ? 'is 1 window' : `are ${rows} windows`} of ${n} state components: [${rows}, ${n}]`,
      );
    return Float64Array.from(given.data);
  }
  if (!(flag(WHO, 'ode.trainStarts', option) ?? false)) return undefined;
  const values = new Float64Array(rows * n);
  for (let w = 0; w < rows; w++) for (let c = 0; c < n; c++) values[w * n + c] = observations[w * k * n + c];
  return values;
}
