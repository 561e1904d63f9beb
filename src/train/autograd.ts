// Gradients of a tensor with respect to other tensors, as new tensors: derivatives of a network's
// output with respect to its inputs, for losses that contain them (physics-informed residuals).
import { describe } from '../runtime/host-data';
import { native, NativeTensor } from '../runtime/native';
import { Tensor } from '../runtime/tensor';
import { knownOptions, liveTensor, liveTensors } from '../runtime/validate';

export interface GradOptions {
  /** Weights of the outputs (default ones): the result is d(sum(outputs * gradOutputs)) / d(input). */
  gradOutputs?: Tensor;
  /** Record the gradients' own graph, so that a loss built from them can be differentiated (default false). */
  createGraph?: boolean;
}

interface AutogradAddon {
  grad(
    outputs: NativeTensor,
    inputs: NativeTensor[],
    gradOutputs: NativeTensor | undefined,
    createGraph: boolean,
  ): NativeTensor[];
}

/**
 * d(sum(outputs * gradOutputs)) / d(input) for each input, which must require a gradient. For a batch
 * whose samples are independent (outputs[i] depends on inputs[i] only), that is each sample's own
 * derivative. An input the outputs do not depend on gets zeros.
 */
export function grad(outputs: Tensor, inputs: Tensor[], options: GradOptions = {}): Tensor[] {
  const o = knownOptions<GradOptions>('grad', options, ['gradOutputs', 'createGraph']);
  liveTensor('grad', 'outputs', outputs);
  liveTensors('grad', inputs);
  if (o.gradOutputs !== undefined) liveTensor('grad', 'gradOutputs', o.gradOutputs);
  if (o.createGraph !== undefined && typeof o.createGraph !== 'boolean')
    throw new TypeError(`grad: createGraph must be a boolean, got ${describe(o.createGraph)}`);
  const addon = native() as unknown as AutogradAddon;
  const grads = addon.grad(
    outputs.handle,
    inputs.map((t) => t.handle),
    o.gradOutputs?.handle,
    o.createGraph ?? false,
  );
  return grads.map((g) => new Tensor(g));
}
