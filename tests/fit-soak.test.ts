// A scaled-down fit soak (the full one is scripts/soak.js: 10,000 steps of a hybrid ODE model, and
// 100,000 of this one): 10,000 fit() steps of a line plus an MLP, through the public API in 100
// calls (Adam, shuffled minibatches, progress reports), measured on native memory after the first
// 10 calls: no tensor left behind (the allocator's exact count) and native resident memory within a
// bound far below a leak of the data or of a step's graph per call.
import { compile, fit, nn } from '../src';
import { nativeGrowth } from './helpers/memory';

test('10,000 fit steps in 100 fit() calls hold no tensor and no native memory', async () => {
  const net = nn.mlp([1, 16, 1], { seed: 1 });
  const model = compile('(+ (* a x) (f x))', { params: { a: 0 }, functions: { f: net } });
  const x = Array.from({ length: 64 }, (_, i) => i / 32 - 1);
  const data = { inputs: { x }, target: x.map((v) => 2 * v + Math.sin(3 * v)) };
  let steps = 0;
  let reports = 0;
  const losses: number[] = [];
  const calls = async (first: number, count: number) => {
    for (let c = first; c < first + count; c++) {
      // 25 epochs of 64 samples in minibatches of 16: 100 steps a call
      const options = { epochs: 25, batchSize: 16, lr: 0.01, seed: c, progressEvery: 10, onProgress: () => reports++ };
      const r = await fit(model, data, options);
      steps += r.steps;
      losses.push(r.loss);
    }
  };
  const g = await nativeGrowth(
    () => calls(0, 10),
    () => calls(10, 90),
  );
  expect(steps).toBe(10000);
  expect(reports).toBe(1000);
  expect(g.liveBytes).toBe(0);
  expect(g.residentMb).toBeLessThan(16); // 160 KB a call; one call's data and graphs are more
  expect(losses[99]).toBeLessThan(losses[0] / 2); // it trained
  model.dispose();
  net.dispose();
}, 120000);
