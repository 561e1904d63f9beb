// The caching CPU allocator (native/allocator.cpp): large blocks are reused across calls, so a
// training-like loop over alternating large batch sizes must keep resident memory bounded by the
// cache's cap (NC_CPU_CACHE_MB) and compute the same values whichever recycled block a tensor gets.
// Each case runs in a fresh process, with its own allocator settings.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { loader } from '../src/fuzz/isolate';
import type * as Api from '../src';

const INDEX = path.join(__dirname, '..', 'src', 'index.ts');

/**
 * Steps of forward+backward of G m1 m2 / r^2, fused and unfused, over batch sizes cycling through
 * 24 values from 40,000 to 339,000 (float64: 0.3 to 2.7 MB per tensor). Each step checks a few
 * elements of the value and of every gradient against float64 closed forms and reports the worst
 * relative error, and resident memory after the first and the last round.
 */
function trainingLoop(api: typeof Api, rounds: number) {
  const source = '(/ (* G (* m1 m2)) (pow r 2))';
  const modules = [true, false].map((fuse) => api.compile(source, { inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' }, params: { G: 1.5 }, dtype: 'float64', fuse }));
  const G = 1.5;
  const max = 40000 + 23 * 13000;
  const [a, b, c] = [1, 2, 3].map((seed) => Float64Array.from({ length: max }, (_, k) => 0.5 + ((k * 7919 + seed * 104729) % 1000) / 1000));
  const u = Float64Array.from({ length: max }, (_, k) => 1 + (k % 3));
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.abs(y);
  let worst = 0;
  const rss: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let step = 0; step < 24; step++) {
      const n = 40000 + ((step * 7) % 24) * 13000;
      // A full upstream gradient on odd steps, the broadcast one of a sum on even steps.
      const full = step % 2 === 1;
      const up = (k: number) => (full ? u[k] : 1);
      let sumG = 0;
      for (let k = 0; k < n; k++) sumG += (up(k) * a[k] * b[k]) / c[k] ** 2;
      for (const m of modules) {
        const [m1, m2, r] = [a, b, c].map((d) => api.tensor(d.subarray(0, n), { dtype: 'float64', requiresGrad: true }));
        const w = api.tensor(u.subarray(0, n), { dtype: 'float64' });
        const out = m.forward({ m1, m2, r });
        const total = out.sum();
        if (full) out.backward(w);
        else total.backward();
        const grads = [m1.grad!, m2.grad!, r.grad!, m.parameters()[0].grad!];
        const [v, g1, g2, gr] = [out, ...grads].map((t) => t.toTypedArray());
        worst = Math.max(worst, rel(grads[3].item(), sumG));
        for (const k of [0, 1, 1023, 1024, n >> 1, n - 2, n - 1])
          worst = Math.max(worst, rel(v[k], (G * a[k] * b[k]) / c[k] ** 2), rel(g1[k], (up(k) * G * b[k]) / c[k] ** 2),
            rel(g2[k], (up(k) * G * a[k]) / c[k] ** 2), rel(gr[k], (-2 * up(k) * G * a[k] * b[k]) / c[k] ** 3));
        m.parameters()[0].zeroGrad();
        for (const t of [m1, m2, r, w, out, total, ...grads]) t.dispose();
      }
    }
    if (round === 0 || round === rounds - 1) {
      // The JS arrays read back are garbage by now: collect them so that RSS shows native memory.
      (globalThis as { gc?: () => void }).gc?.();
      rss.push(process.memoryUsage().rss);
    }
  }
  for (const m of modules) m.dispose();
  return { worst, growthMb: (rss[1] - rss[0]) / 2 ** 20 };
}

/**
 * A synchronous loop of forward calls at batch 16,384 (float32: 64 KiB per tensor), never yielding
 * to the event loop, so the finalizers of the result's JS wrappers wait: resident memory growth
 * between the first and the last 2,000 calls, and the last value.
 */
function synchronousLoop(api: typeof Api) {
  const m = api.compile('(/ (* G (* m1 m2)) (pow r 2))', { inputs: { m1: 'scalar', m2: 'scalar', r: 'scalar' }, params: { G: 1.5 } });
  const n = 16384;
  const [m1, m2, r] = [2, 3, 4].map((v) => api.tensor(new Float32Array(n).fill(v)));
  const rss: number[] = [];
  for (let k = 0; k < 4; k++) {
    for (let i = 0; i < 2000; i++) m.forward({ m1, m2, r }).dispose();
    if (k === 0 || k === 3) rss.push(process.memoryUsage().rss);
  }
  const out = m.forward({ m1, m2, r });
  const last = out.toTypedArray()[n - 1];
  out.dispose();
  return { worst: Math.abs(last - (1.5 * 6) / 16) / ((1.5 * 6) / 16), growthMb: (rss[1] - rss[0]) / 2 ** 20 };
}

function inChild(env: Record<string, string>, rounds: number, loop: 'trainingLoop' | 'synchronousLoop' = 'trainingLoop'): { worst: number; growthMb: number } {
  const script = `${loader()}
const api = require(${JSON.stringify(INDEX)});
const ${loop} = ${(loop === 'trainingLoop' ? trainingLoop : synchronousLoop).toString()};
process.stdout.write(JSON.stringify(${loop}(api, ${rounds})));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('alternating large batches: correct values and gradients, memory flat after the cache fills', () => {
  // A 64 MB cap is well below what the loop frees per round, so blocks are evicted as well as reused.
  const { worst, growthMb } = inChild({ NC_CPU_CACHE_MB: '64' }, 5);
  expect(worst).toBeLessThan(1e-12);
  expect(growthMb).toBeLessThan(32);
}, 120000);

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
