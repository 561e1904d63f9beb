// ODE integration with a compiled module as the right-hand side. The integrator loop runs natively
// (native/ode.cpp) and calls the module's graph once per stage, so the solution is one autograd
// graph from the module's parameters and y0; nothing runs in JS per step. This file only checks
// arguments (the solver's settings in ode-config.ts, shared with fit) and decides which program
// input receives the state, the time or a constant.
import { Module, type InputValue } from '../api';
import { describe, flatten, type Nested } from '../runtime/host-data';
import { Tensor, tensor } from '../runtime/tensor';
import { odeAddon } from './native-ode';
import { SOLVER_OPTIONS, solverConfig, type OdeSolverOptions } from './ode-config';
import { flag, knownOptions, liveTensor, numberIn } from '../runtime/validate';
import { checkResult, wire } from './wiring';

export type { OdeMethod } from './settings';

export interface OdeintOptions extends OdeSolverOptions {
  /** Scalar inputs that make up the state vector, in order. Default: the vector input `y`. */
  state?: string[];
  /** The time input (default: `t`, when the program has that input and it has no other role). */
  time?: string;
  /** Values for the program's other inputs, shared across the batch. */
  inputs?: Record<string, InputValue>;
  /** Record the autograd graph (default: when a parameter, y0 or a constant input requires a gradient). */
  grad?: boolean;
}

export interface MultipleShootingOptions extends OdeintOptions {
  /** Observation intervals per window: each window covers windowSteps + 1 observations. */
  windowSteps: number;
  /**
   * The windows' start states [W, n] (default: the observed ones). A tensor that requires grad makes
   * them trainable, so that the noise in an observed start does not bias the fit; the observations
   * remain every window's targets, row 0 included.
   */
  starts?: Tensor;
}

export interface ShootingResult {
  /** [k+1, W, n]: window w integrated from observation w*k, reported at observations w*k .. w*k+k. */
  predictions: Tensor;
  /** [k+1, W, n]: the observations each prediction should match (row 0 holds the window starts). */
  targets: Tensor;
}

const ODE_OPTIONS = [...SOLVER_OPTIONS, 'state', 'time', 'inputs', 'grad'] as const;

/**
 * Solves dy/dt = rhs(t, y) from y0 at t[0], reporting the state at each time of `t` (strictly
 * increasing). y0 is [n], or [B, n] for a batch of initial conditions integrated together; the
 * result is [T, n] or [T, B, n], with row 0 equal to y0.
 */
export function odeint(rhs: Module, y0: Tensor | Nested, t: number[] | Tensor, options: OdeintOptions = {}): Tensor {
  const who = 'odeint';
  const opts = knownOptions<OdeintOptions>(who, options, ODE_OPTIONS);
  checkModule(who, rhs);
  const times = timesOf(who, t);
  const state = stateTensor(who, rhs, y0);
  try {
    return integrate(who, rhs, state.tensor, times, opts);
  } finally {
    if (state.owned) state.tensor.dispose();
  }
}

/**
 * Multiple shooting: cuts observed states [T, n] at times t into W = floor((T - 1) / k) windows of
 * k = windowSteps intervals (trailing observations that do not fill a window are unused) and
 * integrates every window from its observed start state, all windows as one batch. The windows
 * must share one time spacing; a time input sees each window's own absolute time.
 */
export function multipleShooting(
  rhs: Module,
  observations: Tensor | Nested,
  t: number[] | Tensor,
  options: MultipleShootingOptions,
): ShootingResult {
  const who = 'multipleShooting';
  const {
    windowSteps,
    starts: given,
    ...opts
  } = knownOptions<MultipleShootingOptions>(who, options, [...ODE_OPTIONS, 'windowSteps', 'starts']);
  checkModule(who, rhs);
  const times = timesOf(who, t);
  const obs = observationsOf(who, observations);
  if (obs.steps !== times.length)
    throw new RangeError(`${who}: there are ${obs.steps} observations but ${times.length} times`);
  const k = numberIn(who, 'windowSteps', windowSteps, { min: 1, integer: true });
  const windows = Math.floor((times.length - 1) / k);
  if (windows < 1)
    throw new RangeError(`${who}: windowSteps = ${k} needs at least ${k + 1} observations, got ${times.length}`);

  const relative = times.slice(0, k + 1).map((x) => x - times[0]);
  for (let w = 1; w < windows; w++)
    for (let j = 1; j <= k; j++) {
      const got = times[w * k + j] - times[w * k];
      if (Math.abs(got - relative[j]) > 1e-9 * Math.max(1, Math.abs(times[w * k + j])))
        throw new RangeError(
          `${who}: the windows must share one time spacing, but window ${w} differs from window 0 at step ${j}`,
        );
    }

  const { n, data } = obs;
  const starts = new Float64Array(windows * n);
  const targets = new Float64Array((k + 1) * windows * n);
  for (let w = 0; w < windows; w++) {
    starts.set(data.subarray(w * k * n, (w * k + 1) * n), w * n);
    for (let j = 0; j <= k; j++)
      targets.set(data.subarray((w * k + j) * n, (w * k + j + 1) * n), (j * windows + w) * n);
  }
  const like = { dtype: rhs.dtype, device: rhs.device };
  const y0 =
    given === undefined ? tensor(starts, { ...like, shape: [windows, n] }) : startsOf(who, rhs, given, windows, n);
  const offsets = Array.from({ length: windows }, (_, w) => times[w * k]);
  try {
    const predictions = integrate(who, rhs, y0, relative, opts, offsets);
    return { predictions, targets: tensor(targets, { ...like, shape: [k + 1, windows, n] }) };
  } finally {
    if (y0 !== given) y0.dispose();
  }
}

/** The native run shared by odeint and multipleShooting; `timeOffsets` gives each sample its own start time. */
function integrate(
  who: string,
  rhs: Module,
  y0: Tensor,
  times: number[],
  options: Partial<OdeintOptions>,
  timeOffsets?: number[],
): Tensor {
  const config = solverConfig(who, '', options);
  const grad = flag(who, 'grad', options.grad);
  const n = y0.shape[y0.shape.length - 1];
  const wiring = wire(
    { who, options: 'options', state: 'y0' },
    rhs,
    n,
    y0.shape.length === 2,
    options,
    timeOffsets !== undefined,
  );
  try {
    const graph = rhs.nativeGraph(wiring.inputs);
    const resultBatched = checkResult(who, rhs, n);
    const offsets =
      timeOffsets && wiring.hasTime ? tensor(timeOffsets, { dtype: 'float64', device: rhs.device }) : undefined;
    if (offsets) wiring.owned.push(offsets);
    const needGrad = grad ?? (rhs.parameters().some((p) => p.requiresGrad) || y0.requiresGrad || wiring.constantGrad);
    const problem = { slots: wiring.slots, resultBatched, timeOffsets: offsets?.handle };
    return new Tensor(odeAddon().odeint(graph, y0.handle, times, problem, { ...config, needGrad }));
  } finally {
    for (const c of wiring.owned) c.dispose();
  }
}

function checkModule(who: string, rhs: unknown): void {
  if (!(rhs instanceof Module))
    throw new TypeError(`${who}: the right-hand side must be a compiled Module, got ${describe(rhs)}`);
}

function timesOf(who: string, t: unknown): number[] {
  if (t instanceof Tensor) {
    liveTensor(who, 't', t);
    if (t.shape.length !== 1) throw new RangeError(`${who}: t must be 1-D, got shape [${t.shape}]`);
    return Array.from(t.toTypedArray());
  }
  if (!Array.isArray(t) || t.some((x) => typeof x !== 'number'))
    throw new TypeError(`${who}: t must be an array of numbers or a 1-D Tensor, got ${describe(t)}`);
  return t;
}

/** y0 as a tensor of the module's dtype and device; `owned` when made here. */
function stateTensor(who: string, rhs: Module, y0: unknown): { tensor: Tensor; owned: boolean } {
  const like = { dtype: rhs.dtype, device: rhs.device };
  let state: { tensor: Tensor; owned: boolean };
  if (y0 instanceof Tensor) {
    liveTensor(who, 'y0', y0);
    const same = y0.dtype === rhs.dtype && y0.device === rhs.device;
    state = same ? { tensor: y0, owned: false } : { tensor: y0.to(like), owned: true };
  } else {
    const flat = flatten(y0, `${who}: y0`);
    state = { tensor: tensor(flat.data, { ...like, shape: flat.shape }), owned: true };
  }
  const shape = state.tensor.shape;
  if (shape.length < 1 || shape.length > 2 || shape.includes(0)) {
    if (state.owned) state.tensor.dispose();
    throw new RangeError(`${who}: y0 must have shape [n] or [B, n] (a state or a batch of states), got [${shape}]`);
  }
  return state;
}

/** Given window starts: a live [W, n] Tensor, used as it is (its gradient reaches the caller). */
function startsOf(who: string, rhs: Module, starts: unknown, windows: number, n: number): Tensor {
  if (!(starts instanceof Tensor))
    throw new TypeError(`${who}: starts must be a Tensor of shape [${windows}, ${n}], got ${describe(starts)}`);
  liveTensor(who, 'starts', starts);
  if (starts.shape.length !== 2 || starts.shape[0] !== windows || starts.shape[1] !== n)
    throw new RangeError(
      `${who}: starts must have shape [${windows}, ${n}] (one state per window), got [${starts.shape}]`,
    );
  if (starts.dtype !== rhs.dtype || starts.device !== rhs.device)
    throw new TypeError(
      `${who}: starts is ${starts.dtype} on ${starts.device} but the right-hand side is ${rhs.dtype} on ${rhs.device}`,
    );
  return starts;
}

/** Observed states [T, n] as host data. */
function observationsOf(
  who: string,
  observations: unknown,
): { steps: number; n: number; data: Float32Array | Float64Array } {
  let flat: { data: Float32Array | Float64Array; shape: number[] };
  if (observations instanceof Tensor) {
    liveTensor(who, 'observations', observations);
    flat = { data: observations.toTypedArray(), shape: observations.shape };
  } else {
    flat = flatten(observations, `${who}: observations`);
  }
  if (flat.shape.length !== 2 || flat.shape.includes(0))
    throw new RangeError(`${who}: observations must have shape [T, n] (one state per time), got [${flat.shape}]`);
  return { steps: flat.shape[0], n: flat.shape[1], data: flat.data };
}
