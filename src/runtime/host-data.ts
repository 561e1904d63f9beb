// Plain JS data <-> flat typed arrays with shapes, validated before anything reaches native code.

export type Nested = number | Nested[];

export interface Flat {
  data: Float64Array;
  shape: number[];
}

/** Flattens a number or a rectangular nested array; `what` names the value in error messages. */
export function flatten(value: unknown, what: string): Flat {
  if (typeof value === 'number') return { data: Float64Array.of(value), shape: [] };
  if (!Array.isArray(value))
    throw new TypeError(`${what} must be a number or a nested array of numbers, got ${describe(value)}`);
  const shape: number[] = [];
  for (let level: unknown = value; Array.isArray(level); level = level[0]) {
    shape.push(level.length);
    if (level.length === 0) break;
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(size);
  let k = 0;
  const walk = (v: unknown, depth: number, where: string): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw new TypeError(`${what}${where} must be a number, got ${describe(v)}`);
      data[k++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      const got = Array.isArray(v) ? `an array of length ${v.length}` : describe(v);
      throw new RangeError(
        `${what} is a ragged array: ${what}${where} should be an array of length ${shape[depth]}, got ${got}`,
      );
    }
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${where}[${i}]`);
  };
  walk(value, 0, '');
  return { data, shape };
}

/** Rebuilds nested arrays of the given shape from flat data. */
export function unflatten(data: ArrayLike<number>, shape: readonly number[]): Nested {
  if (shape.length === 0) return data[0];
  let k = 0;
  const build = (depth: number): Nested[] => {
    const out: Nested[] = [];
    for (let i = 0; i < shape[depth]; i++) out.push(depth + 1 === shape.length ? data[k++] : build(depth + 1));
    return out;
  };
  return build(0);
}

export function checkShape(shape: unknown, what = 'shape'): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new TypeError(`${what} must be an array of whole numbers >= 0, got ${describe(shape)}`);
  return shape as number[];
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '...' : v)}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'object'
    ? `an object (${(v as object).constructor?.name ?? 'Object'})`
    : `${typeof v} ${String(v)}`;
}
