// Central finite differences in float64, for checking gradients against any scalar function.

export type Nested = number | Nested[];

/**
 * The gradient of f at x by central differences: (f(x + h e_i) - f(x - h e_i)) / 2h, with the step
 * h scaled by max(1, |x_i|). Truncation error is O(h^2), rounding error O(eps / h): the default
 * h = 1e-5 gives about 1e-9 relative accuracy for smooth, well-scaled f.
 */
export function centralDifference(f: (x: number[]) => number, x: number[], h = 1e-5): number[] {
  return x.map((xi, i) => {
    const step = h * Math.max(1, Math.abs(xi));
    const plus = x.slice();
    const minus = x.slice();
    plus[i] = xi + step;
    minus[i] = xi - step;
    return (f(plus) - f(minus)) / (plus[i] - minus[i]);
  });
}

/** All numbers of a nested array, in order. */
export const flatten = (x: Nested): number[] => (typeof x === 'number' ? [x] : x.flatMap(flatten));

/** Numbers from `flat` (consumed in order) poured into the shape of `template`. */
export function unflatten(template: Nested, flat: number[]): Nested {
  let k = 0;
  const fill = (t: Nested): Nested => (typeof t === 'number' ? flat[k++] : t.map(fill));
  return fill(template);
}

/** Largest |a_i - b_i| / max(1, |b_i|): a relative error that degrades to absolute near zero. */
export function maxRelativeError(a: number[], b: number[]): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  return a.reduce((m, ai, i) => Math.max(m, Math.abs(ai - b[i]) / Math.max(1, Math.abs(b[i]))), 0);
}

/**
 * Largest |a_i - b_i| / max(|b_i|, floor): relative, with a floor (a number, or one per index) below which
 * it is absolute; equal values count 0 even where both are 0 with no floor.
 */
export function worstRelative(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  floor: number | ((i: number) => number) = 0,
): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    const at = typeof floor === 'number' ? floor : floor(i);
    worst = Math.max(worst, d === 0 ? 0 : d / Math.max(Math.abs(b[i]), at));
  }
  return worst;
}
