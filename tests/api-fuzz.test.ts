// Random garbage at every exported function and method (src/fuzz/api.ts), each run in a child
// process: every call returns or throws an Error, and no child dies. A failure names the last call.
import { apiFuzzIsolated } from '../src/fuzz/api';

test.each([1, 2, 3, 4, 5, 6, 7, 8])(
  'seed %i: 400 calls, only Errors thrown, the process alive',
  (seed) => {
    expect(apiFuzzIsolated(seed, 400)).toEqual({ ok: true, detail: `seed ${seed}: 400 calls` });
  },
  60000,
);
