// The 15 Feynman equations of examples/feynman, with the names their headers declare, and the
// deterministic data in [0.5, 1.5] the fused-path tests feed them (all 15 are finite and well
// conditioned there, with every param 2).
import { readdirSync, readFileSync } from 'fs';
import path from 'path';
import { headerNames } from '../../src/experiments/programs';

const DIR = path.resolve(__dirname, '..', '..', 'examples', 'feynman');

export const FEYNMAN: string[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.neural'))
  .map((f) => f.replace('.neural', ''));

export const feynmanSource = (name: string): string => readFileSync(path.join(DIR, `${name}.neural`), 'utf8');

/** "; Inputs: x, T. Params: n0, m." in each Feynman file's header. */
export const declaredNames = (source: string): { inputs: string[]; params: string[] } => headerNames(source)!;

/** n values in [0.5, 1.5] from a linear congruential generator: the same for a seed on every run. */
export function uniform(n: number, seed: number): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 0.5 + s / 2 ** 32;
  });
}
