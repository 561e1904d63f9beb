// The CI-sized fuzz run: a fixed seed, every generator, in process (a hang is caught by jest's
// timeout, not by a per-case clock that a loaded machine could trip). Known bugs (open regressions
// under tests/fuzz-regressions/) are tracked by their own replay tests, so only new kinds of failure
// fail this test.
import { caseAt, parseArgs } from '../src/fuzz/cli';
import { tierDifferences } from '../src/fuzz/differential';
import { evaluate, type FuzzCase, type Outcome } from '../src/fuzz/evaluate';
import { minimise, signature } from '../src/fuzz/minimise';
import { loadRegressions } from '../src/fuzz/regressions';

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
  '%s: %i cases end in a module, diagnostics or agreement, not an error',
  (generator, count) => {
    const o = parseArgs(['--seed', '20240611', '--generator', generator as string]);
    const failures: string[] = [];
    const kinds: Record<string, number> = {};
    for (let i = 0; i < count; i++) {
      const c = caseAt(o, i);
      const outcome = evaluate(c);
      kinds[outcome.kind] = (kinds[outcome.kind] ?? 0) + 1;
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

describe('the small-program tier as the third differential path', () => {
  test('programs it takes run on it and agree with libtorch; others are not its business', () => {
    const c = { inputs: { x: 0.7, y: -1.3 }, params: { k: 1.5 } };
    expect(tierDifferences('(* k (sin x) (exp y))', c, 1e-9)).toEqual([]);
    expect(
      tierDifferences('(* k (sin x) (exp y))', { ...c, inputs: { x: [0.7, 0.2], y: [-1.3, 2] }, batch: true }, 1e-9),
    ).toEqual([]);
    // 100 elements a sample: beyond the tier's 64 a value
    const v = Array.from({ length: 100 }, (_, i) => i / 100);
    expect(tierDifferences('(dot v v)', { inputs: { v } }, 1e-9)).toBeUndefined();
  });

  test('typed cases report how many of their runs the tier took', () => {
    const runs = Array.from({ length: 300 }, (_, i) =>
      evaluate(caseAt({ ...parseArgs([]), generators: ['typed'] }, i)),
    );
    expect(runs.every((r) => r.ok)).toBe(true);
    expect(runs.reduce((n, r) => n + (r.tierRuns ?? 0), 0)).toBeGreaterThan(0);
  });
});

test('the minimiser keeps the smallest program that fails the same way: subtrees first, then text, within its budget', async () => {
  // Fails while the text has both 'log' and '*'; the length in the message is masked by the signature.
  const run = async (c: FuzzCase): Promise<Outcome> =>
    c.source.includes('log') && c.source.includes('*')
      ? { ok: false, kind: 'error', detail: `bad at ${c.source.length}` }
      : { ok: true, kind: 'module', detail: '' };
  const c: FuzzCase = { generator: 'mutate', source: '(define (f x) (+ 1 (log (* x 2)))) (f 3.5)' };
  const failure = await run(c);
  expect(await minimise(c, failure, run, 300)).toMatchObject({ fuzzCase: { source: 'log*' }, tries: 50 });
  expect(await minimise(c, failure, run, 7)).toMatchObject({
    fuzzCase: { source: '(+ 1 (log (* x 2)))\n(f 3.5)' },
    outcome: { detail: 'bad at 27' },
    tries: 7,
  });
});
