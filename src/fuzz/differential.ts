// Native compiled path against the float64 reference interpreter: values and gradients of one program
// on the same inputs, compared with a relative tolerance (NaN matches NaN). Shared by the
// differential tests and the fuzzer.
import { parseProgram } from '../frontend';
import { evaluateReference, type Mode } from '../reference';
import { compile, run, type RunResult } from '../api';
import type { Nested } from '../runtime/host-data';

export interface Case {
  inputs: Record<string, Nested>;
  params?: Record<string, Nested>;
  /** Every input carries a leading batch dimension (true), or the listed ones do. */
  batch?: boolean | string[];
}

const flat = (x: Nested): number[] => (typeof x === 'number' ? [x] : x.flatMap(flat));

/** |a - b| relative to max(1, |b|): relative for large values, absolute near zero. */
const relative = (a: number, b: number): number => Math.abs(a - b) / Math.max(1, Math.abs(b));

/** Relative difference of two elements, or Infinity where one is NaN/inf and the other is not the same. */
function elementMismatch(x: number, y: number): number {
  if (Number.isFinite(x) && Number.isFinite(y)) return relative(x, y);
  return Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)) ? 0 : Infinity;
}

/** Largest relative difference, or Infinity where one side is NaN/inf and the other is not the same. */
export function mismatch(native: Nested, reference: Nested): number {
  const a = flat(native);
  const b = flat(reference);
  if (a.length !== b.length) return Infinity;
  return a.reduce((worst, x, i) => Math.max(worst, elementMismatch(x, b[i])), 0);
}

// On libtorch (tier: false): the tier, forward's default on small batches, is the third path below.
const runGrad = (source: string, c: Case, dtype: 'float32' | 'float64', limit?: number): RunResult =>
  run(source, { inputs: c.inputs, params: c.params ?? {}, batch: c.batch, grad: true, dtype, limit, tier: false });

export interface Float64Check {
  /** A description of every difference above the tolerance (empty when the sides agree). */
  problems: string[];
  /** Elements that differ but that no float64 computation is sure of, so not counted as problems. */
  unstable: number;
}

/** Runs both sides and compares values and gradients within `tolerance`. */
export function differences(source: string, c: Case, tolerance = 1e-12, limit?: number): Float64Check {
  const native = runGrad(source, c, 'float64', limit);
  const reference = runReference(source, c, limit);
  // Only where they differ, the reference is run again: with the other choice where the semantics
  // leave one (the sign of a zero from a min or max of +0 and -0), which native may take element by
  // element; and with every library function's result one float64 step up and down, which tells an
  // element no float64 computation is sure of (a floor of a sigmoid that lands on a whole number).
  let others: { other: Reference; nudged: Reference[] } | undefined;
  const more = () =>
    (others ??= {
      other: runReference(source, c, limit, { zeroTies: 'first' }),
      nudged: (['up', 'down'] as const).map((d) => runReference(source, c, limit, { float64Nudge: d })),
    });
  const out: string[] = [];
  let unstable = 0;
  const check = (what: string, a: Nested | undefined, pick: (r: Reference) => Nested) => {
    if (a === undefined) return void out.push(`${what}: missing on the native side`);
    const [x, ref] = [flat(a), flat(pick(reference))];
    const describe = `${what}: native ${JSON.stringify(a)} vs reference ${JSON.stringify(pick(reference))}`;
    if (x.length !== ref.length) return void out.push(describe);
    if (mismatch(a, pick(reference)) <= tolerance) return;
    const { other, nudged } = more();
    const alt = flat(pick(other));
    const witnesses = nudged.map((r) => flat(pick(r)));
    let real = false;
    x.forEach((xi, i) => {
      if (Math.min(elementMismatch(xi, ref[i]), elementMismatch(xi, alt[i])) <= tolerance) return;
      if (witnesses.every((w) => elementMismatch(w[i], ref[i]) <= tolerance / 10)) real = true;
      else unstable++;
    });
    if (real) out.push(describe);
  };
  check('value', native.value, (r) => r.value);
  for (const name of Object.keys(reference.grad)) check(`grad ${name}`, native.grad?.[name], (r) => r.grad[name]);
  return { problems: out, unstable };
}

/**
 * The third path: where the small-program tier runs the program (inputs and params of any shape the
 * tier takes, each input's per-sample shape declared from its value), module.valueAndGrad against
 * the libtorch path's value and gradients. Undefined when the tier does not take the program.
 */
export function tierDifferences(source: string, c: Case, tolerance: number, limit?: number): string[] | undefined {
  if (Array.isArray(c.batch)) return undefined; // the tier's batches are all or nothing here
  const values = Object.values(c.inputs);
  if (c.batch && !values.every(Array.isArray)) return undefined;
  const shapeOf = (v: Nested): number[] => (Array.isArray(v) ? [v.length, ...shapeOf(v[0])] : []);
  const shapes = values.map((v) => shapeOf(v).slice(c.batch ? 1 : 0));
  const inputs = Object.keys(c.inputs);
  const module = compile(source, {
    inputs: Object.fromEntries(inputs.map((n, i) => [n, shapes[i].length > 0 ? shapes[i] : 'scalar'])),
    params: c.params ?? {},
    dtype: 'float64',
    limit,
  });
  try {
    if (
      !module.tier(
        inputs.map(() => c.batch === true),
        shapes,
      )
    )
      return undefined;
    const tier = module.valueAndGrad(c.inputs as Record<string, number | Nested[]>, { batch: c.batch, wrt: inputs });
    const native = runGrad(source, c, 'float64', limit);
    const asNested = (v: number | Float32Array | Float64Array): Nested => (typeof v === 'number' ? v : Array.from(v));
    const out: string[] = [];
    const check = (what: string, a: Nested, b: Nested | undefined) => {
      if (b === undefined || mismatch(a, b) > tolerance)
        out.push(`${what}: tier ${JSON.stringify(a)} vs libtorch ${JSON.stringify(b)}`);
    };
    check('value', asNested(tier.value), native.value);
    for (const [name, g] of Object.entries(tier.grads)) check(`grad ${name}`, asNested(g), native.grad?.[name]);
    return out;
  } finally {
    module.dispose();
  }
}

type Reference = Required<Pick<RunResult, 'value' | 'grad'>>;

/** The reference interpreter's value and gradients, laid out as a native run gives them. */
function runReference(source: string, c: Case, limit?: number, mode: Partial<Mode> = {}): Reference {
  const inputNames = Object.keys(c.inputs);
  const parsed = parseProgram(source, { inputs: inputNames, params: Object.keys(c.params ?? {}) });
  if (!parsed.program)
    throw new Error(`reference could not parse: ${parsed.diagnostics.map((d) => d.message).join('; ')}`);
  const batched = Array.isArray(c.batch) ? c.batch : c.batch ? inputNames : [];
  const used = batched.filter((n) => parsed.program!.inputs.includes(n));
  const reference = evaluateReference(parsed.program, { ...c.inputs, ...c.params }, { batched: used, limit, mode });
  // With a batch in, native gives a batch out even when the program reads no input; the reference,
  // told of no batched input then, gives one value: it stands for every sample, so a shared
  // parameter's summed gradient is that many times the reference's.
  const first = c.batch ? Object.values(c.inputs).find(Array.isArray) : undefined;
  const copies = c.batch && used.length === 0 && first ? first.length : 0;
  if (!copies) return reference;
  const grad = Object.fromEntries(
    Object.entries(reference.grad).map(([name, g]) => [
      name,
      name in (c.params ?? {}) ? scaleNested(g, copies, true) : g,
    ]),
  );
  return { value: Array.from({ length: copies }, () => reference.value), grad };
}

/** Every number in a case rounded to float32, so both dtypes start from the same inputs. */
const toFloat32 = (x: Nested): Nested => (typeof x === 'number' ? Math.fround(x) : x.map(toFloat32));
const mapCase = (c: Case, f: (x: Nested) => Nested): Case => ({
  ...c,
  inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, f(v)])),
  params: Object.fromEntries(Object.entries(c.params ?? {}).map(([k, v]) => [k, f(v)])),
});

export interface Float32Check {
  /** Elements compared (finite and well-conditioned in float64). */
  compared: number;
  /** Elements skipped: non-finite, or ill-conditioned for float32 (see float32Differences). */
  skipped: number;
  problems: string[];
}

/**
 * float32 against float64 on float32-rounded inputs, values and gradients, within `tolerance`
 * (relative to max(1, |x|)). Only elements that float32 can compute stably are compared, judged two
 * ways, each allowed to move an element by a tenth of the tolerance: inputs nudged by a few float32
 * ulps (`nudge`, relative) up and down (the problem's conditioning), and the reference interpreter
 * rounding every step to float32, to nearest, up and down (the computation's: constants on a floor's
 * step, 1 - tanh^2 cancelling at saturation, a kernel rounding in another order).
 */
export function float32Differences(
  source: string,
  c: Case,
  tolerance: number,
  nudge = 1e-6,
  limit?: number,
): Float32Check {
  const base = mapCase(c, toFloat32);
  const f64 = runGrad(source, base, 'float64', limit);
  const f32 = runGrad(source, base, 'float32', limit);
  const witnesses: Pick<RunResult, 'value' | 'grad'>[] = [1 + nudge, 1 - nudge].map((k) =>
    runGrad(
      source,
      mapCase(base, (x) => scaleNested(x, k)),
      'float64',
      limit,
    ),
  );
  for (const direction of ['nearest', 'up', 'down'] as const)
    witnesses.push(runReference(source, base, limit, { float32Rounding: direction }));
  const result: Float32Check = { compared: 0, skipped: 0, problems: [] };
  const compare = (what: string, pick: (r: Pick<RunResult, 'value' | 'grad'>) => Nested | undefined) => {
    const [a, b] = [pick(f32), pick(f64)].map((x) => (x === undefined ? [] : flat(x)));
    const moved = witnesses.map((r) => flat(pick(r) ?? []));
    b.forEach((y, i) => {
      const stable =
        Number.isFinite(y) && moved.every((m) => Number.isFinite(m[i]) && relative(m[i], y) <= tolerance / 10);
      if (!stable || Math.abs(y) > 1e30) return void result.skipped++;
      result.compared++;
      if (!(relative(a[i], y) <= tolerance)) result.problems.push(`${what}[${i}]: float32 ${a[i]} vs float64 ${y}`);
    });
  };
  compare('value', (r) => r.value);
  for (const name of Object.keys(f64.grad ?? {})) compare(`grad ${name}`, (r) => r.grad?.[name]);
  return result;
}

/** Multiplies every number by k; `all` false leaves whole numbers alone (counts and indices, for nudges). */
const scaleNested = (x: Nested, k: number, all = false): Nested =>
  typeof x === 'number' ? (all || !Number.isInteger(x) ? x * k : x) : x.map((v) => scaleNested(v, k, all));
