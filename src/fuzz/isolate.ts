// Fuzz cases in child processes, so that one that takes its process down is reported as failing:
// how the minimiser replays its attempts and how tests replay saved cases (runIsolatedBatch). Child
// processes and workers load this directory from dist/ (JavaScript) or from the TypeScript sources
// (transpiled on load, as under jest, with the transpiled text cached on disk so that later
// processes skip TypeScript).
import { createHash } from 'crypto';
import * as os from 'os';
import * as path from 'path';
import { ProcessPool } from '../runtime/process-pool';
import type { FuzzCase, Outcome } from './evaluate';

const TS_PATH = require.resolve('typescript');
const TS_OPTIONS = '{ module: 1 /* CommonJS */, target: 9 /* ES2022 */, esModuleInterop: true }';
// Transpiled files are kept under the temp directory, keyed by the hash of their text (and of the
// TypeScript version and options, in the directory name): a worker or child process started after
// the first one compiles nothing, and does not even load TypeScript. A changed file has a new key.
const TS_KEY = createHash('sha1')
  .update(`${require('typescript/package.json').version} ${TS_OPTIONS}`)
  .digest('hex');
const TS_CACHE = path.join(os.tmpdir(), `neural-compiler-ts-${TS_KEY.slice(0, 12)}`);

/** Makes `require` of .ts files work in a plain node process (used by child processes and workers). */
export const TS_HOOK = `
{
  const fs = require('fs'), path = require('path'), crypto = require('crypto');
  const dir = ${JSON.stringify(TS_CACHE)};
  let ts;
  require.extensions['.ts'] = (m, file) => {
    const text = fs.readFileSync(file, 'utf8');
    const cached = path.join(dir, crypto.createHash('sha1').update(text).digest('hex') + '.js');
    let out;
    try {
      out = fs.readFileSync(cached, 'utf8');
    } catch {
      ts ??= require(${JSON.stringify(TS_PATH)});
      out = ts.transpileModule(text, { compilerOptions: ${TS_OPTIONS} }).outputText;
      try {
        fs.mkdirSync(dir, { recursive: true });
        const partial = cached + '.' + process.pid + '.' + Math.random().toString(36).slice(2);
        fs.writeFileSync(partial, out);
        fs.renameSync(partial, cached); // atomic: a reader sees the whole file or none
      } catch {}
    }
    m._compile(out, file);
  };
}
`;

/** Code for a fresh process or worker that makes this directory's modules loadable. */
export const loader = (): string => (__filename.endsWith('.ts') ? TS_HOOK : '');

/** What a batch replay says about one case: its outcome, and which worker process ran it. */
export interface BatchOutcome extends Outcome {
  /** The worker process that ran it (0, 1, ...; a crash or hang replaces the worker with the next number). */
  worker: number;
}

/**
 * Many cases in a pool of at most `workers` child processes (src/runtime/process-pool.ts), each of
 * which loads (and, from TypeScript, transpiles) the evaluator once and then takes cases one at a
 * time. Isolation where it matters is kept: a case that kills its process (a crash) or outlives
 * `timeLimitMs` (a hang, the process is killed) is reported as that case failing, and a fresh process
 * takes the remaining cases; if a process dies loading the evaluator, so would every one, and every
 * case left is reported so. The cost grows with the number of cases, not with process starts; the
 * minimiser's batches of one give each attempt a fresh process. Outcomes are in case order.
 * `evaluator` is the module whose `evaluate` runs a case (tests give one that crashes on purpose).
 */
export async function runIsolatedBatch(
  cases: FuzzCase[],
  timeLimitMs: number,
  workers = 2,
  evaluator = path.join(__dirname, 'evaluate'),
): Promise<BatchOutcome[]> {
  if (cases.length === 0) return [];
  const size = Math.max(1, Math.min(workers, cases.length));
  const pool = new ProcessPool<FuzzCase, Outcome>(path.join(__dirname, 'worker'), size, timeLimitMs, [evaluator]);
  try {
    return await Promise.all(
      cases.map(async (c) => {
        const a = await pool.run(c);
        return { ...(a.ok ? a.reply : { ok: false, kind: a.kind, detail: a.detail }), worker: a.child! };
      }),
    );
  } finally {
    pool.close();
  }
}
