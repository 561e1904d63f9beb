// The addon's learned-component exports, typed here rather than in the shared runtime interface.
import { native, NativeTensor } from '../runtime/native';

export interface NativeMlp {
  /** x: [in] or [B, in] -> [out] or [B, out]. */
  forward(x: NativeTensor): NativeTensor;
  /** The nc::Callable entry a compiled program uses: per-sample scalars/vectors, with batching flags. */
  call(args: NativeTensor[], batched: boolean[]): NativeTensor;
  /** Handles onto the MLP's own parameter tensors (same storage and autograd state). */
  parameters(): { name: string; tensor: NativeTensor }[];
  dispose(): void;
  isDisposed(): boolean;
}

interface MlpAddon {
  NativeMlp: new (
    sizes: number[],
    activation: string,
    seed: number | undefined,
    dtype: string,
    device: string,
  ) => NativeMlp;
  /** dst's values become src's (same shape and dtype), in place and without autograd history. */
  assignValues(dst: NativeTensor, src: NativeTensor): void;
}

export const mlpAddon = (): MlpAddon => native() as unknown as MlpAddon;
