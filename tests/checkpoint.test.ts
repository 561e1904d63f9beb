// Checkpointed backward through loops (native/checkpoint.cpp, compile option `checkpoint`): the
// value and every gradient are those of the loop that keeps its whole tape, whatever the segment
// length; both agree with a float64 simulation written here (finite differences for gradients); the
// backward's peak memory is a fraction of the whole tape's.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  compile,
  cpuMemoryStats,
  fit,
  grad,
  load,
  resetCpuPeak,
  save,
  tensor,
  type CompileOptions,
  type Module,
} from '../src';

type Checkpoint = NonNullable<CompileOptions['checkpoint']>;
const SETTINGS: Checkpoint[] = ['off', 'auto', 1, 7, 1000];

/** The second-difference matrix (-2 on the diagonal, 1 beside it): D u + u D is a 5-point Laplacian. */
const secondDifference = (n: number): number[][] =>
  Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => (i === j ? -2 : Math.abs(i - j) === 1 ? 1 : 0)),
  );

const initialField = (n: number): number[][] =>
  Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Math.sin(0.3 * i + 1) * Math.cos(0.2 * j)));

/** Explicit diffusion: `steps` steps of u += alpha (D u + u D), then the sum of u squared. */
const diffusion = (steps: number) => `
  (loop ((k 0) (u u0))
    (if (>= k ${steps})
        (vsum (vsum (* u u)))
        (recur (+ k 1) (+ u (* alpha (+ (matmul D u) (matmul u D)))))))`;

/** The same in float64 JavaScript. */
function simulateDiffusion(u0: number[][], alpha: number, steps: number): number {
  const n = u0.length;
  let u = u0.map((row) => row.slice());
  const at = (i: number, j: number) => (i < 0 || j < 0 || i >= n || j >= n ? 0 : u[i][j]);
  for (let k = 0; k < steps; k++)
    u = u.map((row, i) =>
      row.map((v, j) => v + alpha * (at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1) - 4 * v)),
    );
  return u.flat().reduce((s, v) => s + v * v, 0);
}

/** Value and gradients (alpha, u0) of the diffusion compiled with this checkpoint setting. */
function diffusionRun(checkpoint: Checkpoint, n: number, steps: number) {
  const m = compile(diffusion(steps), {
    inputs: { u0: [n, n], D: [n, n] },
    params: { alpha: 0.1 },
    dtype: 'float64',
    checkpoint,
  });
  const u0 = tensor(initialField(n), { dtype: 'float64', requiresGrad: true });
  const out = m.forward({ u0, D: tensor(secondDifference(n), { dtype: 'float64' }) });
  out.backward();
  const result = {
    value: out.item(),
    alpha: m.parameters()[0].grad!.item(),
    u0: Array.from(u0.grad!.toTypedArray()),
    graph: m.graphText(),
  };
  m.dispose();
  return result;
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
const worst = (a: number[], b: number[]) => Math.max(...a.map((x, k) => relative(x, b[k])));

describe('a diffusion loop on a 32x32 matrix', () => {
  const steps = 40;
  const runs = SETTINGS.map((c) => ({ checkpoint: c, ...diffusionRun(c, 32, steps) }));
  const off = runs[0];

  test('every checkpoint setting gives the value and gradients of the whole tape', () => {
    for (const run of runs.slice(1)) {
      expect(run.value).toBe(off.value); // the forward run is the same arithmetic, only unrecorded
      expect(relative(run.alpha, off.alpha)).toBeLessThan(1e-12);
      expect(worst(run.u0, off.u0)).toBeLessThan(1e-12);
    }
  });

  test('auto checkpoints a loop carrying 1,024 elements (segments doubling), the graph says so', () => {
    expect(off.graph).not.toMatch(/checkpoint/);
    expect(runs[1].graph).toMatch(/= loop .* checkpoint doubling/);
    expect(runs[3].graph).toMatch(/= loop .* checkpoint 7/);
  });

  test('the value and gradients are those of a float64 simulation (finite differences)', () => {
    const u0 = initialField(32);
    expect(relative(off.value, simulateDiffusion(u0, 0.1, steps))).toBeLessThan(1e-12);
    const h = 1e-6;
    const dAlpha = (simulateDiffusion(u0, 0.1 + h, steps) - simulateDiffusion(u0, 0.1 - h, steps)) / (2 * h);
    expect(relative(runs[1].alpha, dAlpha)).toBeLessThan(1e-7);
    for (const [i, j] of [
      [0, 0],
      [5, 17],
      [31, 30],
    ]) {
      const shifted = (d: number) =>
        simulateDiffusion(
          u0.map((row, r) => row.map((v, c) => (r === i && c === j ? v + d : v))),
          0.1,
          steps,
        );
      const dU = (shifted(h) - shifted(-h)) / (2 * h);
      expect(Math.abs(runs[1].u0[i * 32 + j] - dU)).toBeLessThan(1e-7 * Math.max(1, Math.abs(dU)));
    }
  });
});

describe('memory', () => {
  /** The bytes the forward and backward of the 64x64, 400-step diffusion held at most beyond what was live before. */
  function peakOfBackward(checkpoint: Checkpoint): number {
    const n = 64;
    const m = compile(diffusion(400), {
      inputs: { u0: [n, n], D: [n, n] },
      params: { alpha: 0.1 },
      dtype: 'float64',
      checkpoint,
    });
    const u0 = tensor(initialField(n), { dtype: 'float64', requiresGrad: true });
    const D = tensor(secondDifference(n), { dtype: 'float64' });
    m.forward({ u0, D }).dispose(); // the first call builds the specialisation
    const before = cpuMemoryStats()!;
    resetCpuPeak();
    const out = m.forward({ u0, D });
    out.backward();
    const peak = cpuMemoryStats()!.peakBytes - before.liveBytes;
    out.dispose();
    m.dispose();
    return peak;
  }

  test('a checkpointed backward of 400 steps on a 64x64 state peaks below a quarter of the whole tape', () => {
    expect(cpuMemoryStats()).not.toBeNull();
    const whole = peakOfBackward('off');
    const checkpointed = peakOfBackward('auto');
    expect(whole).toBeGreaterThan(400 * 64 * 64 * 8); // at least one field per step
    expect(checkpointed / whole).toBeLessThan(0.25);
  });
});

/** Euler steps of y' = sin t - a y from t = 0 until t >= 1 (dt = 0.01), as the language writes it. */
const EULER = `
  (loop ((t 0) (y y0))
    (if (>= t 1) y (recur (+ t 0.01) (+ y (* 0.01 (- (sin t) (* a y)))))))`;

function simulateEuler(y0: number, a: number): number {
  let [t, y] = [0, y0];
  while (!(t >= 1)) [t, y] = [t + 0.01, y + 0.01 * (Math.sin(t) - a * y)];
  return y;
}

describe('a scalar ODE loop', () => {
  const compileEuler = (checkpoint: Checkpoint) =>
    compile(EULER, { inputs: ['y0'], params: { a: 0.7 }, dtype: 'float64', checkpoint });

  function eulerRun(checkpoint: Checkpoint, y0s: number[]) {
    const m = compileEuler(checkpoint);
    const y0 = tensor(y0s, { dtype: 'float64', requiresGrad: true });
    const out = m.forward({ y0 }, { batch: true });
    out.sum().backward();
    const result = {
      value: Array.from(out.toTypedArray()),
      a: m.parameters()[0].grad!.item(),
      y0: Array.from(y0.grad!.toTypedArray()),
      graph: m.graphText(),
    };
    m.dispose();
    return result;
  }

  test('every setting gives the same value and gradients, batched, and auto keeps the tape', () => {
    const y0s = [1, -0.5, 2];
    const runs = SETTINGS.map((c) => eulerRun(c, y0s));
    for (const run of runs.slice(1)) {
      expect(run.value).toEqual(runs[0].value);
      expect(relative(run.a, runs[0].a)).toBeLessThan(1e-12);
      expect(worst(run.y0, runs[0].y0)).toBeLessThan(1e-12);
    }
    expect(runs[1].graph).not.toMatch(/checkpoint/); // scalars: nothing worth recomputing
    expect(runs[2].graph).toMatch(/checkpoint 1/);
    y0s.forEach((y, k) => expect(relative(runs[3].value[k], simulateEuler(y, 0.7))).toBeLessThan(1e-12));
    const h = 1e-6;
    const dA = y0s.reduce((s, y) => s + (simulateEuler(y, 0.7 + h) - simulateEuler(y, 0.7 - h)) / (2 * h), 0);
    expect(relative(runs[3].a, dA)).toBeLessThan(1e-7);
  });

  test('samples that leave at different iterations run again recorded: the same gradients', () => {
    // Each sample halves its y until it is below 0.01: y0 = 1 leaves after 7 halvings, 100 after 14.
    const source = '(loop ((y y0) (n 0)) (if (< y 0.01) (* a (+ y n)) (recur (* 0.5 y) (+ n 1))))';
    const run = (checkpoint: Checkpoint) => {
      const m = compile(source, { inputs: ['y0'], params: { a: 2 }, dtype: 'float64', checkpoint });
      const y0 = tensor([1, 100, 3], { dtype: 'float64', requiresGrad: true });
      const out = m.forward({ y0 }, { batch: true });
      out.sum().backward();
      return [Array.from(out.toTypedArray()), m.parameters()[0].grad!.item(), Array.from(y0.grad!.toTypedArray())];
    };
    const [value, a, y0] = run(3);
    expect(value).toEqual(run('off')[0]);
    expect([value, a, y0]).toEqual(run('off'));
    expect(y0).toEqual([0.5 ** 7 * 2, 0.5 ** 14 * 2, 0.5 ** 9 * 2]);
  });

  test('second derivatives through a checkpointed loop: the whole loop replayed, recorded', () => {
    const second = (checkpoint: Checkpoint) => {
      const m = compileEuler(checkpoint);
      const [a] = m.parameters();
      const out = m.forward({ y0: tensor(1, { dtype: 'float64' }) });
      const [da] = grad(out, [a], { createGraph: true });
      const [daa] = grad(da, [a]);
      return [da.item(), daa.item()];
    };
    const [da, daa] = second(5);
    const [offDa, offDaa] = second('off');
    expect(relative(da, offDa)).toBeLessThan(1e-12);
    expect(relative(daa, offDaa)).toBeLessThan(1e-12);
    const h = 1e-4;
    const fd = (simulateEuler(1, 0.7 + h) - 2 * simulateEuler(1, 0.7) + simulateEuler(1, 0.7 - h)) / (h * h);
    expect(relative(daa, fd)).toBeLessThan(1e-5);
  });
});

describe('bodies with calls and loops of their own', () => {
  /** Value and gradients of a program with one scalar input x and param a, under two settings. */
  const both = (source: string) =>
    (['off', 3] as Checkpoint[]).map((checkpoint) => {
      const m = compile(source, { inputs: ['x'], params: { a: 0.9 }, dtype: 'float64', checkpoint });
      const x = tensor([0.5, 1.5], { dtype: 'float64', requiresGrad: true });
      const out = m.forward({ x }, { batch: true });
      out.sum().backward();
      return [...out.toTypedArray(), m.parameters()[0].grad!.item(), ...x.grad!.toTypedArray()];
    });

  test('a recursive function called in the body (the recomputation runs on a deep stack too)', () => {
    const [off, checkpointed] = both(`
      (define (power y n) (if (<= n 0) 1 (* y (power y (- n 1)))))
      (loop ((k 0) (u x)) (if (>= k 10) u (recur (+ k 1) (* a (power u 1.5) 0.5 (+ 1 (power u 0))))))`);
    off.forEach((v, k) => expect(relative(checkpointed[k], v)).toBeLessThan(1e-12));
  });

  test('a loop nested in a checkpointed body', () => {
    const [off, checkpointed] = both(`
      (loop ((k 0) (u x))
        (if (>= k 9) u
            (recur (+ k 1) (loop ((j 0) (v u)) (if (>= j 3) v (recur (+ j 1) (+ v (* 0.1 a (sin v)))))))))`);
    off.forEach((v, k) => expect(relative(checkpointed[k], v)).toBeLessThan(1e-12));
  });
});

describe('errors from inside a checkpointed loop', () => {
  const message = (source: string, options: CompileOptions, inputs: Record<string, number[] | number>) => {
    const m = compile(source, { params: { a: 1 }, dtype: 'float64', ...options });
    try {
      m.forward(inputs).sum().backward();
      return 'no error';
    } catch (e) {
      return (e as Error).message;
    }
  };

  test('the loop limit names the loop, as without checkpoints', () => {
    const source = '(loop ((k 0) (x a)) (if (>= k 100) x (recur (+ k 1) (* 0.5 x))))';
    const got = message(source, { limit: 50, checkpoint: 4 }, {});
    expect(got).toMatch(/exceeded its limit of 50/);
    expect(got).toMatch(/loop at 1:1/);
    expect(got).toBe(message(source, { limit: 50, checkpoint: 'off' }, {}));
  });

  test('a ref out of range in the body names the ref, as without checkpoints', () => {
    const source = '(loop ((k 0) (acc 0)) (if (>= k 8) acc (recur (+ k 1) (+ acc (* a (ref v k))))))';
    const got = message(source, { inputs: { v: [5] }, checkpoint: 3 }, { v: [1, 2, 3, 4, 5] });
    expect(got).toMatch(/ref/);
    expect(got).toBe(message(source, { inputs: { v: [5] }, checkpoint: 'off' }, { v: [1, 2, 3, 4, 5] }));
  });

  test('a bad checkpoint option is a TypeError naming the choices', () => {
    for (const bad of [0, -1, 2.5, 'on', true])
      expect(() => compile('1', { checkpoint: bad as Checkpoint })).toThrow(
        /checkpoint must be 'auto', 'off' or a whole number >= 1/,
      );
  });
});

describe('fit', () => {
  test('trains through a checkpointed loop exactly as through the whole tape', async () => {
    // A batched 32x32 field per sample (1,024 elements: auto checkpoints it), grown logistically.
    const source = `
      (loop ((k 0) (u (scale x (mat ${Array.from({ length: 32 }, () => `(ones 32)`).join(' ')}))))
        (if (>= k 30) (/ (vsum (vsum u)) 1024) (recur (+ k 1) (+ u (* 0.1 r (- u (* u u)))))))`;
    const data = { inputs: { x: [0.1, 0.2, 0.3, 0.4] }, target: [0.5, 0.6, 0.7, 0.8] };
    const train = async (checkpoint: Checkpoint) => {
      const m = compile(source, { inputs: ['x'], params: { r: 0.5 }, dtype: 'float64', checkpoint });
      const result = await fit(m, data, { optimizer: 'adam', lr: 0.05, epochs: 5 });
      return { r: result.params.r as number, loss: result.loss, graph: m.graphText() };
    };
    const [auto, off] = [await train('auto'), await train('off')];
    expect(auto.graph).toMatch(/checkpoint doubling/);
    expect(relative(auto.r, off.r)).toBeLessThan(1e-12);
    expect(relative(auto.loss, off.loss)).toBeLessThan(1e-12);
    expect(auto.r).not.toBe(0.5);
  });
});

test('a model file keeps the checkpoint setting', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nc-checkpoint-')), 'm.ncm');
  const m = compile(EULER, { inputs: ['y0'], params: { a: 0.7 }, checkpoint: 9 });
  save(file, m);
  const back = load(file) as Module;
  back.forward({ y0: 1 });
  expect(back.graphText()).toMatch(/checkpoint 9/);
  fs.rmSync(path.dirname(file), { recursive: true });
});
