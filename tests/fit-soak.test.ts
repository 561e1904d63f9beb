// A scaled-down fit soak (the full one is scripts/soak.js: 10,000 steps of a hybrid ODE model, and
// 100,000 of this one): 10,000 fit() steps of a line plus an MLP, through the public API in 100
// calls (Adam, shuffled minibatches, progress reports), keep resident memory within 10 % of its
// level after the first 1,000 steps.
import { soakFit } from '../src/fuzz/soak';

test('10,000 fit steps in 100 fit() calls keep resident memory stable', async () => {
  const g = await soakFit(10000, { model: 'algebraic', perCall: 100 });
  expect(g.iterations).toBe(10000);
  expect(g.percent).toBeLessThan(10);
}, 120000);
