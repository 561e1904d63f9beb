// Worker threads each load the addon (its per-environment state lives in instance data) and run
// forward passes at the same time as each other and the main thread; results must equal a
// sequential run bit for bit. Terminating a worker (once it has started: it says so) must not take
// the process down.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { loader } from '../src/runtime/loader';
import { compile } from '../src/api';
import { forwardCalls } from './helpers/forward-calls';

const SOURCE = '(loop ((k 0) (acc v)) (if (< k n) (recur (+ k 1) (+ (scale 0.5 acc) (sin (* G acc)))) acc))';
const MODULE = path.join(__dirname, '..', 'src', 'api', 'module.ts');
const HELPER = path.join(__dirname, 'helpers', 'forward-calls.ts');

/** Values and gradients of `calls` forward passes on inputs that depend only on the call number. */
function work(compileFn: typeof compile, calls: number, source: string, forward: typeof forwardCalls): number[][] {
  const m = compileFn(source, { inputs: { v: [3], n: 'scalar' }, params: { G: 1.3 }, dtype: 'float64' });
  const out = forward(m, calls);
  m.dispose();
  return out;
}

/** A worker that computes `calls` passes, says 'started' after its first one, and posts the result. */
const workerSource = (calls: number) => `${loader()}
const { parentPort } = require('worker_threads');
const { compile } = require(${JSON.stringify(MODULE)});
const { forwardCalls } = require(${JSON.stringify(HELPER)});
const work = ${work.toString()};
const m = compile(${JSON.stringify(SOURCE)}, { inputs: { v: [3], n: 'scalar' }, params: { G: 1.3 }, dtype: 'float64' });
parentPort.postMessage({ started: forwardCalls(m, 1) });
m.dispose();
parentPort.postMessage({ result: work(compile, ${calls}, ${JSON.stringify(SOURCE)}, forwardCalls) });`;

const startWorker = (calls: number) => new Worker(workerSource(calls), { eval: true });

/** The worker's message of the given kind (its first pass, or its whole result). */
const message = <K extends 'started' | 'result'>(w: Worker, kind: K) =>
  new Promise<number[][]>((resolve, reject) => {
    const on = (m: Record<string, number[][]>) => {
      if (!(kind in m)) return;
      w.off('message', on);
      resolve(m[kind]);
    };
    w.on('message', on);
    w.once('error', reject);
  });

test('forward and backward in 4 worker threads and the main thread at once equal a sequential run', async () => {
  const calls = 200;
  const sequential = work(compile, calls, SOURCE, forwardCalls);
  const workers = Array.from({ length: 4 }, () => startWorker(calls));
  const pending = workers.map((w) => message(w, 'result'));
  const main = work(compile, calls, SOURCE, forwardCalls); // the main thread works while the workers do
  const results = await Promise.all(pending);
  expect(main).toEqual(sequential);
  for (const r of results) expect(r).toEqual(sequential);
  // the workload is not trivial: values vary from call to call, and the gradient is not zero
  expect(new Set(sequential.map((r) => r[0])).size).toBeGreaterThan(100);
  expect(sequential.every((r) => r[r.length - 1] !== 0)).toBe(true);
  await Promise.all(workers.map((w) => w.terminate()));
}, 120000);

/** A worker that runs one pass, says 'started', then keeps going: in native calls, or in plain JS. */
const endlessWorker = (native: boolean) => `${loader()}
const { parentPort } = require('worker_threads');
const { compile } = require(${JSON.stringify(MODULE)});
const { forwardCalls } = require(${JSON.stringify(HELPER)});
const m = compile(${JSON.stringify(SOURCE)}, { inputs: { v: [3], n: 'scalar' }, params: { G: 1.3 }, dtype: 'float64' });
parentPort.postMessage({ started: forwardCalls(m, 1) });
if (${native}) for (;;) forwardCalls(m, 1);
let spin = 0;
for (;;) spin++;`;

test('terminating workers that hold modules while they run JavaScript leaves the process working', async () => {
  const sequential = work(compile, 3, SOURCE, forwardCalls);
  for (let round = 0; round < 2; round++) {
    const workers = Array.from({ length: 3 }, () => new Worker(endlessWorker(false), { eval: true }));
    // Each worker has compiled and run a pass (the first sequential one) before it is ended.
    const firsts = await Promise.all(workers.map((w) => message(w, 'started')));
    for (const first of firsts) expect(first).toEqual(sequential.slice(0, 1));
    expect(await Promise.all(workers.map((w) => w.terminate()))).toEqual([1, 1, 1]); // 1: ended while running
  }
  expect(work(compile, 3, SOURCE, forwardCalls)).toEqual(sequential);
}, 120000);

// worker.terminate() while the worker is inside a native call: the call fails in the terminating
// environment, and node-addon-api by default aborts the whole process when it cannot throw there
// ("terminate called after throwing an instance of 'Napi::Error'"). Both addons are built with
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS for this. In a child process, so an abort fails this test
// instead of the test runner.
test('terminating workers in the middle of their forward calls leaves the process working', () => {
  const script = `${loader()}
const { Worker } = require('worker_threads');
const source = ${JSON.stringify(endlessWorker(true))};
(async () => {
  const codes = [];
  for (let round = 0; round < 3; round++) {
    const workers = Array.from({ length: 3 }, () => new Worker(source, { eval: true }));
    const started = (w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
    await Promise.all(workers.map(started));
    codes.push(...(await Promise.all(workers.map((w) => w.terminate()))));
  }
  process.stdout.write(JSON.stringify(codes));
})();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 100000 });
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  expect(JSON.parse(r.stdout)).toEqual(Array(9).fill(1));
}, 120000);
