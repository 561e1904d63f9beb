// Every (program, inputs, result) case of the Python reference's own test suite, run here: the README
// promises that its programs run on this compiler with the same results. The cases were recorded
// from its pytest run (see tests/fixtures/README.md); the reference computes in float32, so values
// are compared within float32 rounding.
import { readFileSync } from 'fs';
import { join } from 'path';
import { run } from '../src/api';
import { CompileError } from '../src/diagnostics';

type Value = number | string | { shape: number[]; data: (number | string)[] };
interface Case {
  test: string;
  source: string;
  inputs: Record<string, Value>;
  batch?: boolean;
  /** The reference's max_iter or max_depth where its test set one: our `limit`. */
  limit?: number;
  result?: Value;
  error?: string;
}

const CASES: Case[] = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'reference-suite.json'), 'utf8'));

const number = (v: number | string): number => (typeof v === 'string' ? Number(v) : v);
const input = (v: Value) =>
  typeof v === 'object' ? { data: Float64Array.from(v.data, number), shape: v.shape } : number(v);
const flat = (v: Value): number[] => (typeof v === 'object' ? v.data.map(number) : [number(v)]);
const flatten = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flatten) : [v as number]);

/** Equal as float32 results are: NaN to NaN, infinities exactly, finite values within 2e-6 relative. */
function sameValue(ours: number, theirs: number): boolean {
  if (Number.isNaN(theirs) || !Number.isFinite(theirs)) return Object.is(ours, theirs) || ours === theirs;
  return Math.abs(ours - theirs) <= 2e-6 * Math.max(1, Math.abs(theirs));
}

test('the recorded cases cover the reference suite', () => {
  expect(CASES.length).toBeGreaterThan(400);
});

const evaluate = (c: Case) =>
  run(c.source, {
    inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, input(v)])),
    batch: c.batch ?? false,
    dtype: 'float64',
    ...(c.limit ? { limit: c.limit } : {}),
  });

/** The reference's refusals that are limits of its engine, not errors in the program: these run here. */
const LIFTED = [/Batched execution does not support general recursion/];

const title = (c: Case) => c.source.replace(/\s+/g, ' ').slice(0, 80);
const refused = CASES.filter((c) => c.error !== undefined && !LIFTED.some((r) => r.test(c.error!)));

describe.each(CASES.filter((c) => c.result !== undefined).map((c) => [c.test, c] as const))('%s', (_, c) => {
  test(title(c), () => {
    const out = evaluate(c);
    const theirs = flat(c.result!);
    const ours = flatten(out.value);
    expect(ours.length).toBe(theirs.length);
    const wrong = ours.flatMap((v, i) => (sameValue(v, theirs[i]) ? [] : [`[${i}] ${v} vs ${theirs[i]}`]));
    expect(wrong).toEqual([]);
  });
});

describe('what the reference refuses, this compiler refuses too', () => {
  test.each(refused.map((c) => [c.test, c] as const))('%s', (_, c) => {
    // A diagnostic at a place in the source, not a crash of some other kind.
    expect(() => evaluate(c)).toThrow(CompileError);
    expect(() => evaluate(c)).toThrow(/<input>:\d+:\d+: error\[E\d{4}\]/);
  });
});

test('general recursion over a batch, which the reference refuses, runs here', () => {
  const c = CASES.find((c) => c.error !== undefined && LIFTED[0].test(c.error))!;
  expect(evaluate(c).value).toEqual([120]);
});
