// Replays every minimised failure the fuzzer saved. A fixed one must pass; an open one is a known bug
// and is expected to fail (test.failing), so fixing it turns this red until its status says fixed.
// Some cases crash the process, so they run in child processes, but not one process each: a pool of
// two workers takes the cases in turn (each loads and transpiles the sources once), and a case that
// crashes or hangs its worker is reported as that case failing while a fresh worker goes on.
import { runIsolatedBatch, type BatchOutcome } from '../src/fuzz/isolate';
import { loadRegressions } from '../src/fuzz/regressions';

const regressions = loadRegressions();
const TIME_LIMIT_MS = 30000;
let outcomes: BatchOutcome[] = [];

beforeAll(async () => {
  outcomes = await runIsolatedBatch(
    regressions.map((r) => r.regression.fuzzCase),
    TIME_LIMIT_MS,
    2,
  );
}, 600000);

test('there are regression files to replay, and every one was replayed', () => {
  expect(regressions.length).toBeGreaterThan(0);
  expect(outcomes.filter((o) => o !== undefined)).toHaveLength(regressions.length);
});

regressions.forEach(({ file, regression }, i) => {
  const check = () => {
    expect(outcomes[i]).toMatchObject({ ok: true });
  };
  (regression.status === 'open' ? test.failing : test)(`${file} (${regression.status}): ${regression.note}`, check);
});

test('the batch replay reports a crash or a hang as that case failing and goes on in a fresh worker', async () => {
  const sources = ['a', 'abort', 'b', 'c', 'hang', 'd', 'e'];
  const cases = sources.map((source) => ({ generator: 'mutate' as const, source }));
  const evaluator = require.resolve('./helpers/crashing-evaluator');
  const out = await runIsolatedBatch(cases, 3000, 1, evaluator);
  expect(out.map((o) => [o.ok, o.kind])).toEqual([
    [true, 'module'],
    [false, 'crash'],
    [true, 'module'],
    [true, 'module'],
    [false, 'hang'],
    [true, 'module'],
    [true, 'module'],
  ]);
  expect(out[1].detail).toMatch(/^child exited \(code null, signal SIGABRT\)/);
  expect(out[4].detail).toBe('no result within 3000 ms');
  // One worker at a time: the first ran a and died on abort, the second ran b, c and hung, the third d and e.
  expect(out.map((o) => o.worker)).toEqual([0, 0, 1, 1, 1, 2, 2]);
  const pid = (o: BatchOutcome) => o.detail.split(' in ')[1];
  expect(pid(out[2])).toBe(pid(out[3]));
  expect(pid(out[5])).toBe(pid(out[6]));
  expect(new Set([pid(out[0]), pid(out[2]), pid(out[5])]).size).toBe(3);
}, 60000);

test('the batch replay reports every case as not started when its workers cannot load the evaluator', async () => {
  const cases = ['a', 'b', 'c'].map((source) => ({ generator: 'mutate' as const, source }));
  const out = await runIsolatedBatch(cases, 3000, 2, require.resolve('./helpers/crashing-evaluator') + '-missing');
  expect(out.map((o) => [o.ok, o.kind])).toEqual(Array(3).fill([false, 'crash']));
  for (const o of out)
    expect(o.detail).toMatch(/^the worker process could not start \(code 1, signal null\): .*Cannot find module/);
}, 30_000);
