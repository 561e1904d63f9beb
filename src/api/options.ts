// The compile options, checked before anything is parsed: a misspelt or mistyped option is an
// error naming it, not a setting silently ignored or a failure blamed on an input later.
import { describe } from '../runtime/host-data';
import { native } from '../runtime/native';
import { DTYPES } from '../runtime/tensor';
import { flag, knownOptions, oneOf, record } from '../runtime/validate';
import type { CompileOptions } from './module';

const COMPILE_OPTIONS = [
  'file',
  'inputs',
  'params',
  'dtype',
  'device',
  'limit',
  'maxSteps',
  'optimize',
  'fuse',
  'tier',
  'checkpoint',
  'functions',
] as const;

/** The source and options of `who` (compile, or run with its own `extra` options), checked. */
export function checkCompileArguments(
  who: string,
  source: unknown,
  options: unknown,
  extra: readonly string[] = [],
): void {
  if (typeof source !== 'string') throw new TypeError(`${who}: the source must be a string, got ${describe(source)}`);
  const o = knownOptions<CompileOptions & Record<string, unknown>>(who, options, [...COMPILE_OPTIONS, ...extra]);
  if (o.file !== undefined && typeof o.file !== 'string')
    throw new TypeError(`${who}: file must be a string, got ${describe(o.file)}`);
  oneOf(who, 'dtype', o.dtype, DTYPES);
  for (const name of ['optimize', 'fuse', 'tier'] as const) flag(who, name, o[name]);
  record(who, 'functions', o.functions, 'modules and MLPs');
  const c = o.checkpoint;
  if (c !== undefined && c !== 'auto' && c !== 'off' && !(Number.isInteger(c) && (c as number) >= 1))
    throw new TypeError(
      `${who}: checkpoint must be 'auto', 'off' or a whole number >= 1 (iterations per recomputed segment), got ${describe(c)}`,
    );
  if (o.device !== undefined) {
    if (typeof o.device !== 'string')
      throw new TypeError(`${who}: device must be 'cpu' or 'cuda' (optionally 'cuda:N'), got ${describe(o.device)}`);
    try {
      native().checkDevice(o.device);
    } catch (e) {
      throw new Error(`${who}: ${(e as Error).message}`);
    }
  }
}
