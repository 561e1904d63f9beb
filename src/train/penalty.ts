// The remedy for hybrid models whose learned components absorb the known physics: an L2 penalty on
// the learned components' hidden layers (the MLPs a model calls; their output layers only scale
// what the hidden ones can represent, and penalising them would shrink the learned term itself),
// never on its named constants. A learned
// term that can stand in for part of the physics (a forcing of t for the damping along one
// trajectory, a drag of v for gravity on 100 samples) then does so only where the data need it, and
// the constants stay identified. The strength is relative to the data's variance, so one value
// serves data of any scale: the penalty grows with the loss it is added to.
import type { Module } from '../api';
import { Tensor } from '../runtime/tensor';

/** The mean square deviation of the values from their mean (0 for fewer than two). */
export function variance(values: ArrayLike<number>): number {
  if (values.length < 2) return 0;
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i];
  mean /= values.length;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] - mean) ** 2;
  return sum / values.length;
}

/** The absolute strength of a relative weight penalty on data of these values. */
export const penaltyStrength = (weightPenalty: number, data: ArrayLike<number>): number =>
  weightPenalty * variance(data);

/**
 * strength * sum(w^2) over the weights and biases of the hidden layers of the MLPs the model calls
 * (model.penalisedParameters()), as a Tensor to add to a loss written by hand (fit() adds the same
 * penalty itself when given `weightPenalty`).
 */
export function weightPenalty(model: Module, strength: number): Tensor {
  const covered = model.penalisedParameters();
  if (covered.length === 0) throw new Error('weightPenalty: the model calls no learned component (MLP)');
  return covered
    .map((p) => p.mul(p).sum())
    .reduce((a, b) => a.add(b))
    .mul(strength);
}
