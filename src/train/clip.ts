// Gradient-norm clipping, as torch.nn.utils.clip_grad_norm_.
import { Tensor } from '../runtime/tensor';
import { optimAddon } from './native-optim';
import { liveTensors, numberIn } from '../runtime/validate';

/**
 * Scales the gradients of `params` in place so that their joint norm of order `normType` (Infinity
 * for the largest absolute entry) is at most `maxNorm`: when the norm exceeds it, every gradient is
 * multiplied by maxNorm / (norm + 1e-6). Parameters without a gradient are skipped. Returns the norm
 * before clipping.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number, normType = 2): number {
  const handles = liveTensors('clipGradNorm', params).map((t) => t.handle);
  return optimAddon().clipGradNorm(
    handles,
    numberIn('clipGradNorm', 'maxNorm', maxNorm, { min: 0 }),
    numberIn('clipGradNorm', 'normType', normType, { min: 0, above: true, infinite: true }),
  );
}
