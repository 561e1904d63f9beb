// The addon's training exports, typed here rather than in the shared runtime interface.
import { native, NativeTensor } from '../runtime/native';

export interface NativeOptimizer {
  /** Runs one update; with a closure, returns the loss of its first evaluation. */
  step(closure?: () => NativeTensor): NativeTensor | undefined;
  zeroGrad(): void;
  getLr(): number;
  setLr(lr: number): void;
  dispose(): void;
  isDisposed(): boolean;
}

/**
 * Everything the native optimizer is told, each field explicit (binding/optim_wrap.cpp reads them
 * strictly): src/train/optim.ts decides the defaults and the policy (AdamW's decoupled decay, the
 * L-BFGS line search).
 */
export type NativeOptimizerConfig =
  | {
      algorithm: 'adam';
      lr: number;
      beta1: number;
      beta2: number;
      eps: number;
      weightDecay: number;
      /** AdamW: the decay shrinks the parameters directly instead of adding an L2 term to the gradient. */
      decoupledDecay: boolean;
    }
  | { algorithm: 'sgd'; lr: number; momentum: number; weightDecay: number; nesterov: boolean }
  | {
      algorithm: 'lbfgs';
      lr: number;
      maxIter: number;
      historySize: number;
      lineSearch: LineSearch | null;
      gradientTolerance: number;
      lossTolerance: number;
    };

/** libtorch's strong Wolfe search, or nc's backtracking one (native/lbfgs.h). */
export type LineSearch = 'strong_wolfe' | 'backtracking';

interface OptimAddon {
  NativeOptimizer: new (params: NativeTensor[], config: NativeOptimizerConfig) => NativeOptimizer;
  clipGradNorm(params: NativeTensor[], maxNorm: number, normType: number): number;
}

export const optimAddon = (): OptimAddon => native() as unknown as OptimAddon;
