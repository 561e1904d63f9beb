// Models as JSON records plus a table of tensors: what `save` writes and `load` rebuilds. A program is
// rebuilt by compiling its source again with the options that shape it, then copying the saved values
// into the new parameters in place, so every value comes back bit for bit.
import { compile, Module, type CompileOptions } from '../api';
import { Mlp, mlp, type Activation } from '../nn/mlp';
import { mlpAddon } from '../nn/native-mlp';
import { describe, unflatten } from '../runtime/host-data';
import { tensor, type Device, type DType, type Tensor } from '../runtime/tensor';
import { ModelFileError, type StoredTensor } from './container';
import type { CheckpointOption } from '../compiler/lower';

export type Component = Module | Mlp;
/** A hybrid model: a program and the learned components that go with it. */
export interface Bundle {
  program: Module;
  functions: Record<string, Component>;
}
export type Model = Component | Bundle;

interface ParamRef {
  name: string;
  /** Index into the file's tensor table. */
  tensor: number;
}
interface ProgramRecord {
  kind: 'program';
  source: string;
  file: string;
  dtype: DType;
  inputs: Record<string, number[] | null>;
  limit: number;
  /** Absent in files written before it existed: the default then. */
  maxSteps?: number;
  /** Absent in files written before it existed: the default then. */
  checkpoint?: CheckpointOption;
  optimize: boolean;
  params: ParamRef[];
  /** null: the enclosing bundle's function of the same name (shared, not stored twice). */
  functions: Record<string, ComponentRecord | null>;
}
interface MlpRecord {
  kind: 'mlp';
  sizes: number[];
  activation: Activation;
  dtype: DType;
  params: ParamRef[];
}
interface BundleRecord {
  kind: 'bundle';
  program: ProgramRecord;
  functions: Record<string, ComponentRecord>;
}
type ComponentRecord = ProgramRecord | MlpRecord;
export type ModelRecord = ComponentRecord | BundleRecord;

// ---- saving ----

export function toRecord(model: Model): { record: ModelRecord; tensors: StoredTensor[] } {
  const tensors: StoredTensor[] = [];
  const params = (list: readonly { name: string; tensor: Tensor }[]): ParamRef[] =>
    list.map((p) => {
      tensors.push({ dtype: p.tensor.dtype, shape: p.tensor.shape, data: p.tensor.toTypedArray() });
      return { name: p.name, tensor: tensors.length - 1 };
    });
  const component = (c: Component, shared: Record<string, Component>): ComponentRecord => {
    if (c instanceof Mlp)
      return {
        kind: 'mlp',
        sizes: [...c.sizes],
        activation: c.activation,
        dtype: c.dtype,
        params: params(Object.entries(c.namedParameters()).map(([name, tensor]) => ({ name, tensor }))),
      };
    const state = c.state();
    const functions: Record<string, ComponentRecord | null> = {};
    for (const [name, f] of state.functions)
      functions[name] = shared[name] === f ? null : component(asComponent(f, `function '${name}'`), {});
    return {
      kind: 'program',
      source: c.source.text,
      file: c.source.file,
      dtype: c.dtype,
      inputs: Object.fromEntries(c.inputs.map((name) => [name, state.declared.get(name)?.slice() ?? null])),
      limit: state.limit,
      maxSteps: state.maxSteps,
      checkpoint: state.checkpoint,
      optimize: state.optimize,
      params: params(state.params),
      functions,
    };
  };
  if (model instanceof Module || model instanceof Mlp) return { record: component(model, {}), tensors };
  const functions = Object.fromEntries(Object.entries(model.functions).map(([name, f]) => [name, component(f, {})]));
  return {
    record: { kind: 'bundle', program: component(model.program, model.functions) as ProgramRecord, functions },
    tensors,
  };
}

/** A live Module or Mlp, or a clear error naming `what`. */
export function asComponent(value: unknown, what: string): Component {
  if (!(value instanceof Module || value instanceof Mlp))
    throw new TypeError(`${what} must be a compiled Module or an Mlp, got ${describe(value)}`);
  if (value instanceof Mlp ? value.disposed : value.parameters().some((t) => t.disposed))
    throw new Error(`${what} has been disposed`);
  return value;
}

// ---- loading ----

const corrupt = (what: string): never => {
  throw new ModelFileError(`corrupt model record: ${what}`);
};
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function fromRecord(record: unknown, tensors: StoredTensor[], device: Device): Model {
  if (isObject(record) && record.kind === 'bundle') {
    if (!isObject(record.functions)) corrupt('a bundle needs a functions object');
    const functions: Record<string, Component> = {};
    for (const [name, f] of Object.entries(record.functions as object))
      functions[name] = component(f, `function '${name}'`);
    if (!isObject(record.program) || record.program.kind !== 'program')
      corrupt("a bundle's program must be a program record");
    return { program: component(record.program, 'the program', functions) as Module, functions };
  }
  return component(record, 'the model');

  function component(r: unknown, what: string, shared: Record<string, Component> = {}): Component {
    if (!isObject(r)) return corrupt(`${what} is not an object`);
    if (r.kind === 'mlp')
      return restore(
        r,
        what,
        rebuild(what, () =>
          mlp(r.sizes as number[], { activation: r.activation as Activation, dtype: r.dtype as DType, device }),
        ),
      );
    if (r.kind !== 'program')
      return corrupt(`${what} has kind ${JSON.stringify(r.kind)} (expected program, mlp or bundle)`);
    if (typeof r.source !== 'string' || typeof r.file !== 'string')
      corrupt(`${what} needs its source text and file name`);
    if (!isObject(r.inputs) || !isObject(r.functions) || !Array.isArray(r.params))
      corrupt(`${what} needs inputs, params and functions`);
    const functions: Record<string, Component> = {};
    for (const [name, f] of Object.entries(r.functions as object)) {
      if (f === null && !shared[name])
        corrupt(`${what} uses the bundle's function '${name}', which is not in the file`);
      functions[name] = f === null ? shared[name] : component(f, `function '${name}' of ${what}`);
    }
    const options: CompileOptions = {
      file: r.file as string,
      inputs: r.inputs as Record<string, number[] | null>,
      // Zeros of the saved shapes; restore() then copies the exact values in.
      params: Object.fromEntries(
        paramRefs(r.params, what).map((p) => {
          const s = stored(p, what);
          return [p.name, unflatten(new Float64Array(s.data.length), s.shape)];
        }),
      ),
      dtype: r.dtype as DType,
      device,
      limit: r.limit as number,
      maxSteps: r.maxSteps as number | undefined,
      checkpoint: r.checkpoint as CheckpointOption | undefined,
      optimize: r.optimize as boolean,
      functions,
    };
    return restore(
      r,
      what,
      rebuild(what, () => compile(r.source as string, options)),
    );
  }

  function stored(p: ParamRef, what: string): StoredTensor {
    return (
      tensors[p.tensor] ??
      corrupt(`${what}: parameter '${p.name}' refers to tensor ${p.tensor}, which is not in the file`)
    );
  }

  /** Copies the saved parameter values into the rebuilt component's, which must have exactly those names and shapes. */
  function restore(r: Record<string, unknown>, what: string, c: Component): Component {
    const own =
      c instanceof Mlp
        ? Object.entries(c.namedParameters()).map(([name, tensor]) => ({ name, tensor }))
        : c.state().params;
    const refs = paramRefs(r.params, what);
    const names = (list: readonly { name: string }[]) => list.map((p) => p.name).join(', ') || 'none';
    if (names(own) !== names(refs))
      corrupt(`${what} stores parameters [${names(refs)}] but rebuilds with [${names(own)}]`);
    own.forEach((p, i) => {
      const s = stored(refs[i], what);
      if (s.dtype !== p.tensor.dtype || s.shape.join() !== p.tensor.shape.join())
        corrupt(
          `${what}: parameter '${p.name}' is stored as ${s.dtype} [${s.shape}] but is ${p.tensor.dtype} [${p.tensor.shape}]`,
        );
      const value = tensor(s.data, { shape: s.shape, device });
      try {
        mlpAddon().assignValues(p.tensor.handle, value.handle);
      } finally {
        value.dispose();
      }
    });
    return c;
  }
}

function paramRefs(params: unknown, what: string): ParamRef[] {
  if (
    !Array.isArray(params) ||
    !params.every((p) => isObject(p) && typeof p.name === 'string' && Number.isSafeInteger(p.tensor))
  )
    return corrupt(`${what} has a malformed parameter list`);
  return params as ParamRef[];
}

/** Runs a rebuild step, turning its errors (a source that no longer compiles, bad sizes) into load errors. */
function rebuild<T>(what: string, make: () => T): T {
  try {
    return make();
  } catch (e) {
    throw new ModelFileError(`${what} could not be rebuilt: ${(e as Error).message}`);
  }
}
