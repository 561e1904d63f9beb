// A scaled-down memory soak (the full one is scripts/soak.js): resident memory after warm-up may
// grow by at most 10 % over 20,000 forward calls and 2,000 compile/dispose cycles.
import { soakCompile, soakForward } from '../src/fuzz/soak';
import { mlp } from '../src/nn/mlp';
import { randn, tensor, tidy } from '../src/runtime/tensor';
import { losses, optim } from '../src/train';

const BOUND_PERCENT = 10;

test('20,000 forward calls keep resident memory stable', async () => {
  const g = await soakForward(20000);
  expect(g.percent).toBeLessThan(BOUND_PERCENT);
}, 120000);

test('2,000 compile/dispose cycles keep resident memory stable', async () => {
  const g = await soakCompile(2000);
  expect(g.percent).toBeLessThan(BOUND_PERCENT);
}, 120000);

// glibc's default, dynamically raised mmap threshold let a synchronous training loop fragment the
// heap by megabytes per step (native/tensor.cpp fixes the threshold); this loop grew by 1 GB in 300 steps.
test('a synchronous MLP training loop keeps resident memory flat', () => {
  const net = mlp([3, 64, 64, 64, 64, 1], { activation: 'relu', seed: 1 });
  const opt = optim.adam(net.parameters(), { lr: 1e-3 });
  const n = 1024;
  const step = () =>
    tidy(() => {
      opt.zeroGrad();
      // a [n, 1] prediction against an [n] target broadcasts to [n, n]: large, short-lived blocks
      const l = losses.mse(net.forward(randn([n, 3], { seed: 1 })), tensor(new Float32Array(n).fill(1)));
      l.backward();
      opt.step();
      return 0;
    });
  for (let i = 0; i < 50; i++) step();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 300; i++) step();
  expect(process.memoryUsage().rss - before).toBeLessThan(150 * 1024 * 1024);
  net.dispose();
});
