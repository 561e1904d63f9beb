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

export type OptimizerKind = 'adam' | 'adamw' | 'sgd' | 'lbfgs';

interface OptimAddon {
  NativeOptimizer: new (kind: OptimizerKind, params: NativeTensor[], options: object) => NativeOptimizer;
  clipGradNorm(params: NativeTensor[], maxNorm: number, normType: number): number;
}

export const optimAddon = (): OptimAddon => native() as unknown as OptimAddon;
