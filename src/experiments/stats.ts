// Small statistics for judging a trend in noisy experiment results: medians, rank correlation, a line fit.

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Ranks 1..n, tied values sharing the mean of their ranks. */
export function ranks(v: number[]): number[] {
  const order = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
  const out = new Array<number>(v.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && v[order[end + 1]] === v[order[start]]) end++;
    for (let k = start; k <= end; k++) out[order[k]] = (start + end) / 2 + 1;
    start = end + 1;
  }
  return out;
}

const centred = (v: number[]): number[] => {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return v.map((x) => x - mean);
};
const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);

function pearson(x: number[], y: number[]): number {
  const [cx, cy] = [centred(x), centred(y)];
  const norms = Math.sqrt(dot(cx, cx) * dot(cy, cy));
  return norms === 0 ? 0 : dot(cx, cy) / norms;
}

/**
 * Spearman's rank correlation, with how many standard errors it lies from 0 if x and y were
 * independent (rho sqrt(n - 1), close to a standard normal for n above about 10): robust to
 * outliers and to any monotone transform, such as a logarithm.
 */
export function spearman(x: number[], y: number[]): { rho: number; z: number } {
  const rho = pearson(ranks(x), ranks(y));
  return { rho, z: rho * Math.sqrt(x.length - 1) };
}

/** The least-squares slope of y against x (0 when x does not vary). */
export function slope(x: number[], y: number[]): number {
  const cx = centred(x);
  const sxx = dot(cx, cx);
  return sxx === 0 ? 0 : dot(cx, centred(y)) / sxx;
}
