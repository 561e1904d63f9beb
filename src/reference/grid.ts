// The grid primitives in the reference: plain index loops over nested arrays of Values, in float64,
// written without the compiler's shape rules or attributes, so the tests can hold the kernels to them.
import { Value, add, constant, div, extremum, mean, mul, sub, sum } from './value';
import { Tensor, build, elementAt, elements, scalar, shapeOf } from './tensor';

type Impl = (args: Tensor[]) => Tensor;

const mod = (i: number, n: number) => ((i % n) + n) % n;

function whole(t: Tensor, what: string): number {
  const v = scalar(t, what).data;
  if (!Number.isInteger(v)) throw new Error(`${what} must be a whole number, got ${v}`);
  return v;
}

function arrayShape(t: Tensor): number[] {
  const shape = shapeOf(t);
  if (shape.length === 0) throw new Error('argument 1 must be an array, got scalar');
  return shape;
}

function axisOf(t: Tensor, rank: number): number {
  const a = whole(t, 'the axis');
  if (a < 0 || a >= rank) throw new Error(`axis ${a} is out of range for rank ${rank}`);
  return a;
}

/** The index moved by `delta` along `axis`. */
const moved = (index: number[], axis: number, delta: number) => index.map((i, d) => (d === axis ? i + delta : i));

/** Every axis padded by n cells, each padding cell read through `source` (an index into u, or undefined: c). */
function padded(u: Tensor, n: number, source: (i: number, size: number) => number | undefined, c?: Value): Tensor {
  const shape = arrayShape(u);
  return build(
    shape.map((d) => d + 2 * n),
    (index) => {
      const from = index.map((i, d) => source(i - n, shape[d]));
      return from.some((i) => i === undefined) ? c! : elementAt(u, from as number[]);
    },
  );
}

/** (u[i + span] - u[i]) / (span h) along an axis: forward (span 1) and central (span 2) differences. */
const difference =
  (span: number): Impl =>
  ([u, axisArg, h]) => {
    const shape = arrayShape(u);
    const axis = axisOf(axisArg, shape.length);
    if (shape[axis] <= span) throw new Error(`axis ${axis} is too short`);
    const step = h === undefined ? constant(span) : mul(constant(span), scalar(h, 'the spacing'));
    return build(
      shape.map((d, k) => (k === axis ? d - span : d)),
      (index) => div(sub(elementAt(u, moved(index, axis, span)), elementAt(u, index)), step),
    );
  };

export const GRID_PRIMITIVES: Record<string, Impl> = {
  roll: ([u, k, axisArg]) => {
    const shape = arrayShape(u);
    const axis = axisOf(axisArg, shape.length);
    const shift = whole(k, 'the shift');
    return build(shape, (index) =>
      elementAt(
        u,
        index.map((i, d) => (d === axis ? mod(i - shift, shape[d]) : i)),
      ),
    );
  },
  'pad-edge': ([u, n]) => padded(u, whole(n, 'the width'), (i, size) => Math.min(size - 1, Math.max(0, i))),
  'pad-wrap': ([u, n]) => padded(u, whole(n, 'the width'), mod),
  'pad-const': ([u, n, c]) =>
    padded(u, whole(n, 'the width'), (i, size) => (i >= 0 && i < size ? i : undefined), scalar(c, 'the value')),
  laplacian: ([u, hArg]) => {
    const shape = arrayShape(u);
    const h = scalar(hArg, 'the spacing');
    const h2 = mul(h, h);
    return build(
      shape.map((d) => d - 2),
      (index) => {
        const centre = index.map((i) => i + 1);
        const terms = shape.map((_, axis) =>
          add(
            sub(elementAt(u, moved(centre, axis, -1)), mul(constant(2), elementAt(u, centre))),
            elementAt(u, moved(centre, axis, 1)),
          ),
        );
        return div(sum(terms), h2);
      },
    );
  },
  diff: difference(1),
  'central-diff': difference(2),
  slice: ([u, axisArg, startArg, endArg]) => {
    const shape = arrayShape(u);
    const axis = axisOf(axisArg, shape.length);
    const n = shape[axis];
    const bound = (t: Tensor, what: string) => {
      const v = whole(t, what);
      return v < 0 ? Math.max(0, v + n) : Math.min(n, v);
    };
    const start = bound(startArg, 'the start');
    const end = bound(endArg, 'the end');
    if (end <= start) throw new Error('the slice is empty');
    return build(
      shape.map((d, k) => (k === axis ? end - start : d)),
      (index) => elementAt(u, moved(index, axis, start)),
    );
  },
  concat: ([axisArg, ...parts]) => {
    const shapes = parts.map(arrayShape);
    const axis = axisOf(axisArg, shapes[0].length);
    const starts = shapes.map((_, k) => shapes.slice(0, k).reduce((s, sh) => s + sh[axis], 0));
    const total = starts[starts.length - 1] + shapes[shapes.length - 1][axis];
    return build(
      shapes[0].map((d, k) => (k === axis ? total : d)),
      (index) => {
        const part = starts.filter((s) => s <= index[axis]).length - 1;
        return elementAt(parts[part], moved(index, axis, -starts[part]));
      },
    );
  },
  'sum-all': ([u]) => (arrayShape(u), sum(elements(u))),
  'mean-all': ([u]) => (arrayShape(u), mean(elements(u))),
  'max-all': ([u]) => (arrayShape(u), extremum(elements(u), 'max')),
  'min-all': ([u]) => (arrayShape(u), extremum(elements(u), 'min')),
};
