// A scaled-down memory soak (the full one is scripts/soak.js), measured on native memory rather than
// the whole process: after a warm-up, 20,000 forward calls, 2,000 compile/dispose cycles and 300 MLP
// training steps must leave the live tensor bytes (the allocator's exact count) where they were,
// and native resident memory (tests/helpers/memory.ts: outside the JS heap, cache emptied) within a
// bound far below what a leak of one tensor or one graph per iteration would add.
import { compile, emptyCpuCache, losses, nn, optim, randn, tensor, tidy } from '../src';
import { compileCycle } from '../src/fuzz/soak';
import { nativeGrowth } from './helpers/memory';

const SOURCE = '(+ (scale G (matvec A v)) (sin v))';

test('20,000 forward calls (each recording a graph) hold no tensor and no native memory', async () => {
  const m = compile(SOURCE, { inputs: { A: [3, 3], v: [3] }, params: { G: 0.5 } });
  const A = tensor([
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
  ]);
  let last = 0;
  const calls = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const out = m.forward({ A, v: [i % 7, 1, 2] });
      if (i === n - 1) last = out.toTypedArray()[0];
      out.dispose();
      if ((i + 1) % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  const g = await nativeGrowth(
    () => calls(2000),
    () => calls(20000),
  );
  // every output was disposed: not one byte of tensor memory more
  expect(g.liveBytes).toBe(0);
  // 16 MB is 800 bytes a call; an autograd graph or an output kept per call is several KB
  expect(g.residentMb).toBeLessThan(16);
  // the calls computed: 0.5 * (A v)[0] + sin(v[0]) for the last v = [19999 % 7, 1, 2] = [0, 1, 2]
  expect(last).toBe(0.5 * (1 * 0 + 2 * 1 + 3 * 2) + Math.sin(0));
  A.dispose();
  m.dispose();
}, 120000);

test('2,000 compile/dispose cycles hold no tensor and no native memory', async () => {
  const cycles = (n: number) => {
    for (let i = 0; i < n; i++) compileCycle(i);
  };
  const g = await nativeGrowth(
    () => cycles(200),
    () => cycles(2000),
  );
  expect(g.liveBytes).toBe(0);
  expect(g.residentMb).toBeLessThan(16); // 8 KB a cycle
}, 120000);

// valueAndGrad's value arrays (up to 4 MB here) come from malloc's heap (native/tensor.cpp's fixed
// thresholds): arrays of changing sizes, freed only when V8 collects them, must leave no native
// memory behind (the free pages the heap keeps, emptyCpuCache() trims).
test('valueAndGrad at large batches of changing size, in a synchronous loop, keeps native memory flat', async () => {
  const m = compile('(/ (* G (* m1 m2)) (pow r 2))', { inputs: ['m1', 'm2', 'r'], params: { G: 0.5 } });
  const most = 1 << 20;
  const data = (seed: number) => Float32Array.from({ length: most }, (_, i) => 1 + ((i * 0.618 + seed) % 1));
  const [m1, m2, r] = [data(0.1), data(0.2), data(0.3)];
  const sizes = [most, 600_001, 800_003, 300_007, 131_072];
  const kept: ArrayLike<number>[] = []; // a few recent results held, as a caller collecting them would
  let last: { n: number; value: ArrayLike<number> } = { n: 0, value: [] };
  const calls = (count: number) => {
    for (let i = 0; i < count; i++) {
      const n = sizes[i % sizes.length];
      const value = m.valueAndGrad(
        { m1: m1.subarray(0, n), m2: m2.subarray(0, n), r: r.subarray(0, n) },
        { batch: true },
      ).value as Float32Array;
      kept.push(value);
      if (kept.length > 8) kept.shift();
      last = { n, value };
    }
  };
  const g = await nativeGrowth(
    () => calls(50),
    () => calls(400),
  );
  expect(g.liveBytes).toBe(0);
  // 32 MB is 80 KB a call; a leaked or unreused array is 0.5 to 4 MB a call
  expect(g.residentMb).toBeLessThan(32);
  const i = last.n - 1;
  expect(last.value[i]).toBeCloseTo((0.5 * m1[i] * m2[i]) / (r[i] * r[i]), 5);
  m.dispose();
}, 120000);

// glibc's default, dynamically raised mmap threshold let a synchronous training loop fragment the
// heap by megabytes per step (native/tensor.cpp fixes the threshold); this loop grew by 1 GB in 300 steps.
test('a synchronous MLP training loop keeps native memory flat', async () => {
  const net = nn.mlp([3, 64, 64, 64, 64, 1], { activation: 'relu', seed: 1 });
  const opt = optim.adam(net.parameters(), { lr: 1e-3 });
  const n = 1024;
  const x = randn([n, 3], { seed: 1 });
  const target = tensor(new Float32Array(n).fill(1));
  const losses_: number[] = [];
  const step = () =>
    tidy(() => {
      opt.zeroGrad();
      // a [n, 1] prediction against an [n] target broadcasts to [n, n]: large, short-lived blocks
      const l = losses.mse(net.forward(x), target);
      l.backward();
      opt.step();
      losses_.push(l.item());
      return 0;
    });
  const steps = (n: number) => () => {
    for (let i = 0; i < n; i++) step();
  };
  const g = await nativeGrowth(steps(50), steps(300));
  expect(g.liveBytes).toBe(0);
  expect(g.residentMb).toBeLessThan(32); // 0.1 MB a step, against 3 MB a step fragmented
  expect(losses_[349]).toBeLessThan(losses_[0]); // it trained
  emptyCpuCache();
  for (const t of [x, target]) t.dispose();
  opt.dispose();
  net.dispose();
});
