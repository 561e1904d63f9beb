// The caching CPU allocator (native/allocator.cpp): large blocks are reused across calls, so a
// training-like loop over alternating large batch sizes must keep its cache within the cap
// (NC_CPU_CACHE_MB), give back every block it hands out, leave resident memory flat once the cache is
// emptied, and compute the same values whichever recycled block a tensor gets. Each case runs in a
// fresh process, with its own allocator settings.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { loader } from '../src/runtime/loader';
import type * as Api from '../src';
import { cpuMemoryStats, emptyCpuCache, resetCpuPeak, zeros } from '../src';

const INDEX = path.join(__dirname, '..', 'src', 'index.ts');
const MEMORY = path.join(__dirname, 'helpers', 'memory.ts');

/**
 * Steps of forward+backward of G m1 m2 / r^2, fused and unfused, over batch sizes cycling through
 * 24 values from 40,000 to 339,000 (float64: 0.3 to 2.7 MB per tensor). Each step checks a few
 * elements of the value and of every gradient against float64 closed forms and reports the worst
 * relative error. After each round: the allocator's figures, then native resident memory with the
 * cache emptied.
 */
function trainingLoop(api: typeof Api, residentMb: () => number, rounds: number) {
  const source = '(/ (* G (* m1 m2)) (pow r 2))';
  const modules = [true, false].map((fuse) =>
    api.compile(source, {
      inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' },
      params: { G: 1.5 },
      dtype: 'float64',
      fuse,
    }),
  );
  const G = 1.5;
  const max = 40000 + 23 * 13000;
  const [a, b, c] = [1, 2, 3].map((seed) =>
    Float64Array.from({ length: max }, (_, k) => 0.5 + ((k * 7919 + seed * 104729) % 1000) / 1000),
  );
  const u = Float64Array.from({ length: max }, (_, k) => 1 + (k % 3));
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.abs(y);
  let worst = 0;
  const perRound: { live: number; cached: number; residentMb: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let step = 0; step < 24; step++) {
      const n = 40000 + ((step * 7) % 24) * 13000;
      // A full upstream gradient on odd steps, the broadcast one of a sum on even steps.
      const full = step % 2 === 1;
      const up = (k: number) => (full ? u[k] : 1);
      let sumG = 0;
      for (let k = 0; k < n; k++) sumG += (up(k) * a[k] * b[k]) / c[k] ** 2;
      for (const m of modules) {
        const [m1, m2, r] = [a, b, c].map((d) =>
          api.tensor(d.subarray(0, n), { dtype: 'float64', requiresGrad: true }),
        );
        const w = api.tensor(u.subarray(0, n), { dtype: 'float64' });
        const out = m.forward({ m1, m2, r });
        const total = out.sum();
        if (full) out.backward(w);
        else total.backward();
        const grads = [m1.grad!, m2.grad!, r.grad!, m.parameters()[0].grad!];
        const [v, g1, g2, gr] = [out, ...grads].map((t) => t.toTypedArray());
        worst = Math.max(worst, rel(grads[3].item(), sumG));
        for (const k of [0, 1, 1023, 1024, n >> 1, n - 2, n - 1])
          worst = Math.max(
            worst,
            rel(v[k], (G * a[k] * b[k]) / c[k] ** 2),
            rel(g1[k], (up(k) * G * b[k]) / c[k] ** 2),
            rel(g2[k], (up(k) * G * a[k]) / c[k] ** 2),
            rel(gr[k], (-2 * up(k) * G * a[k] * b[k]) / c[k] ** 3),
          );
        m.parameters()[0].zeroGrad();
        for (const t of [m1, m2, r, w, out, total, ...grads]) t.dispose();
      }
    }
    const stats = api.cpuMemoryStats();
    api.emptyCpuCache();
    (globalThis as { gc?: () => void }).gc?.();
    perRound.push({ live: stats?.liveBytes ?? 0, cached: stats?.cachedBytes ?? 0, residentMb: residentMb() });
  }
  for (const m of modules) m.dispose();
  return { worst, rounds: perRound };
}

/**
 * A synchronous loop of forward calls at batch 16,384 (float32: 64 KiB per tensor), never yielding
 * to the event loop, so the finalizers of the result's JS wrappers wait: native resident memory growth
 * between the first and the last 2,000 calls, and the last value.
 */
function synchronousLoop(api: typeof Api, residentMb: () => number) {
  const m = api.compile('(/ (* G (* m1 m2)) (pow r 2))', {
    inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' },
    params: { G: 1.5 },
  });
  const n = 16384;
  const [m1, m2, r] = [2, 3, 4].map((v) => api.tensor(new Float32Array(n).fill(v)));
  const resident: number[] = [];
  for (let k = 0; k < 4; k++) {
    for (let i = 0; i < 2000; i++) m.forward({ m1, m2, r }).dispose();
    if (k === 0 || k === 3) resident.push(residentMb());
  }
  const out = m.forward({ m1, m2, r });
  const last = out.toTypedArray()[n - 1];
  out.dispose();
  return { worst: Math.abs(last - (1.5 * 6) / 16) / ((1.5 * 6) / 16), growthMb: resident[1] - resident[0] };
}

type Round = { live: number; cached: number; residentMb: number };

function inChild(
  env: Record<string, string>,
  rounds: number,
  loop: 'trainingLoop' | 'synchronousLoop' = 'trainingLoop',
): { worst: number; growthMb: number; rounds: Round[] } {
  const script = `${loader()}
const api = require(${JSON.stringify(INDEX)});
const { nativeResidentMb } = require(${JSON.stringify(MEMORY)});
const ${loop} = ${(loop === 'trainingLoop' ? trainingLoop : synchronousLoop).toString()};
process.stdout.write(JSON.stringify(${loop}(api, nativeResidentMb, ${rounds})));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`child exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('alternating large batches: correct values and gradients, every block given back, memory flat', () => {
  // A 64 MB cap is well below what the loop frees per round, so blocks are evicted as well as reused.
  const { worst, rounds } = inChild({ NC_CPU_CACHE_MB: '64' }, 5);
  expect(worst).toBeLessThan(1e-12);
  // Between rounds only the modules' parameters are live, the same bytes each time.
  expect(new Set(rounds.map((r) => r.live)).size).toBe(1);
  expect(rounds[0].live).toBeLessThan(2 ** 20);
  for (const { cached } of rounds) {
    expect(cached).toBeGreaterThan(32 * 2 ** 20);
    expect(cached).toBeLessThanOrEqual(64 * 2 ** 20);
  }
  // Tensor memory is exact above; resident memory catches leaks around it. A leak of one block per
  // step (1.5 MB on average) would be 290 MB over the last four rounds. What does grow by tens of MB
  // under load is glibc's per-thread arenas of V8's and Node's background threads.
  expect(rounds[rounds.length - 1].residentMb - rounds[0].residentMb).toBeLessThan(64);
}, 120000);

test('cpuMemoryStats counts a tensor while it lives and its block while cached, and the peak; emptyCpuCache empties', () => {
  // In this process, with the default allocator settings. 1,000,000 float64 plus the header fit the
  // class of 8,388,608 bytes (an eighth of 2^23 above 7,340,032).
  const block = 8388608;
  emptyCpuCache();
  resetCpuPeak();
  const before = cpuMemoryStats()!;
  expect(before.cachedBytes).toBe(0);
  expect(before.peakBytes).toBe(before.liveBytes);
  const peak = before.liveBytes + block;
  const t = zeros([1000000], { dtype: 'float64' });
  expect(cpuMemoryStats()!.liveBytes - before.liveBytes).toBe(block);
  t.dispose();
  expect(cpuMemoryStats()).toEqual({ ...before, cachedBytes: block, peakBytes: peak });
  // The next tensor of its class reuses the block.
  const again = zeros([999000], { dtype: 'float64' });
  expect(cpuMemoryStats()).toEqual({ ...before, liveBytes: peak, peakBytes: peak });
  again.dispose();
  emptyCpuCache();
  expect(cpuMemoryStats()).toEqual({ ...before, peakBytes: peak });
  resetCpuPeak();
  expect(cpuMemoryStats()).toEqual(before);
});

test('without the caching allocator (NC_MALLOC_DEFAULTS=1) there are no figures, and emptying is harmless', () => {
  const script = `${loader()}
const api = require(${JSON.stringify(INDEX)});
api.emptyCpuCache();
process.stdout.write(JSON.stringify(api.cpuMemoryStats()));`;
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, NC_MALLOC_DEFAULTS: '1' },
    encoding: 'utf8',
  });
  expect(r.stdout).toBe('null');
});

test('with the default cap, and with no cache at all, the loop computes the same values', () => {
  expect(inChild({}, 2).worst).toBeLessThan(1e-12);
  expect(inChild({ NC_CPU_CACHE_MB: '0' }, 1).worst).toBeLessThan(1e-12);
}, 120000);

test("NC_MALLOC_DEFAULTS=1 (libtorch's and glibc's own allocation) computes the same values", () => {
  expect(inChild({ NC_MALLOC_DEFAULTS: '1' }, 1).worst).toBeLessThan(1e-12);
}, 120000);

test('a synchronous loop at batch 16,384 reuses its 64 KiB blocks instead of growing by one per call', () => {
  // With the blocks returned to malloc, this loop grew by about 64 KiB per call (about 375 MB here).
  const { worst, growthMb } = inChild({}, 0, 'synchronousLoop');
  expect(worst).toBeLessThan(1e-6);
  expect(growthMb).toBeLessThan(32);
}, 120000);
