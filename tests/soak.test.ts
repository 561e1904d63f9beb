// A scaled-down memory soak (the full one is scripts/soak.js): resident memory after warm-up may
// grow by at most 10 % over 20,000 forward calls and 2,000 compile/dispose cycles.
import { soakCompile, soakForward } from '../src/fuzz/soak';

const BOUND_PERCENT = 10;

test('20,000 forward calls keep resident memory stable', async () => {
  const g = await soakForward(20000);
  expect(g.percent).toBeLessThan(BOUND_PERCENT);
}, 120000);

test('2,000 compile/dispose cycles keep resident memory stable', async () => {
  const g = await soakCompile(2000);
  expect(g.percent).toBeLessThan(BOUND_PERCENT);
}, 120000);
