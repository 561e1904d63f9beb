// The CI-sized fuzz run: a fixed seed, every generator, in process with a per-case time bound. Known
// bugs (open regressions under tests/fuzz-regressions/) are tracked by their own replay tests, so
// only new kinds of failure fail this test.
import { caseAt, parseArgs } from '../src/fuzz/cli';
import { evaluate } from '../src/fuzz/evaluate';
import { signature } from '../src/fuzz/minimise';
import { loadRegressions } from '../src/fuzz/regressions';

const TIME_LIMIT_MS = 5000;
const known = new Set(
  loadRegressions()
    .filter((r) => r.regression.status === 'open')
    .map((r) => r.regression.signature),
);

test.each([
  ['bytes', 1500],
  ['mutate', 800],
  ['typed', 300],
])(
  '%s: %i cases end in a module, diagnostics or agreement, each within the time bound',
  (generator, count) => {
    const o = parseArgs(['--seed', '20240611', '--generator', generator as string]);
    const failures: string[] = [];
    const kinds: Record<string, number> = {};
    for (let i = 0; i < count; i++) {
      const c = caseAt(o, i);
      const start = Date.now();
      const outcome = evaluate(c);
      const ms = Date.now() - start;
      kinds[outcome.kind] = (kinds[outcome.kind] ?? 0) + 1;
      if (ms > TIME_LIMIT_MS) failures.push(`case ${i} took ${ms} ms: ${JSON.stringify(c.source).slice(0, 200)}`);
      if (!outcome.ok && !known.has(signature(outcome)))
        failures.push(
          `case ${i} ${outcome.kind}: ${JSON.stringify(c.source).slice(0, 300)}\n  ${outcome.detail.slice(0, 300)}`,
        );
    }
    expect(failures).toEqual([]);
    // The run exercised something: programs that compiled (and for typed, that agreed), not only errors.
    if (generator === 'bytes') expect(kinds.diagnostics).toBeGreaterThan(count * 0.9);
    else
      expect(kinds[generator === 'typed' ? 'agree' : 'module']).toBeGreaterThan(
        count * (generator === 'typed' ? 0.9 : 0.1),
      );
  },
  120000,
);
