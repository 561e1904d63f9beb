// Runs one fuzz case and says whether it passed. For source from generators 1 and 2 the contract is
// "a module or diagnostics": CompileError is fine, any other exception is a failure. For typed
// programs it is agreement with the reference (float64) and with float64 (float32).
import { compile } from '../api';
import { CompileError } from '../diagnostics';
import type { Nested } from '../runtime/host-data';
import { Rng } from './random';
import { differences, float32Differences, tierDifferences, type Case } from './differential';
import { bytesCase } from './bytes';
import { mutateCase } from './mutate';
import { typedCase } from './typed';

export type Generator = 'bytes' | 'mutate' | 'typed';
export const GENERATORS: Generator[] = ['bytes', 'mutate', 'typed'];

/** Everything needed to replay a case: what the regression files hold. */
export interface FuzzCase {
  generator: Generator;
  source: string;
  /** Typed cases: inputs for one sample and for a batch. */
  unbatched?: Case;
  batched?: Case;
  /** Mutated and byte cases: the seed for input values of the shapes tried at run time. */
  inputSeed?: number;
  /** Typed cases: the primitives and forms the program uses (for coverage reports). */
  covers?: string[];
}

export interface Outcome {
  ok: boolean;
  /** module | diagnostics | agree on success; error | mismatch | tier (the small-program tier differs from libtorch) | float32 | hang | crash on failure. */
  kind: string;
  detail: string;
  /** For reports: float32 elements compared and skipped (typed cases). */
  float32?: { compared: number; skipped: number };
  /** For reports: float64 elements that differed from the reference where float64 itself is unsure. */
  float64Unstable?: number;
  /** Typed cases: how many of its two runs (unbatched, batched) the small-program tier took too. */
  tierRuns?: number;
}

/** Iterations and recursion depth for fuzzed programs: small, so a runaway loop is an error, not a hang. */
export const FUZZ_LIMIT = 1000;
/** Relative tolerances (of max(1, |reference|)): native float64 against the reference, float32 against float64. */
export const FLOAT64_TOLERANCE = 1e-9;
export const FLOAT32_TOLERANCE = 1e-3;

export function generate(generator: Generator, seed: number): FuzzCase {
  if (generator === 'bytes') return { generator, source: bytesCase(seed), inputSeed: seed };
  if (generator === 'mutate') return { generator, source: mutateCase(seed).source, inputSeed: seed };
  const t = typedCase(seed);
  return {
    generator,
    source: t.source,
    unbatched: t.unbatched,
    batched: t.batched,
    covers: [...t.primitives, ...t.forms],
  };
}

export function evaluate(c: FuzzCase): Outcome {
  try {
    return c.generator === 'typed' ? differential(c) : moduleOrDiagnostics(c);
  } catch (e) {
    return { ok: false, kind: 'error', detail: describeError(e) };
  }
}

/** Not `instanceof Error`: errors from native code or another realm (jest's sandbox) fail that test. */
const describeError = (e: unknown): string =>
  e !== null && typeof e === 'object' && 'message' in e
    ? `${e.constructor?.name ?? 'Error'}: ${String(e.message)}`
    : `non-Error thrown: ${String(e)}`;

/** Shapes tried for the inputs of a program that compiled: the ones the examples use, and batches of them. */
const SHAPES: number[][] = [[], [], [3], [10], [3, 3], [10, 10]];

function moduleOrDiagnostics(c: FuzzCase): Outcome {
  let module;
  try {
    module = compile(c.source, { limit: FUZZ_LIMIT });
  } catch (e) {
    if (e instanceof CompileError) return { ok: true, kind: 'diagnostics', detail: e.diagnostics[0]?.code ?? '' };
    throw e;
  }
  // It compiled: run it once forward and backward, where runtime errors must be diagnostics too.
  const rng = new Rng(c.inputSeed ?? 0);
  const batch = rng.chance(0.3) ? rng.int(1, 3) : 0;
  const value = (shape: number[]): Nested =>
    shape.length === 0 ? rng.uniform(-3, 3) : Array.from({ length: shape[0] }, () => value(shape.slice(1)));
  const inputs = Object.fromEntries(
    module.program.inputs.map((name) => [name, value(batch ? [batch, ...rng.pick(SHAPES)] : rng.pick(SHAPES))]),
  );
  try {
    const out = module.forward(inputs, { batch: batch > 0 });
    const total = out.sum();
    if (total.requiresGrad) total.backward();
    out.dispose();
    total.dispose();
    return { ok: true, kind: 'module', detail: '' };
  } catch (e) {
    if (e instanceof CompileError) return { ok: true, kind: 'module', detail: `runtime ${e.diagnostics[0]?.code}` };
    throw e;
  } finally {
    module.dispose();
  }
}

function differential(c: FuzzCase): Outcome {
  let float64Unstable = 0;
  let tierRuns = 0;
  for (const [name, k] of [
    ['unbatched', c.unbatched!],
    ['batched', c.batched!],
  ] as const) {
    const d = differences(c.source, k, FLOAT64_TOLERANCE, FUZZ_LIMIT);
    if (d.problems.length > 0) return { ok: false, kind: 'mismatch', detail: `${name}: ${d.problems.join('; ')}` };
    float64Unstable += d.unstable;
    const tier = tierDifferences(c.source, k, FLOAT64_TOLERANCE, FUZZ_LIMIT);
    if (tier && tier.length > 0) return { ok: false, kind: 'tier', detail: `${name}: ${tier.join('; ')}` };
    if (tier) tierRuns++;
  }
  const f32 = float32Differences(c.source, c.batched!, FLOAT32_TOLERANCE, 1e-6, FUZZ_LIMIT);
  const float32 = { compared: f32.compared, skipped: f32.skipped };
  if (f32.problems.length > 0)
    return { ok: false, kind: 'float32', detail: f32.problems.join('; '), float32, float64Unstable, tierRuns };
  return { ok: true, kind: 'agree', detail: '', float32, float64Unstable, tierRuns };
}
