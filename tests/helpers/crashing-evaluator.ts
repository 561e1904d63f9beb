// A stand-in for src/fuzz/evaluate in child processes, for testing the batch replay's isolation: the
// source 'abort' kills the process, 'hang' never returns, anything else passes with the source as
// its detail and the process id (so a test can see which cases shared a process).
import type { FuzzCase, Outcome } from '../../src/fuzz/evaluate';

export function evaluate(c: FuzzCase): Outcome {
  if (c.source === 'abort') process.abort();
  if (c.source === 'hang') for (;;);
  return { ok: true, kind: 'module', detail: `${c.source} in ${process.pid}` };
}
