// Native compiled path against the float64 reference interpreter: values and gradients of one program
// on the same inputs, compared with a relative tolerance (NaN matches NaN).
import { parseProgram } from '../../src/frontend';
import { evaluateReference } from '../../src/reference';
import { run } from '../../src/compiler/module';
import type { Nested } from '../../src/runtime/host-data';

export interface Case {
  inputs: Record<string, Nested>;
  params?: Record<string, Nested>;
  /** Every input carries a leading batch dimension. */
  batch?: boolean;
}

const flat = (x: Nested): number[] => (typeof x === 'number' ? [x] : x.flatMap(flat));

/** Largest relative difference, or Infinity where one side is NaN/inf and the other is not the same. */
export function mismatch(native: Nested, reference: Nested): number {
  const a = flat(native);
  const b = flat(reference);
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  a.forEach((x, i) => {
    const y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y) || !Number.isFinite(x) || !Number.isFinite(y)) {
      if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) worst = Infinity;
      return;
    }
    worst = Math.max(worst, Math.abs(x - y) / Math.max(1, Math.abs(y)));
  });
  return worst;
}

/** Runs both sides; returns a description of every difference above `tolerance` (empty when they agree). */
export function differences(source: string, c: Case, tolerance = 1e-12): string[] {
  const native = run(source, { inputs: c.inputs, params: c.params ?? {}, batch: c.batch, grad: true, dtype: 'float64' });
  const inputNames = Object.keys(c.inputs);
  const parsed = parseProgram(source, { inputs: inputNames, params: Object.keys(c.params ?? {}) });
  if (!parsed.program) throw new Error(`reference could not parse: ${parsed.diagnostics.map((d) => d.message).join('; ')}`);
  const reference = evaluateReference(parsed.program, { ...c.inputs, ...c.params }, { batched: c.batch ? inputNames : [] });
  const out: string[] = [];
  const check = (what: string, a: Nested | undefined, b: Nested) => {
    if (a === undefined) out.push(`${what}: missing on the native side`);
    else if (mismatch(a, b) > tolerance) out.push(`${what}: native ${JSON.stringify(a)} vs reference ${JSON.stringify(b)}`);
  };
  check('value', native.value, reference.value);
  for (const name of Object.keys(reference.grad)) check(`grad ${name}`, native.grad?.[name], reference.grad[name]);
  return out;
}

/** A small seeded generator (mulberry32), so every run draws the same inputs. */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
