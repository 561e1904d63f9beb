// Minimised failing cases, saved as JSON under tests/fuzz-regressions/ and replayed by
// tests/fuzz-regressions.test.ts. `open` marks a bug not fixed yet (its replay is expected to fail).
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { FuzzCase, Outcome } from './evaluate';

export const REGRESSION_DIR = path.join(__dirname, '..', '..', 'tests', 'fuzz-regressions');

export interface Regression {
  status: 'open' | 'fixed';
  /** What is wrong, for people: where the bug is and what was expected. */
  note: string;
  signature: string;
  found: string;
  outcome: { kind: string; detail: string };
  fuzzCase: FuzzCase;
}

export function loadRegressions(dir = REGRESSION_DIR): { file: string; regression: Regression }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, regression: JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Regression }));
}

/** Saves a failure unless one of the same signature is already saved; returns the file written. */
export function saveRegression(
  fuzzCase: FuzzCase,
  outcome: Outcome,
  signature: string,
  found: string,
  dir = REGRESSION_DIR,
): string | undefined {
  if (loadRegressions(dir).some((r) => r.regression.signature === signature)) return undefined;
  const hash = createHash('sha1').update(fuzzCase.source).digest('hex').slice(0, 8);
  const file = `${fuzzCase.generator}-${outcome.kind}-${hash}.json`;
  const regression: Regression = {
    status: 'open',
    note: 'found by the fuzzer; not yet triaged',
    signature,
    found,
    outcome: { kind: outcome.kind, detail: outcome.detail.slice(0, 2000) },
    fuzzCase,
  };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, file), JSON.stringify(regression, null, 2) + '\n');
  return file;
}
