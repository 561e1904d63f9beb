// Numbers as text: the shortest decimal that reads back as the same value in a dtype.
import type { DType } from '../runtime/tensor';

/** Shortest decimal that reads back as the same value in the dtype (float32 values print as 0.1, not 0.10000000149). */
export function formatNumber(x: number, dtype: DType): string {
  if (!Number.isFinite(x) || dtype === 'float64') return String(x);
  for (let p = 1; p < 9; p++) {
    const s = Number(x.toPrecision(p));
    if (Math.fround(s) === x) return String(s);
  }
  return String(x);
}
