// The scalar reverse-mode autodiff node (in the spirit of micrograd). Every element of every
// vector and matrix in the reference interpreter is one of these, so the gradients of vector and
// matrix operations fall out of the scalar chain rule.
//
// A node records its parents and, for each parent, the local derivative d(this)/d(parent): that
// list is the node's whole "backward closure" (backward does parent.grad += local * this.grad).
// A node without parents is a leaf or a constant. As in libtorch, backward multiplies: a local
// derivative of 0 against a non-finite upstream gradient gives NaN. Selections (if, relu, min, max,
// clamp, the clamps of safe-sqrt and safe-log) are the exception: their nodes `mask`, and a local
// derivative of exactly 0 there contributes nothing, as libtorch's where and masked_fill do.

export class Value {
  grad = 0;
  readonly data: number;
  readonly locals: readonly number[];
  constructor(
    data: number,
    readonly parents: readonly Value[] = [],
    locals: readonly number[] = [],
    /** A selection: a local derivative of exactly 0 masks the upstream gradient instead of multiplying it. */
    readonly masks = false,
  ) {
    this.data = rounded(data);
    this.locals = mode.float32Rounding ? locals.map(rounded) : locals;
  }
}

/** How an evaluation runs where the reference has a choice; set only for the span of one evaluation. */
export interface Mode {
  /**
   * Round every value, local derivative and gradient sum to float32 as it is made, so a run imitates
   * float32 execution step by step: to nearest, or up or down (directed rounding brackets what a
   * float32 kernel computing in its own order may give). Not for results: it tells which results
   * float32 cannot compute stably (a floor that tips over, 1 - tanh^2 cancelling), where comparing
   * float32 with float64 says nothing.
   */
  float32Rounding: false | 'nearest' | 'up' | 'down';
  /**
   * The zero that min and max give for tied +0 and -0: `ordered` takes -0 as the smaller (IEEE
   * 754-2019, Math.min); `first` keeps the earlier argument. libtorch does either, depending on
   * whether the element went through its vectorised loop, so the sign there is unspecified.
   */
  zeroTies: 'ordered' | 'first';
  /**
   * Move the result of every library function (exp, sin, sigmoid, pow, ...; not the correctly rounded
   * + - * /) one float64 step up or down, as another libm may round it. Also for judging
   * conditioning: a floor of a sigmoid that lands on a whole number tips over under it.
   */
  float64Nudge: false | 'up' | 'down';
}

const DEFAULT_MODE: Mode = { float32Rounding: false, zeroTies: 'ordered', float64Nudge: false };
let mode: Mode = DEFAULT_MODE;

const single = new Float32Array(1);
const int = new Int32Array(single.buffer);
const double = new Float64Array(1);
const long = new BigInt64Array(double.buffer);

/** The number next to x (one of that precision, finite) towards +inf (`up`) or -inf. */
function nextAfter(x: number, up: boolean, precision: 'float32' | 'float64'): number {
  if (x === 0) return (up ? 1 : -1) * (precision === 'float32' ? 2 ** -149 : Number.MIN_VALUE);
  const away = x > 0 === up; // one step larger in magnitude, or smaller
  if (precision === 'float32') {
    single[0] = x;
    int[0] += away ? 1 : -1;
    return single[0];
  }
  double[0] = x;
  long[0] += away ? 1n : -1n;
  return double[0];
}

/** A library function's result as the current mode has it: itself, or one float64 step off. */
export function libm(y: number): number {
  return mode.float64Nudge && Number.isFinite(y) ? nextAfter(y, mode.float64Nudge === 'up', 'float64') : y;
}

/** x rounded to float32 in the direction asked. */
function toFloat32(x: number, direction: 'nearest' | 'up' | 'down'): number {
  const f = Math.fround(x);
  if (direction === 'nearest' || f === x || !Number.isFinite(f)) return f;
  return direction === 'up' ? (f < x ? nextAfter(f, true, 'float32') : f) : f > x ? nextAfter(f, false, 'float32') : f;
}

/** x as the current mode stores it: itself, or rounded to float32. */
export const rounded = (x: number): number => (mode.float32Rounding ? toFloat32(x, mode.float32Rounding) : x);

export function withMode<T>(changes: Partial<Mode>, run: () => T): T {
  const before = mode;
  mode = { ...DEFAULT_MODE, ...changes };
  try {
    return run();
  } finally {
    mode = before;
  }
}

/** A constant: no parents, so no gradient flows through it. */
export const constant = (x: number): Value => new Value(x);

/** Fills `grad` of every node the root depends on with d(root)/d(node). Iterative: no JS recursion. */
export function backward(root: Value): void {
  const order: Value[] = []; // post-order: parents before children
  const seen = new Set<Value>([root]);
  const stack: { node: Value; next: number }[] = [{ node: root, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.node.parents.length) {
      const p = top.node.parents[top.next++];
      if (!seen.has(p)) {
        seen.add(p);
        stack.push({ node: p, next: 0 });
      }
    } else {
      order.push(top.node);
      stack.pop();
    }
  }
  for (const v of order) v.grad = 0;
  root.grad = 1;
  for (let i = order.length - 1; i >= 0; i--) {
    const v = order[i];
    v.parents.forEach((p, j) => {
      if (v.locals[j] !== 0 || !v.masks) p.grad = rounded(p.grad + rounded(v.locals[j] * v.grad));
    });
  }
}

// Scalar operations used by the primitives and the linear algebra.

export const add = (a: Value, b: Value) => new Value(a.data + b.data, [a, b], [1, 1]);
export const sub = (a: Value, b: Value) => new Value(a.data - b.data, [a, b], [1, -1]);
export const mul = (a: Value, b: Value) => new Value(a.data * b.data, [a, b], [b.data, a.data]);
export const div = (a: Value, b: Value) =>
  new Value(a.data / b.data, [a, b], [1 / b.data, -a.data / (b.data * b.data)]);
/** x where the condition holds, else y; the gradient flows to the chosen one only. */
export const select = (condition: boolean, x: Value, y: Value) =>
  new Value(condition ? x.data : y.data, [x, y], condition ? [1, 0] : [0, 1], true);
export const neg = (a: Value) => new Value(-a.data, [a], [-1]);

/** Sum of many values in one node (keeps graphs of dot products and matmuls shallow). */
export const sum = (xs: readonly Value[]): Value =>
  new Value(
    xs.reduce((s, x) => s + x.data, 0),
    xs,
    xs.map(() => 1),
  );

/** The mean of several values in one node. */
export const mean = (xs: readonly Value[]): Value =>
  new Value(
    xs.reduce((s, x) => s + x.data, 0) / xs.length,
    xs,
    xs.map(() => 1 / xs.length),
  );

/**
 * The maximum (or minimum) of several values. At a tie the gradient is shared evenly among the
 * arguments that attain it (libtorch's convention for `amax` and `maximum`); NaN propagates.
 */
export function extremum(xs: readonly Value[], which: 'max' | 'min'): Value {
  const pick = which === 'max' ? Math.max : Math.min;
  const beats = which === 'max' ? (x: number, acc: number) => x > acc : (x: number, acc: number) => x < acc;
  const m =
    mode.zeroTies === 'ordered'
      ? xs.reduce((acc, x) => pick(acc, x.data), which === 'max' ? -Infinity : Infinity)
      : xs.reduce(
          (acc, x) => (Number.isNaN(acc) || Number.isNaN(x.data) ? NaN : beats(x.data, acc) ? x.data : acc),
          xs[0].data,
        );
  const hit = xs.map((x) => x.data === m || (Number.isNaN(m) && Number.isNaN(x.data)));
  const k = hit.filter(Boolean).length;
  return new Value(
    m,
    xs,
    hit.map((h) => (h ? 1 / k : 0)),
    true,
  );
}
