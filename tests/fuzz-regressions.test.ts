// Replays every minimised failure the fuzzer saved. A fixed one must pass; an open one is a known bug
// and is expected to fail (test.failing), so fixing it turns this red until its status says fixed.
// Each case runs in a fresh process, since some of them crash the process.
import { runIsolated } from '../src/fuzz/isolate';
import { loadRegressions } from '../src/fuzz/regressions';

const regressions = loadRegressions();

test('there are regression files to replay', () => {
  expect(regressions.length).toBeGreaterThan(0);
});

for (const { file, regression } of regressions) {
  const check = () => {
    expect(runIsolated(regression.fuzzCase, 30000)).toMatchObject({ ok: true });
  };
  (regression.status === 'open' ? test.failing : test)(
    `${file} (${regression.status}): ${regression.note}`,
    check,
    60000,
  );
}
