// The training settings a user chooses by name: optimizers, losses, learning-rate schedules, ODE
// methods and ODE gradient modes, each once, with its facts and a one-line doc. The TypeScript unions, the argument checks,
// the CLI's choices and help, and the table in docs/training.md all come from these lists; the
// native name tables (native/ode.h, native/fit.h, native/optim.h) must hold the same names
// (tests/train-settings.test.ts checks both).
import { describe } from '../runtime/host-data';

export const OPTIMIZERS = [
  {
    name: 'adam',
    doc: 'Adam (Kingma and Ba); weight decay is an L2 term added to the gradient (default 0).',
    fit: { lr: 1e-2 },
  },
  {
    name: 'adamw',
    doc: 'AdamW (Loshchilov and Hutter): Adam with weight decay applied to the parameters directly (default 0.01).',
    fit: { lr: 1e-2 },
  },
  {
    name: 'sgd',
    doc: 'Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay.',
    fit: { lr: 1e-2 },
  },
  {
    name: 'lbfgs',
    doc: 'L-BFGS: re-evaluates the loss several times per step; fit() searches each step by backtracking, shrinking it where the loss is not finite.',
    fit: { lr: 1, lineSearch: 'backtracking' },
  },
] as const;

export const LOSSES = [
  { name: 'mse', doc: 'Mean squared error: mean((y - target)^2).' },
  { name: 'mae', doc: 'Mean absolute error: mean(|y - target|).' },
  { name: 'huber', doc: 'Huber loss with delta = 1: squared below 1, linear beyond.' },
] as const;

export const SCHEDULES = [
  { name: 'none', doc: 'The learning rate stays lr.' },
  { name: 'cosine', doc: 'Half a cosine from lr down to 0 over all the steps.' },
  { name: 'step', doc: 'lr times 0.1 after each third of the steps.' },
  { name: 'exponential', doc: 'lr decaying geometrically to 1 % of itself at the last step.' },
] as const;

/** `adaptive`: chooses its own steps from rtol and atol; the others take a fixed `step`. */
export const ODE_METHODS = [
  { name: 'euler', adaptive: false, doc: 'Explicit Euler, order 1, fixed steps.' },
  { name: 'rk4', adaptive: false, doc: 'Classic Runge-Kutta, order 4, fixed steps.' },
  { name: 'dopri5', adaptive: true, doc: 'Dormand-Prince 5(4), adaptive steps with local error control.' },
] as const;

/**
 * How fit() on the small-program tier takes an ODE fit's gradient (`ode.sensitivities`). The names
 * but 'auto' are native/fit.h's kOdeGradientNames, in order; ode-gradient.ts says which 'auto' runs.
 */
export const ODE_SENSITIVITIES = [
  {
    name: 'auto',
    doc: 'The reverse sweep, the faster per step in every problem scripts/ode-gradient-study.js measures.',
  },
  { name: 'reverse', doc: 'A reverse sweep over the accepted steps (the discrete adjoint).' },
  { name: 'forward', doc: 'Forward sensitivities: dy/dθ carried through every stage of the solve.' },
] as const;

/** The `kind` of the Error that odeint, multipleShooting and fit throw for a solution that blows up. */
export const ODE_BLOWUP = 'ode-blowup';

export type OptimizerKind = (typeof OPTIMIZERS)[number]['name'];
export type LossKind = (typeof LOSSES)[number]['name'];
export type ScheduleKind = (typeof SCHEDULES)[number]['name'];
export type OdeMethod = (typeof ODE_METHODS)[number]['name'];
export type OdeSensitivities = (typeof ODE_SENSITIVITIES)[number]['name'];
/** The gradient modes the native fit runs (ODE_SENSITIVITIES without 'auto'). */
export type OdeGradientMode = Exclude<OdeSensitivities, 'auto'>;

/** fit's optimizer when none is chosen, beyond a few constants (see defaultOptimizer). */
export const DEFAULT_OPTIMIZER: OptimizerKind = 'adam';
/** Full-batch fits of at most this many trainable numbers default to L-BFGS. */
export const LBFGS_DEFAULT_MAX_PARAMETERS = 20;

/**
 * fit's optimizer when none is chosen: L-BFGS for a few constants on the whole data set, where it
 * converges in a few steps and says so (Adam with a fixed budget can stop far from the optimum and
 * not know it); Adam for networks, minibatches, and when a learning rate is given (a rate is
 * first-order thinking: L-BFGS searches its own step).
 */
export function defaultOptimizer(trainableNumbers: number, fullBatch: boolean, lrGiven: boolean): OptimizerKind {
  return fullBatch && !lrGiven && trainableNumbers <= LBFGS_DEFAULT_MAX_PARAMETERS ? 'lbfgs' : DEFAULT_OPTIMIZER;
}
export const DEFAULT_LOSS: LossKind = 'mse';
export const DEFAULT_SCHEDULE: ScheduleKind = 'none';
/** The adaptive method, so that a solution is accurate to the tolerances unless a fixed step is asked for. */
export const DEFAULT_ODE_METHOD: OdeMethod = 'dopri5';
export const DEFAULT_ODE_SENSITIVITIES: OdeSensitivities = 'auto';

export const names = <N extends string>(list: readonly { name: N }[]): N[] => list.map((e) => e.name);

/** "unknown optimizer 'x'; expected one of adam, adamw, sgd, lbfgs": `what` names the setting. */
export function unknownChoice(what: string, value: unknown, list: readonly { name: string }[]): string {
  const shown = typeof value === 'string' ? `'${value}'` : describe(value);
  return `unknown ${what} ${shown}; expected one of ${names(list).join(', ')}`;
}

/** `value` as one of the list's names (`fallback` when undefined), else a RangeError from `who`. */
export function choose<N extends string>(
  who: string,
  what: string,
  value: unknown,
  list: readonly { name: N }[],
  fallback: N,
): N {
  if (value === undefined) return fallback;
  const entry = list.find((e) => e.name === value);
  if (!entry) throw new RangeError(`${who}: ${unknownChoice(what, value, list)}`);
  return entry.name;
}

export const odeMethod = (name: OdeMethod) => ODE_METHODS.find((m) => m.name === name)!;
