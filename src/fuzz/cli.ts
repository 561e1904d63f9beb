// `npm run fuzz -- --count N --seed S [--generator bytes|mutate|typed|all] [--time-limit MS] [--jobs J]
// [--no-save]`: runs N cases (split evenly over the generators for `all`) in a pool of child
// processes, prints a summary, minimises each distinct failure and saves it as a regression test.
// `--api` instead runs N child processes of API_CALLS garbage calls at the API each (src/fuzz/api.ts).
import * as os from 'os';
import * as path from 'path';
import { ProcessPool } from '../runtime/process-pool';
import { apiFuzzIsolated } from './api';
import { generate, GENERATORS, type FuzzCase, type Generator, type Outcome } from './evaluate';
import { runIsolatedBatch } from './isolate';
import { minimise, signature } from './minimise';
import { caseSeed } from './random';
import { saveRegression } from './regressions';

export interface FuzzOptions {
  count: number;
  seed: number;
  generators: Generator[];
  timeLimitMs: number;
  jobs: number;
  save: boolean;
  api: boolean;
}

/** Calls per child process of an `--api` run. */
const API_CALLS = 2000;

/** Attempts per distinct failure (each a fresh process, about a quarter of a second). */
const MINIMISE_BUDGET = 300;

const USAGE =
  'usage: npm run fuzz -- --count N --seed S [--generator bytes|mutate|typed|all | --api] [--time-limit MS] [--jobs J] [--no-save]';

export function parseArgs(argv: string[]): FuzzOptions {
  const o: FuzzOptions = {
    count: 1000,
    seed: 1,
    generators: GENERATORS,
    timeLimitMs: 10000,
    jobs: Math.max(1, os.cpus().length),
    save: true,
    api: false,
  };
  const whole = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`${flag} takes a whole number >= ${min}, got ${v ?? 'nothing'}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--count') ((o.count = whole(flag, value, 1)), i++);
    else if (flag === '--seed') ((o.seed = whole(flag, value, 0)), i++);
    else if (flag === '--time-limit') ((o.timeLimitMs = whole(flag, value, 1)), i++);
    else if (flag === '--jobs') ((o.jobs = whole(flag, value, 1)), i++);
    else if (flag === '--no-save') o.save = false;
    else if (flag === '--api') o.api = true;
    else if (flag === '--generator') {
      if (value !== 'all' && !GENERATORS.includes(value as Generator))
        throw new Error(`--generator takes bytes, mutate, typed or all, got ${value ?? 'nothing'}\n${USAGE}`);
      o.generators = value === 'all' ? GENERATORS : [value as Generator];
      i++;
    } else throw new Error(`unknown argument ${flag}\n${USAGE}`);
  }
  return o;
}

interface Tally {
  cases: number;
  kinds: Record<string, number>;
  maxMs: number;
  float32: { compared: number; skipped: number };
  float64Unstable: number;
  /** Runs the small-program tier took as a third path. */
  tierRuns: number;
  covered: Set<string>;
}

/** A case's outcome and how long it took. */
export interface Timed extends Outcome {
  ms: number;
}

export interface Failure {
  index: number;
  fuzzCase: FuzzCase;
  outcome: Timed;
}

/** Case i of a run: its generator (round robin) and its own seed. */
export const caseAt = (o: FuzzOptions, i: number): FuzzCase =>
  generate(o.generators[i % o.generators.length], caseSeed(o.seed, i));

export async function fuzz(
  o: FuzzOptions,
  log: (line: string) => void,
): Promise<{ tallies: Map<Generator, Tally>; failures: Failure[] }> {
  const tallies = new Map(
    o.generators.map((g) => [
      g,
      {
        cases: 0,
        kinds: {},
        maxMs: 0,
        float32: { compared: 0, skipped: 0 },
        float64Unstable: 0,
        tierRuns: 0,
        covered: new Set<string>(),
      } as Tally,
    ]),
  );
  const failures: Failure[] = [];
  const pool = new ProcessPool<FuzzCase, Outcome>(path.join(__dirname, 'worker'), o.jobs, o.timeLimitMs);
  let done = 0;
  const started = Date.now();
  const one = async (i: number) => {
    const fuzzCase = caseAt(o, i);
    const answer = await pool.run(fuzzCase);
    const outcome: Timed = answer.ok ? { ...answer.reply, ms: answer.ms } : answer;
    const t = tallies.get(fuzzCase.generator)!;
    t.cases++;
    t.kinds[outcome.kind] = (t.kinds[outcome.kind] ?? 0) + 1;
    t.maxMs = Math.max(t.maxMs, outcome.ms);
    if (outcome.float32)
      ((t.float32.compared += outcome.float32.compared), (t.float32.skipped += outcome.float32.skipped));
    t.float64Unstable += outcome.float64Unstable ?? 0;
    t.tierRuns += outcome.tierRuns ?? 0;
    fuzzCase.covers?.forEach((name) => t.covered.add(name));
    if (!outcome.ok) {
      failures.push({ index: i, fuzzCase, outcome });
      log(`FAIL ${outcome.kind} (case ${i}, ${fuzzCase.generator}): ${outcome.detail.split('\n')[0].slice(0, 200)}`);
    }
    if (++done % Math.max(1, Math.floor(o.count / 20)) === 0)
      log(`${done}/${o.count} cases, ${failures.length} failures, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: o.jobs }, async () => {
      while (next < o.count) await one(next++);
    }),
  );
  pool.close();
  return { tallies, failures };
}

/** Minimises one failure per signature and saves it; returns the lines to print. */
export async function triage(o: FuzzOptions, failures: Failure[]): Promise<string[]> {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const f of failures) {
    const sig = signature(f.outcome);
    if (seen.has(sig)) continue;
    seen.add(sig);
    // Every attempt in a fresh process (a batch of one): a smaller program can crash where the original did not.
    const replay = async (c: FuzzCase) => (await runIsolatedBatch([c], o.timeLimitMs, 1))[0];
    const m = await minimise(f.fuzzCase, f.outcome, replay, MINIMISE_BUDGET);
    const file = o.save ? saveRegression(m.fuzzCase, m.outcome, sig, `seed ${o.seed}, case ${f.index}`) : undefined;
    lines.push(
      `FAIL ${f.outcome.kind} (case ${f.index}, ${f.fuzzCase.generator}) ${file ? `saved as tests/fuzz-regressions/${file}` : '(already saved or --no-save)'}`,
      `  minimised: ${JSON.stringify(m.fuzzCase.source)}`,
      `  ${m.outcome.detail.split('\n')[0].slice(0, 300)}`,
    );
  }
  return lines;
}

export function summary(tallies: Map<Generator, Tally>): string[] {
  const lines = ['| generator | cases | outcomes | slowest case (ms) |', '|---|---|---|---|'];
  for (const [g, t] of tallies)
    lines.push(
      `| ${g} | ${t.cases} | ${Object.entries(t.kinds)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')} | ${t.maxMs.toFixed(0)} |`,
    );
  const typed = tallies.get('typed');
  if (typed)
    lines.push(
      `typed: float32 elements compared ${typed.float32.compared}, skipped as ill-conditioned or non-finite ${typed.float32.skipped}; ` +
        `float64 elements that differed where float64 itself is unsure (excused) ${typed.float64Unstable}; runs also on the small-program tier ${typed.tierRuns}; primitives and forms covered: ${typed.covered.size}`,
    );
  return lines;
}

export async function main(argv: string[]): Promise<number> {
  let o: FuzzOptions;
  try {
    o = parseArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (o.api) return apiRuns(o);
  console.log(
    `fuzzing ${o.count} cases, seed ${o.seed}, generators ${o.generators.join(', ')}, ${o.jobs} processes, ${o.timeLimitMs} ms per case`,
  );
  const { tallies, failures } = await fuzz(o, (l) => console.log(l));
  summary(tallies).forEach((l) => console.log(l));
  (await triage(o, failures)).forEach((l) => console.log(l));
  console.log(failures.length === 0 ? 'no failures' : `${failures.length} failing cases`);
  return failures.length === 0 ? 0 : 1;
}

/** `--api`: count child processes, one after another, each API_CALLS calls from its own seed. */
function apiRuns(o: FuzzOptions): number {
  console.log(`fuzzing the API: ${o.count} processes of ${API_CALLS} calls, seed ${o.seed}`);
  let failures = 0;
  for (let i = 0; i < o.count; i++) {
    const r = apiFuzzIsolated(caseSeed(o.seed, i), API_CALLS);
    if (!r.ok) (failures++, console.log(`FAIL ${r.detail}`));
  }
  console.log(failures === 0 ? `no failures in ${o.count * API_CALLS} calls` : `${failures} failing processes`);
  return failures === 0 ? 0 : 1;
}
