// The same work on a module compiled for the small-program tier and on its tier: false twin.
import type { Module } from '../../src';
import { maxRelativeError } from './finite-diff';

/**
 * Runs `run` on the tier's module, which must take the tier (its `tier` finds a program), and on
 * its libtorch twin; expects each array of the results within `tolerance` of the twin's (relative,
 * absolute below 1) and returns the twin's.
 */
export function expectTierAsLibtorch(
  m: Module,
  off: Module,
  run: (module: Module) => number[][],
  tolerance = 1e-10,
): number[][] {
  const spy = jest.spyOn(m, 'tier');
  const got = run(m);
  expect(spy.mock.results.some((r) => r.value !== undefined)).toBe(true);
  spy.mockRestore();
  const want = run(off);
  got.forEach((values, i) => expect([i, maxRelativeError(values, want[i]) <= tolerance]).toEqual([i, true]));
  return want;
}
