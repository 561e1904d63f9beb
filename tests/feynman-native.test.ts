// Fidelity of compiled modules: each Feynman example, compiled in float32 and run on a batch, against
// the same equation written by hand in eager libtorch (native/tools/feynman_reference.cpp, op for
// op as the program reads). Values and the gradients of their sum w.r.t. every param and input must
// have identical bits. That holds for all 15 because the compiled graphs (graphText()) run exactly
// the program's ops in the program's order: the only folded constant, (* 2 pi) in gaussian, is
// 2 * float32(pi) exactly, and (- 0 m) in barometric stays a subtraction. Bits catch a different
// association or op (checked by regrouping (* n (* kB T)) in the reference), not swapped operands of
// + and *, which IEEE arithmetic makes identical.
import { spawnSync } from 'child_process';
import { existsSync, readFileSync } from 'fs';
import path from 'path';
import { compile, tensor, tidy, type Tensor } from '../src';
import { random } from './helpers/differential';
import { float32Mismatches } from './helpers/float32-bits';

const ROOT = path.resolve(__dirname, '..');
const REFERENCE = path.join(ROOT, 'build', 'Release', 'feynman_reference');

// A plain install does not build native/tools; build them here once (the addon is already up to date).
beforeAll(() => {
  if (existsSync(REFERENCE)) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js'), '--tools', '--native-only'], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (r.status !== 0) throw new Error(`building native/tools failed:\n${r.stdout}${r.stderr}`);
}, 900_000);
// Odd and several vector widths long, so both the vectorised loops and their scalar tails run.
const N = 203;
const C = 2.99792458e8;

interface Equation {
  /** Initial param values, in the reference's order. */
  params: Record<string, number>;
  /** Uniform sampling range of each input, in the reference's order. */
  inputs: Record<string, [number, number]>;
  /** The physics in float64, to check that both sides compute the named equation. */
  formula: (v: Record<string, number>) => number;
}

// Physical magnitudes where float32 allows: values and gradients stay normal and finite.
const EQUATIONS: Record<string, Equation> = {
  planck: { params: { h: 6.62607015e-34 }, inputs: { f: [1e14, 1e15] }, formula: (v) => v.h * v.f },
  hooke: { params: { neg_k: -250 }, inputs: { x: [1e-3, 0.1] }, formula: (v) => v.neg_k * v.x },
  kinetic_energy: {
    params: { alpha: 0.5 },
    inputs: { m: [0.1, 10], v: [0.1, 100] },
    formula: (v) => v.alpha * v.m * v.v ** 2,
  },
  ideal_gas: {
    params: { kB: 1.380649e-23 },
    inputs: { n: [1e22, 1e24], T: [200, 400], V: [1e-3, 0.1] },
    formula: (v) => (v.n * v.kB * v.T) / v.V,
  },
  gravity: {
    params: { G: 6.674e-11 },
    inputs: { m1: [1e3, 1e6], m2: [1e3, 1e6], r: [1, 100] },
    formula: (v) => (v.G * v.m1 * v.m2) / v.r ** 2,
  },
  coulomb: {
    params: { ke: 8.9875517923e9 },
    inputs: { q1: [1e-9, 1e-6], q2: [1e-9, 1e-6], r: [0.01, 1] },
    formula: (v) => (v.ke * v.q1 * v.q2) / v.r ** 2,
  },
  efield_energy: { params: { coeff: 4.427e-12 }, inputs: { Ef: [1, 1e4] }, formula: (v) => v.coeff * v.Ef ** 2 },
  heat_conduction: {
    params: { kappa: 0.6 },
    inputs: { T1: [270, 300], T2: [300, 400], A: [0.01, 1], d: [1e-3, 0.1] },
    formula: (v) => (v.kappa * (v.T2 - v.T1) * v.A) / v.d,
  },
  speed_of_sound: {
    params: { gamma: 1.4 },
    inputs: { pr: [5e4, 2e5], rho: [0.5, 1.5] },
    formula: (v) => Math.sqrt((v.gamma * v.pr) / v.rho),
  },
  pendulum_period: {
    params: { two_pi: 2 * Math.PI, g: 9.81 },
    inputs: { L: [0.1, 10] },
    formula: (v) => v.two_pi * Math.sqrt(v.L / v.g),
  },
  lorentz_factor: {
    params: { c: C },
    inputs: { m0: [0.5, 2], v: [0.1 * C, 0.9 * C] },
    formula: (v) => v.m0 / Math.sqrt(1 - (v.v / v.c) ** 2),
  },
  relativistic_energy: {
    params: { c: C },
    inputs: { m0: [0.5, 2], v: [0.1 * C, 0.9 * C] },
    formula: (v) => (v.m0 * v.c ** 2) / Math.sqrt(1 - (v.v / v.c) ** 2),
  },
  harmonic_oscillator: {
    params: { A: 0.5, omega: 3, phi: 0.25 },
    inputs: { t: [0, 10] },
    formula: (v) => v.A * Math.sin(v.omega * v.t + v.phi),
  },
  gaussian: {
    params: { sigma: 1.5 },
    inputs: { x: [-4, 4] },
    formula: (v) => Math.exp(-(v.x ** 2) / (2 * v.sigma ** 2)) / (Math.sqrt(2 * Math.PI) * v.sigma),
  },
  // n0 in units of 1e25 per m^3: with the true magnitude d/dm would overflow float32.
  barometric: {
    params: { n0: 2.5, m: 4.8e-26, g: 9.81, kB: 1.380649e-23 },
    inputs: { x: [0, 1e4], T: [200, 300] },
    formula: (v) => v.n0 * Math.exp((-v.m * v.g * v.x) / (v.kB * v.T)),
  },
};

interface Result {
  value: Float32Array;
  /** d(sum of values)/d(name), for every param and input. */
  grad: Record<string, Float32Array>;
}

function draw(eq: Equation, seed: number): Record<string, Float32Array> {
  const next = random(seed);
  return Object.fromEntries(
    Object.entries(eq.inputs).map(([name, [lo, hi]]) => [
      name,
      Float32Array.from({ length: N }, () => lo + (hi - lo) * next()),
    ]),
  );
}

function compiled(name: string, eq: Equation, inputs: Record<string, Float32Array>): Result {
  const source = readFileSync(path.join(ROOT, 'examples', 'feynman', `${name}.neural`), 'utf8');
  // tier: false: the reference writes libtorch's op order (the small-program tier is within ulps, tests/tier.test.ts)
  const module = compile(source, { params: eq.params, dtype: 'float32', tier: false });
  try {
    return tidy(() => {
      const leaves = Object.fromEntries(
        Object.entries(inputs).map(([k, data]) => [k, tensor(data, { requiresGrad: true })]),
      );
      const out = module.forward(leaves, { batch: true });
      out.sum().backward();
      const gradOf = (t: Tensor) => t.grad!.toTypedArray() as Float32Array;
      const params = module.namedParameters();
      return {
        value: out.toTypedArray() as Float32Array,
        grad: Object.fromEntries([
          ...Object.keys(eq.params).map((k) => [k, gradOf(params[k])]),
          ...Object.entries(leaves).map(([k, t]) => [k, gradOf(t)]),
        ]),
      };
    });
  } finally {
    module.dispose();
  }
}

function reference(name: string, eq: Equation, inputs: Record<string, Float32Array>): Result {
  const names = [...Object.keys(eq.params), ...Object.keys(eq.inputs)];
  // Params go over as the float32 the module stores, so both sides start from the same bits.
  const data = Float32Array.from([
    ...Object.values(eq.params).map(Math.fround),
    ...Object.values(inputs).flatMap((a) => [...a]),
  ]);
  const r = spawnSync(REFERENCE, [name, String(N), ...names], { input: Buffer.from(data.buffer), maxBuffer: 1 << 24 });
  if (r.error)
    throw new Error(`cannot run ${REFERENCE} (${r.error.message}): build it with \`npm run build -- --tools\``);
  if (r.status !== 0) throw new Error(`${REFERENCE} exited with ${r.status}: ${r.stderr.toString()}`);
  const out = new Float32Array(r.stdout.buffer.slice(r.stdout.byteOffset, r.stdout.byteOffset + r.stdout.byteLength));
  let at = N;
  const grad: Record<string, Float32Array> = {};
  for (const k of names) {
    const size = k in eq.params ? 1 : N;
    grad[k] = out.subarray(at, (at += size));
  }
  if (at !== out.length) throw new Error(`${REFERENCE} wrote ${out.length} float32 values, expected ${at}`);
  return { value: out.subarray(0, N), grad };
}

function mismatches(a: Result, b: Result): string[] {
  return [
    ...float32Mismatches('value', a.value, b.value),
    ...Object.keys(b.grad).flatMap((k) =>
      a.grad[k] ? float32Mismatches(`grad ${k}`, a.grad[k], b.grad[k]) : [`grad ${k}: missing`],
    ),
  ];
}

/**
 * Largest difference between the float32 values and the float64 formula on the same inputs, relative
 * to the largest value (sin crosses zero, where a relative error per sample means nothing).
 */
function formulaError(eq: Equation, inputs: Record<string, Float32Array>, value: Float32Array): number {
  const params = Object.fromEntries(Object.entries(eq.params).map(([k, x]) => [k, Math.fround(x)]));
  const exact = Array.from(value, (_, i) =>
    eq.formula({ ...params, ...Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, a[i]])) }),
  );
  const scale = Math.max(...exact.map(Math.abs));
  return Math.max(...exact.map((y, i) => Math.abs(value[i] - y) / scale));
}

/**
 * The largest error of the float32 gradients against central differences of the float64 formula
 * (steps of 1e-6 relative): per input, relative to that input's largest gradient over the batch
 * (a derivative crosses zero in some equations); per param, the sum over the batch relative to the
 * sum of the terms' magnitudes.
 */
function gradientErrors(
  eq: Equation,
  inputs: Record<string, Float32Array>,
  grad: Record<string, Float32Array>,
): Record<string, number> {
  const params = Object.fromEntries(Object.entries(eq.params).map(([k, x]) => [k, Math.fround(x)]));
  const sample = (i: number) => ({
    ...params,
    ...Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, a[i]])),
  });
  const derivative = (v: Record<string, number>, name: string, h: number) =>
    (eq.formula({ ...v, [name]: v[name] + h }) - eq.formula({ ...v, [name]: v[name] - h })) / (2 * h);
  const errors: Record<string, number> = {};
  for (const [name, [lo, hi]] of Object.entries(eq.inputs)) {
    const exact = Array.from({ length: N }, (_, i) => {
      const v = sample(i);
      return derivative(v, name, 1e-6 * Math.max(Math.abs(v[name]), 1e-3 * (hi - lo)));
    });
    const scale = Math.max(...exact.map(Math.abs));
    errors[name] = Math.max(...exact.map((d, i) => Math.abs(grad[name][i] - d) / scale));
  }
  for (const name of Object.keys(eq.params)) {
    const terms = Array.from({ length: N }, (_, i) => derivative(sample(i), name, 1e-6 * Math.abs(params[name])));
    const exact = terms.reduce((a, b) => a + b, 0);
    errors[name] = Math.abs(grad[name][0] - exact) / terms.reduce((a, b) => a + Math.abs(b), 0);
  }
  return errors;
}

describe('compiled Feynman equations equal hand-written libtorch bit for bit (float32)', () => {
  test.each(Object.keys(EQUATIONS).map((name, i) => [name, i + 1]))('%s', (name, seed) => {
    const eq = EQUATIONS[name];
    const inputs = draw(eq, seed);
    const mine = compiled(name, eq, inputs);
    expect(mismatches(mine, reference(name, eq, inputs))).toEqual([]);
    // Both sides agreeing is only worth something if they compute the physics: float32 rounding of a
    // few ops (the cancellation in 1 - (v/c)^2 amplifies it a few times) stays far below 1e-5.
    expect(formulaError(eq, inputs, mine.value)).toBeLessThan(1e-5);
    // And the gradients are the physics' derivatives: float32 against finite differences of the
    // float64 formula, within float32 rounding of a few ops (amplified by 1 - (v/c)^2 as above).
    const errors = gradientErrors(eq, inputs, mine.grad);
    // worst seen: 1e-6 (harmonic: sin of omega t up to 30)
    for (const [k, e] of Object.entries(errors)) expect({ [k]: e < 5e-6 }).toEqual({ [k]: true });
  });
});
