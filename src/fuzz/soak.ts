// Memory soak: many forward calls, compile/dispose cycles and fit steps, measuring resident memory
// after a warm-up and at the end. Node runs native finalizers only between event-loop turns, so the
// loops yield and collect garbage periodically (run node with --expose-gc).
import { compile } from '../api';
import { mlp } from '../nn/mlp';
import { randn, tensor } from '../runtime/tensor';
import { fit } from '../train/fit';
import { odeint } from '../train/odeint';

export interface Growth {
  what: string;
  iterations: number;
  /** Resident memory (MB) after the first tenth of the iterations, and at the end. */
  warmMb: number;
  endMb: number;
  percent: number;
  seconds: number;
}

const SOURCE = '(+ (scale G (matvec A v)) (sin v))';
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

async function settle(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setImmediate(r));
  }
}

async function measure(what: string, iterations: number, step: (i: number) => void): Promise<Growth> {
  const start = Date.now();
  let warmMb = 0;
  for (let i = 0; i < iterations; i++) {
    step(i);
    if ((i + 1) % 1000 === 0) await settle();
    if (i + 1 === Math.ceil(iterations / 10)) (await settle(), (warmMb = rssMb()));
  }
  await settle();
  const endMb = rssMb();
  return {
    what,
    iterations,
    warmMb,
    endMb,
    percent: (100 * (endMb - warmMb)) / warmMb,
    seconds: (Date.now() - start) / 1000,
  };
}

/** Forward calls of one module (with a gradient-recording graph each time), outputs disposed. */
export async function soakForward(iterations: number): Promise<Growth> {
  const m = compile(SOURCE, { inputs: { A: [3, 3], v: [3] }, params: { G: 0.5 } });
  const A = tensor([
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
  ]);
  const result = await measure('forward calls', iterations, (i) => {
    const out = m.forward({ A, v: [i % 7, 1, 2] });
    out.dispose();
  });
  A.dispose();
  m.dispose();
  return result;
}

/** One compile/dispose cycle: compile (param G = i), one forward call, dispose. Also used by the tests. */
export function compileCycle(i: number): void {
  const m = compile(SOURCE, { inputs: { A: [3, 3], v: [3] }, params: { G: i } });
  m.forward({
    A: [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ],
    v: [1, 2, 3],
  }).dispose();
  m.dispose();
}

/** Compile, one forward call, dispose. */
export async function soakCompile(iterations: number): Promise<Growth> {
  return measure('compile/dispose cycles', iterations, compileCycle);
}

// Lotka-Volterra with the predators' growth learned: known prey dynamics, an MLP for delta x y.
const HYBRID_LV = '(let ((dx (- (* alpha x) (* beta (* x y)))) (dy (- (g x y) (* gamma y)))) [dx dy])';
const LV = '(let ((dx (- (* alpha x) (* beta (* x y)))) (dy (- (* delta (* x y)) (* gamma y)))) [dx dy])';

/**
 * Noisy observations (2 % multiplicative, seeded) of a Lotka-Volterra program with alpha 1, beta 0.5,
 * delta 0.25, gamma 0.5, from (4, 1) at t = 0, 0.1, ... (`points` of them). Also used by the tests.
 */
export function noisyLotkaVolterra(source = LV, points = 101): { t: number[]; observations: number[][] } {
  const truth = compile(source, { params: { alpha: 1, beta: 0.5, delta: 0.25, gamma: 0.5 } });
  const t = Array.from({ length: points }, (_, i) => i / 10);
  const clean = odeint(truth, [4, 1], t, { method: 'rk4', state: ['x', 'y'] });
  const noise = randn(clean.shape, { seed: 7 });
  const noisy = clean.mul(noise.mul(0.02).add(1));
  const observations = noisy.toArray() as number[][];
  for (const x of [truth, clean, noise, noisy]) x.dispose();
  return { t, observations };
}

export interface FitSoakOptions {
  /** Steps per fit() call (default: all in one call). The model keeps training from call to call. */
  perCall?: number;
  /**
   * 'ode' (default): Lotka-Volterra with the predators' growth an MLP, RK4 multiple shooting over 5
   * windows in minibatches of 2, cosine decay, clipping. 'algebraic': a line plus an MLP on 64
   * samples in minibatches of 16 (about 100 times cheaper per step).
   */
  model?: 'ode' | 'algebraic';
}

/**
 * fit() steps through the public API (Adam, shuffled minibatches, a progress report every 10
 * steps). Warm-up is the first tenth of the steps; with one call, its resident memory is read from
 * the progress report at that step.
 */
export async function soakFit(steps: number, options: FitSoakOptions = {}): Promise<Growth> {
  const ode = (options.model ?? 'ode') === 'ode';
  const net = mlp([ode ? 2 : 1, ode ? 8 : 16, 1], { seed: 1 });
  const model = ode
    ? compile(HYBRID_LV, { params: { alpha: 0.8, beta: 0.4, gamma: 0.6 }, functions: { g: net } })
    : compile('(+ (* a x) (f x))', { params: { a: 0 }, functions: { f: net } });
  const x = Array.from({ length: 64 }, (_, i) => i / 32 - 1);
  const data = ode ? noisyLotkaVolterra() : { inputs: { x }, target: x.map((v) => 2 * v + Math.sin(3 * v)) };
  const settings = ode
    ? {
        batchSize: 2,
        lr: 0.01,
        schedule: 'cosine' as const,
        clip: 5,
        ode: { state: ['x', 'y'], method: 'rk4' as const, windowSteps: 20 },
      }
    : { batchSize: 16, lr: 0.01 };
  const stepsPerEpoch = ode ? 3 : 4; // 5 windows in 2s; 64 samples in 16s
  const perCall = options.perCall ?? steps;
  const calls = Math.max(1, Math.round(steps / perCall));
  const epochs = Math.ceil(perCall / stepsPerEpoch);
  const warmStep = Math.ceil((calls * epochs * stepsPerEpoch) / 100) * 10; // a tenth, on a reported step
  const start = Date.now();
  let warmMb = 0;
  let done = 0;
  for (let c = 0; c < calls; c++) {
    const r = await fit(model, data, {
      ...settings,
      epochs,
      seed: c,
      progressEvery: 10,
      onProgress: (p) => {
        if (calls === 1 && p.step === warmStep) {
          (globalThis as { gc?: () => void }).gc?.();
          warmMb = rssMb();
        }
      },
    });
    if (!Number.isFinite(r.loss)) throw new Error(`soakFit: the fit diverged (loss ${r.loss} after call ${c + 1})`);
    done += r.steps;
    if (calls > 1 && (c + 1) % Math.max(1, Math.floor(calls / 100)) === 0) await settle();
    if (calls > 1 && warmMb === 0 && done >= warmStep) (await settle(), (warmMb = rssMb()));
  }
  await settle();
  const endMb = rssMb();
  model.dispose();
  net.dispose();
  if (warmMb === 0) throw new Error('soakFit: no warm-up measurement was taken');
  const what = `fit steps (${ode ? 'hybrid Lotka-Volterra, RK4 shooting' : 'line + MLP, algebraic'}; ${calls === 1 ? 'one fit() call' : `${calls} fit() calls of ${epochs * stepsPerEpoch}`})`;
  return {
    what,
    iterations: done,
    warmMb,
    endMb,
    percent: (100 * (endMb - warmMb)) / warmMb,
    seconds: (Date.now() - start) / 1000,
  };
}
