// Optimizers over parameter tensors (leaf tensors with requiresGrad), run by libtorch's own
// implementations. Options are checked here, where the messages can speak the API's names.
import { describe } from '../runtime/host-data';
import { Tensor, tidy } from '../runtime/tensor';
import { optimAddon, type LineSearch, type NativeOptimizer, type NativeOptimizerConfig } from './native-optim';
import type { OptimizerKind } from './settings';
import { knownOptions, liveTensors, numberIn } from '../runtime/validate';

export class Optimizer {
  /** @internal Use optim.adam, optim.adamw, optim.sgd or optim.lbfgs. */
  constructor(
    readonly kind: OptimizerKind,
    private readonly native: NativeOptimizer,
  ) {}

  /**
   * One update from the parameters' current gradients. With a closure (required by L-BFGS, which
   * re-evaluates the loss several times per step), the closure must clear the gradients, compute
   * the loss, call backward() and return the loss; it runs inside tidy(), so only the loss it
   * returns survives. Returns the closure's first loss (detached), or undefined without a closure.
   */
  step(closure?: () => Tensor): Tensor | undefined {
    if (closure !== undefined && typeof closure !== 'function')
      throw new TypeError(`${this.kind}.step: the closure must be a function, got ${describe(closure)}`);
    const loss = this.native.step(
      closure &&
        (() => {
          const value = tidy(closure);
          if (!(value instanceof Tensor))
            throw new TypeError(`${this.kind}.step: the closure must return the loss Tensor, got ${describe(value)}`);
          return value.handle;
        }),
    );
    return loss && new Tensor(loss);
  }

  /** Drops the parameters' gradients (they read as undefined until the next backward()). */
  zeroGrad(): void {
    this.native.zeroGrad();
  }

  get lr(): number {
    return this.native.getLr();
  }
  set lr(value: number) {
    this.native.setLr(numberIn(this.kind, 'lr', value, { min: 0 }));
  }

  get disposed(): boolean {
    return this.native.isDisposed();
  }
  /** Frees the optimizer's state (moments, history); the parameters are untouched. Safe to call twice. */
  dispose(): void {
    this.native.dispose();
  }
}

export interface AdamOptions {
  lr: number;
  /** Decay rates of the first and second moment averages; default [0.9, 0.999]. */
  betas?: [number, number];
  eps?: number;
  /** Adam: an L2 term added to the gradient (default 0). AdamW: decoupled decay (default 0.01). */
  weightDecay?: number;
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export interface LbfgsOptions {
  lr?: number;
  maxIter?: number;
  historySize?: number;
  /**
   * 'strong_wolfe' (libtorch's search), 'backtracking' (Armijo backtracking that shrinks the step at a
   * trial point whose loss or gradient is not finite, and that fit() reads convergence from), or
   * null (the default) for fixed steps of size lr.
   */
  lineSearch?: LineSearch | null;
  /** A step ends when the largest absolute gradient entry is at most this (default 1e-7). */
  gradientTolerance?: number;
  /** ... or when the loss changes by at most this: relative with 'backtracking', else absolute (default 1e-9). */
  lossTolerance?: number;
}

const LINE_SEARCHES: readonly LineSearch[] = ['strong_wolfe', 'backtracking'];

/**
 * The native settings of optimizer `kind` from its public options: every default and the policy
 * (where Adam's and AdamW's weight decay applies, L-BFGS's line search) are decided here, and the
 * native side applies what it is told. fit() builds its optimizer through this too.
 */
export function optimizerConfig(kind: OptimizerKind, options: unknown): NativeOptimizerConfig {
  switch (kind) {
    case 'adam':
      return adamConfig(kind, options, { weightDecay: 0, decoupledDecay: false });
    case 'adamw':
      return adamConfig(kind, options, { weightDecay: 1e-2, decoupledDecay: true });
    case 'sgd':
      return sgdConfig(options);
    case 'lbfgs':
      return lbfgsConfig(options);
  }
}

const ADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay'] as const;

interface AdamDecay {
  weightDecay: number;
  decoupledDecay: boolean;
}

function adamConfig(kind: 'adam' | 'adamw', options: unknown, decay: AdamDecay): NativeOptimizerConfig {
  const o = knownOptions<AdamOptions>(kind, options, ADAM_KEYS);
  const betas = o.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2)
    throw new TypeError(`${kind}: betas must be an array of two numbers, got ${describe(betas)}`);
  return {
    algorithm: 'adam',
    lr: numberIn(kind, 'lr', o.lr, { min: 0 }),
    beta1: numberIn(kind, 'betas[0]', betas[0], { min: 0, below: 1 }),
    beta2: numberIn(kind, 'betas[1]', betas[1], { min: 0, below: 1 }),
    eps: numberIn(kind, 'eps', o.eps ?? 1e-8, { min: 0 }),
    weightDecay: numberIn(kind, 'weightDecay', o.weightDecay ?? decay.weightDecay, { min: 0 }),
    decoupledDecay: decay.decoupledDecay,
  };
}

function sgdConfig(options: unknown): NativeOptimizerConfig {
  const o = knownOptions<SgdOptions>('sgd', options, ['lr', 'momentum', 'nesterov', 'weightDecay']);
  const momentum = numberIn('sgd', 'momentum', o.momentum ?? 0, { min: 0 });
  const nesterov = o.nesterov ?? false;
  if (typeof nesterov !== 'boolean') throw new TypeError(`sgd: nesterov must be a boolean, got ${describe(nesterov)}`);
  if (nesterov && momentum === 0) throw new RangeError('sgd: nesterov needs a momentum > 0');
  return {
    algorithm: 'sgd',
    lr: numberIn('sgd', 'lr', o.lr, { min: 0 }),
    momentum,
    nesterov,
    weightDecay: numberIn('sgd', 'weightDecay', o.weightDecay ?? 0, { min: 0 }),
  };
}

function lbfgsConfig(options: unknown): NativeOptimizerConfig {
  const o = knownOptions<LbfgsOptions>('lbfgs', options, [
    'lr',
    'maxIter',
    'historySize',
    'lineSearch',
    'gradientTolerance',
    'lossTolerance',
  ]);
  const lineSearch = o.lineSearch === undefined ? null : o.lineSearch;
  if (lineSearch !== null && !LINE_SEARCHES.includes(lineSearch))
    throw new TypeError(
      `lbfgs: lineSearch must be 'strong_wolfe', 'backtracking' or null, got ${describe(lineSearch)}`,
    );
  return {
    algorithm: 'lbfgs',
    lr: numberIn('lbfgs', 'lr', o.lr ?? 1, { min: 0, above: true }),
    maxIter: numberIn('lbfgs', 'maxIter', o.maxIter ?? 20, { min: 1, integer: true, below: 1e9 }),
    historySize: numberIn('lbfgs', 'historySize', o.historySize ?? 100, { min: 1, integer: true, below: 1e9 }),
    lineSearch,
    gradientTolerance: numberIn('lbfgs', 'gradientTolerance', o.gradientTolerance ?? 1e-7, { min: 0 }),
    lossTolerance: numberIn('lbfgs', 'lossTolerance', o.lossTolerance ?? 1e-9, { min: 0 }),
  };
}

/** Adam (Kingma and Ba), with weight decay as an L2 term added to the gradient. */
export const adam = (params: Tensor[], options: AdamOptions): Optimizer => create('adam', params, options);

/** AdamW (Loshchilov and Hutter): Adam with weight decay applied to the parameters directly. */
export const adamw = (params: Tensor[], options: AdamOptions): Optimizer => create('adamw', params, options);

/** Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay. */
export const sgd = (params: Tensor[], options: SgdOptions): Optimizer => create('sgd', params, options);

/** L-BFGS; step() takes a closure that re-evaluates the loss. Works on one flat parameter vector. */
export const lbfgs = (params: Tensor[], options: LbfgsOptions = {}): Optimizer => create('lbfgs', params, options);

function create(kind: OptimizerKind, params: Tensor[], options: unknown): Optimizer {
  const config = optimizerConfig(kind, options);
  const handles = liveTensors(kind, params).map((t) => t.handle);
  return new Optimizer(kind, new (optimAddon().NativeOptimizer)(handles, config));
}
