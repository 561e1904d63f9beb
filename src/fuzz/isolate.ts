// One case in a fresh process, synchronously: how the minimiser replays crashes and hangs, and how
// tests run cases that may take the process down; many cases in a few processes (runIsolatedBatch).
// Works from dist/ (JavaScript) and from the TypeScript sources (transpiled on load, as under jest,
// with the transpiled text cached on disk so that later processes skip TypeScript).
import { spawn, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as os from 'os';
import * as path from 'path';
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

/** What a batch replay says about one case: its outcome, and which worker process ran it. */
export interface BatchOutcome extends Outcome {
  /** The worker process that ran it (0, 1, ...; a crash or hang replaces the worker with the next number). */
  worker: number;
}

/**
 * Many cases in at most `workers` child processes, each of which loads (and, from TypeScript,
 * transpiles) the evaluator once and then takes cases one at a time over IPC. Isolation where it
 * matters is kept: a case that kills its process (a crash) or outlives `timeLimitMs` (a hang, the
 * process is killed) is reported as that case failing, and a fresh process takes the remaining cases.
 * So the cost grows with the number of cases, not with process starts. Outcomes are in case order.
 * `evaluator` is the module whose `evaluate` runs a case (tests give one that crashes on purpose).
 */
export function runIsolatedBatch(
  cases: FuzzCase[],
  timeLimitMs: number,
  workers = 2,
  evaluator = path.join(__dirname, 'evaluate'),
): Promise<BatchOutcome[]> {
  const script = `${loader()}
const { evaluate } = require(${JSON.stringify(evaluator)});
process.on('message', (m) => process.send({ index: m.index, outcome: evaluate(m.fuzzCase) }));
process.send({ ready: true });`;
  const outcomes: BatchOutcome[] = new Array(cases.length);
  let next = 0;
  let spawned = 0;
  return new Promise((resolve) => {
    let live = 0;
    const start = (): void => {
      if (next >= cases.length) return;
      const id = spawned++;
      live++;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      let stderr = '';
      let current = -1;
      let timer: NodeJS.Timeout | undefined;
      let hung = false;
      let ready = false;
      child.on('error', () => undefined); // a failed spawn also exits, below
      child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
      const firstLines = () => stderr.trim().split('\n').slice(0, 5).join(' | ');
      const give = (): void => {
        if (next >= cases.length) {
          child.disconnect();
          return;
        }
        current = next++;
        timer = setTimeout(() => {
          hung = true;
          child.kill('SIGKILL');
        }, timeLimitMs);
        child.send({ index: current, fuzzCase: cases[current] });
      };
      child.on('message', (m: { ready?: true; index?: number; outcome?: Outcome }) => {
        if (m.ready) return ((ready = true), give());
        if (m.index !== current) return;
        clearTimeout(timer);
        outcomes[current] = { ...m.outcome!, worker: id };
        current = -1;
        give();
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        live--;
        if (current >= 0) {
          outcomes[current] = hung
            ? { ok: false, kind: 'hang', detail: `no result within ${timeLimitMs} ms`, worker: id }
            : {
                ok: false,
                kind: 'crash',
                detail: `child exited (code ${code}, signal ${signal}): ${firstLines()}`,
                worker: id,
              };
          start(); // a fresh process for the remaining cases
        } else if (!ready) {
          // It died loading the evaluator: every case would, so say so for all that are left.
          const detail = `the replay process could not start (code ${code}, signal ${signal}): ${firstLines()}`;
          for (; next < cases.length; next++) outcomes[next] = { ok: false, kind: 'crash', detail, worker: id };
        }
        if (live === 0 && next >= cases.length) resolve(outcomes);
      });
    };
    const n = Math.max(1, Math.min(workers, cases.length));
    if (cases.length === 0) resolve(outcomes);
    for (let i = 0; i < n; i++) start();
  });
}
