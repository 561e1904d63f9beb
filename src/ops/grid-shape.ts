// The shape rules of the grid primitives (registry group 'grid'): arrays of rank 1 to 3 per sample,
// axes numbered from 0 over the per-sample shape, sizes, widths and axes as compile-time constants.
import { arrayArg, showShape, type Shape, type ShapeRule } from './shape';

type Consts = (number | undefined)[];

/** A compile-time whole number argument, or the message saying it is not one. */
function wholeConst(consts: Consts, i: number, what: string): number | string {
  const v = consts[i];
  if (v === undefined) return `argument ${i + 1} (${what}) must be a constant`;
  if (!Number.isInteger(v)) return `argument ${i + 1} (${what}) must be a whole number, got ${v}`;
  return v;
}

const scalarArg = (args: Shape[], i: number, what: string): string | undefined =>
  i >= args.length || args[i].length === 0
    ? undefined
    : `argument ${i + 1} (${what}) must be a scalar, got ${showShape(args[i])}`;

/** Argument `i`, an axis of the array `grid`: a constant whole number in [0, rank). */
function axisConst(args: Shape[], consts: Consts, grid: number, i: number): number | string {
  const a = wholeConst(consts, i, 'the axis');
  if (typeof a === 'string') return a;
  const rank = args[grid].length;
  return a >= 0 && a < rank
    ? a
    : `argument ${i + 1} (the axis) must be a whole number from 0 to ${rank - 1} for ${showShape(args[grid])}, got ${a}`;
}

/** `shape` with `axis` resized by `delta`. */
const resized = (shape: Shape, axis: number, delta: number): Shape => shape.map((d, k) => (k === axis ? d + delta : d));

/** Python's slice bounds on an axis of size n (negatives count from the end, clipped to [0, n]). */
export function sliceBounds(n: number, start: number, end: number): { start: number; length: number } {
  const clip = (v: number) => Math.min(n, Math.max(0, v < 0 ? v + n : v));
  const [s, e] = [clip(start), clip(end)];
  return { start: s, length: Math.max(0, e - s) };
}

export const roll: ShapeRule = (args, consts) => {
  const problem = arrayArg(0, args);
  if (problem) return problem;
  const k = wholeConst(consts, 1, 'the shift');
  if (typeof k === 'string') return k;
  const axis = axisConst(args, consts, 0, 2);
  return typeof axis === 'string' ? axis : args[0];
};

/** Pads of `n` cells on both sides of every axis; `wrap`: n may not exceed any axis (it copies from the far side). */
export const pad =
  (wrap: boolean, valueArg?: number): ShapeRule =>
  (args, consts) => {
    const problem = arrayArg(0, args) ?? (valueArg === undefined ? undefined : scalarArg(args, valueArg, 'the value'));
    if (problem) return problem;
    const n = wholeConst(consts, 1, 'the width');
    if (typeof n === 'string') return n;
    if (n < 1) return `argument 2 (the width) must be at least 1, got ${n}`;
    const smallest = Math.min(...args[0]);
    if (wrap && n > smallest)
      return `argument 2 (the width) must not exceed the smallest axis of ${showShape(args[0])} (${smallest}), got ${n}`;
    return args[0].map((d) => d + 2 * n);
  };

export const laplacian: ShapeRule = (args) => {
  const problem = arrayArg(0, args) ?? scalarArg(args, 1, 'the spacing');
  if (problem) return problem;
  if (args[0].some((d) => d < 3)) return `argument 1 must have every axis of size ≥ 3, got ${showShape(args[0])}`;
  return args[0].map((d) => d - 2);
};

/** A difference along an axis over `span` + 1 cells: the axis shrinks by `span`. */
export const difference =
  (span: number): ShapeRule =>
  (args, consts) => {
    const problem = arrayArg(0, args) ?? scalarArg(args, 2, 'the spacing');
    if (problem) return problem;
    const axis = axisConst(args, consts, 0, 1);
    if (typeof axis === 'string') return axis;
    if (args[0][axis] < span + 1)
      return `argument 1 must have axis ${axis} of size ≥ ${span + 1}, got ${showShape(args[0])}`;
    return resized(args[0], axis, -span);
  };

export const slice: ShapeRule = (args, consts) => {
  const problem = arrayArg(0, args);
  if (problem) return problem;
  const axis = axisConst(args, consts, 0, 1);
  if (typeof axis === 'string') return axis;
  const start = wholeConst(consts, 2, 'the start');
  if (typeof start === 'string') return start;
  const end = wholeConst(consts, 3, 'the end');
  if (typeof end === 'string') return end;
  const n = args[0][axis];
  const { length } = sliceBounds(n, start, end);
  if (length === 0) return `slice ${start} to ${end} of axis ${axis} (size ${n}) is empty`;
  return resized(args[0], axis, length - n);
};

/** (concat axis u v ...): equal ranks, equal sizes but along the axis. */
export const concat: ShapeRule = (args, consts) => {
  const problem = arrayArg(1, args);
  if (problem) return problem;
  const axis = axisConst(args, consts, 1, 0);
  if (typeof axis === 'string') return axis;
  const first = args[1];
  for (let i = 2; i < args.length; i++) {
    const s = args[i];
    if (s.length !== first.length || s.some((d, k) => k !== axis && d !== first[k]))
      return `argument ${i + 1} is ${showShape(s)}, which does not fit ${showShape(first)} along axes other than ${axis}`;
  }
  return resized(
    first,
    axis,
    args.slice(2).reduce((sum, s) => sum + s[axis], 0),
  );
};

/** A reduction over every axis: a scalar per sample. */
export const REDUCTION = { shape: ((args) => arrayArg(0, args) ?? []) as ShapeRule, attrs: ['rank'] };
