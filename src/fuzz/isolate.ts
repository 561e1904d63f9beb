// Fuzz cases in child processes, so that one that takes its process down is reported as failing:
// how the minimiser replays its attempts and how tests replay saved cases (runIsolatedBatch).
import * as path from 'path';
import { ProcessPool } from '../runtime/process-pool';
import type { FuzzCase, Outcome } from './evaluate';

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
