// The experiments' data and noise, drawn from the seeded generator so every run draws the same samples.
import { Rng } from '../runtime/random';

export { Rng };

/** The paper's noise model: y + level * mean|y| * N(0, 1), elementwise. */
export function addNoise(rng: Rng, y: ArrayLike<number>, level: number): Float64Array {
  let mean = 0;
  for (let i = 0; i < y.length; i++) mean += Math.abs(y[i]) / y.length;
  // A plain loop: Float64Array.from with a map function calls back once per element.
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i] + level * mean * rng.normal();
  return out;
}
