// `run`: compile, evaluate once and return plain JS data (with gradients on request).
import { CompileError, diag, type Diagnostic } from '../diagnostics';
import { primitive } from '../ops/registry';
import { describe, type Nested } from '../runtime/host-data';
import { Tensor } from '../runtime/tensor';
import { flag, record } from '../runtime/validate';
import { compile, type CompileOptions, type InputShape, type InputValue, type Module } from './module';
import { checkCompileArguments } from './options';

export interface RunOptions extends Omit<CompileOptions, 'inputs' | 'params'> {
  inputs?: Record<string, InputValue>;
  params?: Record<string, Nested>;
  /**
   * true: every input carries a leading batch dimension. A list of names: only those inputs do; the
   * others (a parameter vector beside a batch of angles) are shared by every sample.
   */
  batch?: boolean | string[];
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
  if (!Array.isArray(options.batch)) flag('run', 'batch', options.batch);
  flag('run', 'grad', options.grad);
  record('run', 'inputs', options.inputs, 'input values');
  const { inputs = {}, params, batch, grad, ...compileOptions } = options;
  const module = compileForRun(source, { ...compileOptions, params: params ?? [], inputs: declared(inputs, batch) });
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
    const out = module.forward(Object.fromEntries(leaves), { batch: batch !== undefined && batch !== false });
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

/**
 * The inputs as compile declares them: names, or with a batch list, the shared inputs with the
 * shapes of their values (so they are not batched) and the batched ones left to the batch flag.
 */
function declared(inputs: Record<string, InputValue>, batch: RunOptions['batch']): CompileOptions['inputs'] {
  if (!Array.isArray(batch)) return Object.keys(inputs);
  for (const name of batch)
    if (typeof name !== 'string' || !(name in inputs))
      throw new TypeError(`run: batch lists ${describe(name)}, which is not one of the given inputs`);
  return Object.fromEntries(
    Object.entries(inputs).map(([name, v]): [string, InputShape | null] =>
      batch.includes(name) ? [name, null] : [name, shapeOf(v)],
    ),
  );
}

const shapeOf = (v: InputValue): number[] => {
  if (v instanceof Tensor) return v.shape;
  if (typeof v === 'number' || !v) return [];
  if (Array.isArray(v)) return v.length === 0 ? [0] : [v.length, ...shapeOf(v[0])];
  return 'shape' in v ? v.shape : [];
};

/**
 * compile(), with a free name that was given no value reported as a missing input (E0200, with how
 * to give one) rather than as an unbound identifier: only a misspelling of a name in scope stays E0030.
 */
function compileForRun(source: string, options: CompileOptions): Module {
  try {
    return compile(source, options);
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    const missing = (d: Diagnostic) =>
      d.code === 'E0030' && d.span !== undefined && (d.fixes ?? []).every((f) => primitive(f.edits[0].text));
    if (!err.diagnostics.some(missing)) throw err;
    const diagnostics = err.diagnostics.map((d) => {
      if (!missing(d)) return d;
      const name = err.source.text.slice(d.span!.start, d.span!.end);
      const hint = `no value was given for it: pass one in inputs (neuralc eval: --inputs '{"${name}": 1}'), or make it a param`;
      return diag('E0200', d.span, { name }, hint);
    });
    throw new CompileError(diagnostics, err.source);
  }
}
