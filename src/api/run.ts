// `run`: compile, evaluate once and return plain JS data (with gradients on request).
import type { Nested } from '../runtime/host-data';
import type { Tensor } from '../runtime/tensor';
import { flag, record } from '../runtime/validate';
import { compile, type CompileOptions, type InputValue } from './module';
import { checkCompileArguments } from './options';

export interface RunOptions extends Omit<CompileOptions, 'inputs' | 'params'> {
  inputs?: Record<string, InputValue>;
  params?: Record<string, Nested>;
  batch?: boolean;
  /** Also return d(sum of the output)/d(each input and param). */
  grad?: boolean;
}

export interface RunResult {
  value: Nested;
  shape: number[];
  grad?: Record<string, Nested>;
}

/** Compiles, evaluates once and returns plain data. */
export function run(source: string, options: RunOptions = {}): RunResult {
  checkCompileArguments('run', source, options, ['batch', 'grad']);
  flag('run', 'batch', options.batch);
  flag('run', 'grad', options.grad);
  record('run', 'inputs', options.inputs, 'input values');
  const { inputs = {}, params, batch, grad, ...compileOptions } = options;
  const module = compile(source, { ...compileOptions, params: params ?? [], inputs: Object.keys(inputs) });
  const made: Tensor[] = [];
  try {
    if (!grad) module.freeze();
    // For gradients every input becomes a leaf tensor of our own; the caller's tensors are never modified.
    const leaves = Object.entries(inputs).map(([name, value]): [string, Tensor] => {
      const { tensor: t, owned } = module.inputTensor(name, value);
      const leaf = grad ? (owned ? t : t.detach()) : t;
      if (owned || grad) made.push(leaf);
      if (grad) leaf.requiresGrad = true;
      return [name, leaf];
    });
    const out = module.forward(Object.fromEntries(leaves), { batch });
    made.push(out);
    const result: RunResult = { value: out.toArray(), shape: out.shape };
    if (grad) {
      // An output that depends on nothing differentiable has zero gradients everywhere.
      if (out.requiresGrad) {
        const total = out.sum();
        made.push(total);
        total.backward();
      }
      result.grad = {};
      for (const [name, t] of [...Object.entries(module.namedParameters()), ...leaves]) {
        const g = t.grad;
        result.grad[name] = g ? g.toArray() : zerosLike(t.shape);
        g?.dispose();
      }
    }
    return result;
  } finally {
    for (const t of made) t.dispose();
    module.dispose();
  }
}

const zerosLike = (shape: number[]): Nested =>
  shape.length === 0 ? 0 : Array.from({ length: shape[0] }, () => zerosLike(shape.slice(1)));
