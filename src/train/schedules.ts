// Learning-rate schedules: each sets its optimizer's lr from a formula of the step count. The rate
// the optimizer has when the schedule is made is the base rate; making the schedule sets the rate for
// the first step. Call sched.step() after each opt.step().
import { describe } from '../runtime/host-data';
import { Optimizer } from './optim';
import { knownOptions, numberIn } from '../runtime/validate';

export class Schedule {
  private count = 0;

  /** @internal Use schedules.cosine, schedules.step or schedules.exponential. */
  constructor(
    private readonly optimizer: Optimizer,
    private readonly rate: (t: number) => number,
  ) {
    optimizer.lr = rate(0);
  }

  /** How many times step() has been called. */
  get steps(): number {
    return this.count;
  }
  /** The rate the optimizer uses for its next step. */
  get lr(): number {
    return this.optimizer.lr;
  }
  /** Advances the schedule by one optimizer step and sets the rate for the next one. */
  step(): void {
    this.optimizer.lr = this.rate(++this.count);
  }
}

export interface CosineOptions {
  /** Steps from the start (warmup included) until the rate reaches min. */
  steps: number;
  min?: number;
  /** Steps of linear warmup at the start (default 0). */
  warmup?: number;
}

/**
 * Linear warmup base * (t + 1) / warmup for t < warmup, then half a cosine from base at t = warmup
 * down to min at t = steps: min + (base - min) * (1 + cos(pi * (t - warmup) / (steps - warmup))) / 2,
 * and min from then on.
 */
export function cosine(optimizer: Optimizer, options: CosineOptions): Schedule {
  const base = baseRate('cosine', optimizer);
  const o = knownOptions<CosineOptions>('cosine', options, ['steps', 'min', 'warmup']);
  const steps = numberIn('cosine', 'steps', o.steps, { min: 1, integer: true });
  const min = numberIn('cosine', 'min', o.min ?? 0, { min: 0 });
  if (min > base) throw new RangeError(`cosine: min (${min}) is above the optimizer's lr (${base})`);
  const warmup = numberIn('cosine', 'warmup', o.warmup ?? 0, { min: 0, integer: true, below: steps });
  return new Schedule(optimizer, (t) => {
    if (t < warmup) return (base * (t + 1)) / warmup;
    const progress = Math.min(1, (t - warmup) / (steps - warmup));
    return min + ((base - min) * (1 + Math.cos(Math.PI * progress))) / 2;
  });
}

export interface StepOptions {
  /** Steps between decays. */
  every: number;
  /** Factor applied every `every` steps (default 0.1). */
  gamma?: number;
}

/** base * gamma^floor(t / every). */
export function step(optimizer: Optimizer, options: StepOptions): Schedule {
  const base = baseRate('step', optimizer);
  const o = knownOptions<StepOptions>('step', options, ['every', 'gamma']);
  const every = numberIn('step', 'every', o.every, { min: 1, integer: true });
  const gamma = numberIn('step', 'gamma', o.gamma ?? 0.1, { min: 0, above: true });
  return new Schedule(optimizer, (t) => base * gamma ** Math.floor(t / every));
}

export interface ExponentialOptions {
  gamma: number;
}

/** base * gamma^t. */
export function exponential(optimizer: Optimizer, options: ExponentialOptions): Schedule {
  const base = baseRate('exponential', optimizer);
  const o = knownOptions<ExponentialOptions>('exponential', options, ['gamma']);
  const gamma = numberIn('exponential', 'gamma', o.gamma, { min: 0, above: true });
  return new Schedule(optimizer, (t) => base * gamma ** t);
}

function baseRate(who: string, optimizer: unknown): number {
  if (!(optimizer instanceof Optimizer))
    throw new TypeError(`${who}: expected an Optimizer, got ${describe(optimizer)}`);
  return optimizer.lr;
}
