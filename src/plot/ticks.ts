// Axis ticks every plot shares: round numbers on a linear axis, decades (or 1-2-5 steps) on a log axis,
// and labels that print each tick exactly.

/** The fewest and most ticks a linear axis gets. */
const MIN_TICKS = 4;
const MAX_TICKS = 8;
/** Beyond this many decades a log axis labels every 2nd, 5th, 10th... decade, so labels never overlap. */
const MAX_DECADES = 20;

const round = (v: number): number => Number(v.toPrecision(12));

/** The multiples of mantissa x 10^exponent in [lo, hi], each parsed from its decimal form so it is exact. */
function multiples(lo: number, hi: number, mantissa: number, exponent = 0): number[] {
  const step = mantissa * 10 ** exponent;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k <= Math.floor(hi / step + 1e-9); k++)
    out.push(Number(`${k * mantissa}e${exponent}`));
  return out;
}

/**
 * Evenly spaced round numbers (1, 2, 2.5 or 5 times a power of ten) inside [lo, hi]: between 4 and 8
 * of them, as close to `count` as the round steps allow. A single value when the range is flat.
 */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const magnitude = Math.floor(Math.log10(hi - lo));
  // Coarsest first, so that a tie goes to the fewer ticks. Successive steps differ by at most a factor
  // of 2, so one of them always leaves 4 to 8 ticks.
  const candidates = [1, 0, -1, -2].flatMap((e) => [5, 2.5, 2, 1].map((m) => multiples(lo, hi, m, magnitude + e)));
  const distance = (t: number[]) =>
    t.length < MIN_TICKS || t.length > MAX_TICKS ? Infinity : Math.abs(t.length - count);
  return candidates.reduce((best, t) => (distance(t) < distance(best) ? t : best));
}

/**
 * Ticks for a log axis over [lo, hi] (lo > 0): every decade when there are at least 4 (every 2nd,
 * 5th... beyond 20); else 1, 2 and 5 times each power of ten when that gives at least 4; else
 * linear round numbers, for a range within a decade or two.
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0)) throw new RangeError(`logTicks: the range [${lo}, ${hi}] is not positive`);
  if (!(hi > lo)) return [lo];
  const [first, last] = [Math.ceil(Math.log10(lo) - 1e-9), Math.floor(Math.log10(hi) + 1e-9)];
  if (last - first + 1 >= MIN_TICKS) {
    // float64 spans about 630 decades, so a stride of 50 always suffices.
    const stride = [1, 2, 5, 10, 20, 50].find((s) => (last - first) / s + 1 <= MAX_DECADES)!;
    return multiples(first, last, stride).map((e) => Number(`1e${e}`));
  }
  const steps: number[] = [];
  for (let e = first - 1; e <= last; e++)
    for (const m of [1, 2, 5]) {
      const v = Number(`${m}e${e}`);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) steps.push(v);
    }
  return steps.length >= MIN_TICKS ? steps : niceTicks(lo, hi);
}

/** A tick's label: plain for moderate magnitudes, exponent form (1e-6, 2.5e+4) otherwise; never rounded away. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? round(v).toExponential() : String(round(v));
}
