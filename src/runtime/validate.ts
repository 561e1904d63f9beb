// Argument checks shared by the public API, each throwing an Error that names the function and the
// offending argument.
import { describe } from './host-data';
import { Tensor } from './tensor';

/** A list of live tensors; deeper checks (leaf, requiresGrad, duplicates) happen natively. */
export function liveTensors(who: string, value: unknown): Tensor[] {
  if (!Array.isArray(value)) throw new TypeError(`${who}: expected an array of Tensors, got ${describe(value)}`);
  value.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`${who}: parameter ${i} is not a Tensor but ${describe(t)}`);
    if (t.disposed) throw new Error(`${who}: parameter ${i} has been disposed`);
  });
  return value;
}

export function liveTensor(who: string, what: string, value: unknown): Tensor {
  if (!(value instanceof Tensor)) throw new TypeError(`${who}: ${what} must be a Tensor, got ${describe(value)}`);
  if (value.disposed) throw new Error(`${who}: ${what} has been disposed`);
  return value;
}

export interface Range {
  min?: number;
  /** Whether min itself is excluded. */
  above?: boolean;
  /** An exclusive upper bound. */
  below?: number;
  integer?: boolean;
  /** Allows +Infinity. */
  infinite?: boolean;
}

export function numberIn(who: string, name: string, value: unknown, range: Range = {}): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (range.infinite === true && value === Infinity)) &&
    (!range.integer || Number.isInteger(value)) &&
    (range.min === undefined || (range.above ? value > range.min : value >= range.min)) &&
    (range.below === undefined || value < range.below);
  if (value === undefined) throw new TypeError(`${who}: ${name} is required (${rangeText(range)})`);
  if (!ok) throw new RangeError(`${who}: ${name} must be ${rangeText(range)}, got ${describe(value)}`);
  return value as number;
}

function rangeText(r: Range): string {
  const kind = r.integer ? 'a whole number' : r.infinite ? 'a number' : 'a finite number';
  const bounds: string[] = [];
  if (r.min !== undefined) bounds.push(`${r.above ? '>' : '>='} ${r.min}`);
  if (r.below !== undefined) bounds.push(`< ${r.below}`);
  return [kind, bounds.join(' and ')].filter(Boolean).join(' ');
}

/** Rejects option names that are not in `known`, which usually means a typo. */
export function knownOptions<T extends object>(who: string, options: unknown, known: readonly string[]): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(`${who}: options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (!known.includes(key))
      throw new TypeError(`${who}: unknown option '${key}' (expected one of ${known.join(', ')})`);
  return options as Partial<T>;
}

/** An optional option that must be an object of values by name (not null, not an array). */
export function record(who: string, name: string, value: unknown, what: string): void {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value)))
    throw new TypeError(`${who}: ${name} must be an object of ${what} by name, got ${describe(value)}`);
}

/** An optional boolean option. */
export function flag(who: string, name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean')
    throw new TypeError(`${who}: ${name} must be true or false, got ${describe(value)}`);
  return value;
}

/** An optional option that must be one of a few strings. */
export function oneOf<T extends string>(
  who: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
): T | undefined {
  if (value !== undefined && !allowed.includes(value as T))
    throw new TypeError(`${who}: ${name} must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${describe(value)}`);
  return value as T | undefined;
}
