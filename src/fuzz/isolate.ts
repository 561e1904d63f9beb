// One case in a fresh process, synchronously: how the minimiser replays crashes and hangs, and how
// tests run cases that may take the process down. Works from dist/ (JavaScript) and from the
// TypeScript sources (transpiled on load, as under jest).
import { spawnSync } from 'child_process';
import * as path from 'path';
import type { FuzzCase, Outcome } from './evaluate';

/** Makes `require` of .ts files work in a plain node process (used by child processes and workers). */
export const TS_HOOK = `
const ts = require(${JSON.stringify(require.resolve('typescript'))});
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(require('fs').readFileSync(file, 'utf8'),
  { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText, file);
`;

/** Code for a fresh process or worker that makes this directory's modules loadable. */
export const loader = (): string => (__filename.endsWith('.ts') ? TS_HOOK : '');

export function runIsolated(fuzzCase: FuzzCase, timeLimitMs: number): Outcome {
  const script = `${loader()}
const { evaluate } = require(${JSON.stringify(path.join(__dirname, 'evaluate'))});
let input = ''; process.stdin.on('data', (d) => (input += d)).on('end', () => process.stdout.write(JSON.stringify(evaluate(JSON.parse(input)))));`;
  const r = spawnSync(process.execPath, ['-e', script], {
    input: JSON.stringify(fuzzCase),
    timeout: timeLimitMs,
    maxBuffer: 1 << 26,
    encoding: 'utf8',
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
    return { ok: false, kind: 'hang', detail: `no result within ${timeLimitMs} ms` };
  if (r.status !== 0 || !r.stdout)
    return {
      ok: false,
      kind: 'crash',
      detail: `child exited (code ${r.status}, signal ${r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(0, 5).join(' | ')}`,
    };
  return JSON.parse(r.stdout) as Outcome;
}
