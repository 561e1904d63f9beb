// save(path, model) and load(path): a compiled Module, an Mlp, or a bundle of a program with its
// learned components, in one versioned file (docs/model-format.md).
import * as fs from 'fs';
import { Module } from '../api';
import { describe } from '../runtime/host-data';
import type { Device } from '../runtime/tensor';
import { decode, encode, ModelFileError } from './container';
import { asComponent, fromRecord, toRecord, type Bundle, type Component, type Model } from './records';

export interface LoadOptions {
  /** Where the loaded parameters live (default 'cpu'); the file itself is device-independent. */
  device?: Device;
}

/** Writes the model to `path`, replacing any file there only once the new one is complete. */
export function save(path: string, model: Model): void {
  checkPath('save', path);
  const { record, tensors } = toRecord(checkModel(model));
  const temporary = `${path}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, encode(record, tensors));
  fs.renameSync(temporary, path);
}

/** Reads a model that `save` wrote: a Module, an Mlp, or a bundle { program, functions }. */
export function load(path: string, options: LoadOptions = {}): Model {
  checkPath('load', path);
  const file = fs.readFileSync(path);
  try {
    const { model, tensors } = decode(file);
    return fromRecord(model, tensors, options.device ?? 'cpu');
  } catch (e) {
    if (e instanceof ModelFileError) throw new ModelFileError(`load(${path}): ${e.message}`);
    throw e;
  }
}

function checkPath(who: string, path: unknown): void {
  if (typeof path !== 'string' || path === '')
    throw new TypeError(`${who}: the path must be a non-empty string, got ${describe(path)}`);
}

function checkModel(model: unknown): Model {
  if (model instanceof Module || !(model && typeof model === 'object' && 'program' in model))
    return asComponent(model, 'save: the model');
  for (const key of Object.keys(model))
    if (key !== 'program' && key !== 'functions')
      throw new TypeError(`save: unknown bundle key '${key}' (a bundle is { program, functions })`);
  const { program, functions = {} } = model as Partial<Bundle>;
  if (!(program instanceof Module))
    throw new TypeError(`save: a bundle's program must be a compiled Module, got ${describe(program)}`);
  if (functions === null || typeof functions !== 'object' || Array.isArray(functions))
    throw new TypeError(`save: a bundle's functions must be an object of Modules and Mlps, got ${describe(functions)}`);
  const checked: Record<string, Component> = {};
  for (const [name, f] of Object.entries(functions)) checked[name] = asComponent(f, `save: function '${name}'`);
  return { program: asComponent(program, "save: the bundle's program") as Module, functions: checked };
}
