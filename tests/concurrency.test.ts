// Worker threads each load the addon (its per-environment state lives in instance data) and run
// forward passes at the same time as each other and the main thread; results must equal a
// sequential run bit for bit. Terminating a worker in the middle of its calls must not take the
// process down.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { loader } from '../src/fuzz/isolate';
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

const workerSource = (calls: number) => `${loader()}
const { parentPort } = require('worker_threads');
const { compile } = require(${JSON.stringify(MODULE)});
const { forwardCalls } = require(${JSON.stringify(HELPER)});
const work = ${work.toString()};
parentPort.postMessage(work(compile, ${calls}, ${JSON.stringify(SOURCE)}, forwardCalls));`;

const startWorker = (calls: number) => new Worker(workerSource(calls), { eval: true });

const result = (w: Worker) =>
  new Promise<number[][]>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });

test('forward and backward in 4 worker threads and the main thread at once equal a sequential run', async () => {
  const calls = 200;
  const sequential = work(compile, calls, SOURCE, forwardCalls);
  const workers = Array.from({ length: 4 }, () => startWorker(calls));
  const pending = workers.map(result);
  const main = work(compile, calls, SOURCE, forwardCalls); // the main thread works while the workers do
  const results = await Promise.all(pending);
  expect(main).toEqual(sequential);
  for (const r of results) expect(r).toEqual(sequential);
  await Promise.all(workers.map((w) => w.terminate()));
}, 120000);

test('terminating workers in the middle of their forward calls leaves the process working', async () => {
  for (let round = 0; round < 3; round++) {
    const workers = Array.from({ length: 3 }, () => startWorker(100000));
    await new Promise((r) => setTimeout(r, 300 + 100 * round));
    await Promise.all(workers.map((w) => w.terminate()));
  }
  expect(work(compile, 3, SOURCE, forwardCalls)).toEqual(work(compile, 3, SOURCE, forwardCalls));
}, 120000);
