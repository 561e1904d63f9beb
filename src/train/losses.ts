// Regression losses: scalar Tensors (means over all elements) that backpropagate into both inputs.
// Built from the eager kernels, inside tidy() so the intermediates are freed at once.
import { native } from '../runtime/native';
import { Device, full, Tensor, tidy } from '../runtime/tensor';
import { liveTensor, numberIn } from '../runtime/validate';

/** Mean squared error: mean((y - target)^2). */
export function mse(y: Tensor, target: Tensor): Tensor {
  return tidy(() => difference('mse', y, target).square().mean());
}

/** Mean absolute error: mean(|y - target|). */
export function mae(y: Tensor, target: Tensor): Tensor {
  return tidy(() => difference('mae', y, target).abs().mean());
}

/**
 * Huber loss: mean of d^2 / 2 where |d| <= delta and delta * (|d| - delta / 2) beyond, d = y - target
 * (torch.nn.functional.huber_loss). Written as q^2 / 2 + delta * (|d| - q) with q = min(|d|, delta),
 * which is the same function with the same gradient and needs no branch.
 */
export function huber(y: Tensor, target: Tensor, delta = 1): Tensor {
  numberIn('huber', 'delta', delta, { min: 0, above: true });
  return tidy(() => {
    const a = difference('huber', y, target).abs();
    const cap = full([], delta, { dtype: a.dtype, device: a.device as Device });
    const q = new Tensor(native().apply('min', [a.handle, cap.handle]));
    return q.square().mul(0.5).add(a.sub(q).mul(delta)).mean();
  });
}

/** y - target, after checking that both are live, non-empty and broadcastable. */
function difference(who: string, y: Tensor, target: Tensor): Tensor {
  liveTensor(who, 'the prediction', y);
  liveTensor(who, 'the target', target);
  const shape = broadcastShape(y.shape, target.shape);
  if (!shape)
    throw new RangeError(
      `${who}: the prediction's shape [${y.shape}] and the target's shape [${target.shape}] do not broadcast`,
    );
  if (shape.includes(0))
    throw new RangeError(`${who}: the inputs are empty (shape [${shape}]); a mean over nothing is undefined`);
  return y.sub(target);
}

/** NumPy broadcasting: trailing dimensions must agree or be 1. Undefined when they do not. */
function broadcastShape(a: number[], b: number[]): number[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}
