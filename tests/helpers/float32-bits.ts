// Exact comparison of float32 results: by bit pattern, and by distance in units in the last place.

/** Maps a float32 bit pattern onto a line where adjacent floats are adjacent integers (-0 and +0 one apart). */
const ordered = (bits: number): number => (bits >= 0x80000000 ? 0xffffffff - bits : bits + 0x80000000);

/** How many float32 values lie between a and b (0: the same bits); Infinity when either is NaN and the bits differ. */
export function ulpDistance(a: number, b: number): number {
  const bits = new Uint32Array(new Float32Array([a, b]).buffer);
  if (bits[0] === bits[1]) return 0;
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  return Math.abs(ordered(bits[0]) - ordered(bits[1]));
}

/**
 * One line per element more than `maxUlps` apart (at most `limit` lines, then a count), empty when
 * all agree; maxUlps 0 asks for identical bits.
 */
export function float32Mismatches(
  what: string,
  actual: Float32Array,
  expected: Float32Array,
  maxUlps = 0,
  limit = 5,
): string[] {
  if (actual.length !== expected.length) return [`${what}: ${actual.length} values, expected ${expected.length}`];
  const out: string[] = [];
  let count = 0;
  actual.forEach((a, i) => {
    const d = ulpDistance(a, expected[i]);
    if (d <= maxUlps) return;
    if (++count <= limit) out.push(`${what}[${i}]: ${a} vs ${expected[i]} (${d} ulp apart)`);
  });
  if (count > limit) out.push(`${what}: ${count - limit} more`);
  return out;
}
