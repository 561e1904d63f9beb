import { Tensor, tensor, tidy } from '../src/runtime/tensor';
import { clipGradNorm, losses, optim, Optimizer, schedules } from '../src/train';
import { optimAddon } from '../src/train/native-optim';

// Float64 throughout, so libtorch's updates can be compared with hand-written ones to ~1e-15.
const f64 = (data: number | number[], requiresGrad = false): Tensor => tensor(data, { dtype: 'float64', requiresGrad });
const values = (t: Tensor): number[] => Array.from(t.toTypedArray());

function expectClose(actual: number[], expected: number[], tol = 1e-12): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    if (Math.abs(a - expected[i]) > tol * Math.max(1, Math.abs(expected[i])))
      throw new Error(`entry ${i}: got ${a}, expected ${expected[i]} (all: [${actual}] vs [${expected}])`);
  });
}

// The quadratic sum(w * (p - c)^2), its gradient 2 w (p - c), and a starting point.
const W = [1, 3, 0.5];
const C = [1, -2, 0.5];
const P0 = [0.3, 0.7, -1.5];
const quadGrad = (p: number[]): number[] => p.map((x, i) => 2 * W[i] * (x - C[i]));

function quadLoss(p: Tensor): Tensor {
  return tidy(() => p.sub(f64(C)).square().mul(f64(W)).sum());
}

/** Runs `steps` plain (closure-free) steps on the quadratic and returns p after each. */
function trajectory(make: (p: Tensor) => Optimizer, steps: number): number[][] {
  const p = f64(P0, true);
  const opt = make(p);
  const out: number[][] = [];
  for (let k = 0; k < steps; k++) {
    opt.zeroGrad();
    quadLoss(p).backward();
    opt.step();
    out.push(values(p));
  }
  opt.dispose();
  return out;
}

interface AdamRef {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
  decoupled: boolean;
}

/** torch.optim.Adam (L2 decay added to the gradient) or AdamW (decoupled decay first). */
function adamReference(o: AdamRef, steps: number): number[][] {
  let p = P0.slice();
  let m = p.map(() => 0);
  let v = p.map(() => 0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    const g = quadGrad(p).map((gi, i) => (o.decoupled ? gi : gi + o.wd * p[i]));
    if (o.decoupled) p = p.map((x) => x * (1 - o.lr * o.wd));
    m = m.map((mi, i) => o.b1 * mi + (1 - o.b1) * g[i]);
    v = v.map((vi, i) => o.b2 * vi + (1 - o.b2) * g[i] * g[i]);
    p = p.map((x, i) => {
      const mHat = m[i] / (1 - o.b1 ** t);
      const vHat = v[i] / (1 - o.b2 ** t);
      return x - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    });
    out.push(p);
  }
  return out;
}

interface SgdRef {
  lr: number;
  momentum: number;
  nesterov: boolean;
  wd: number;
}

/** torch.optim.SGD with dampening 0: the first momentum buffer is the gradient itself. */
function sgdReference(o: SgdRef, steps: number): number[][] {
  let p = P0.slice();
  let buf: number[] | undefined;
  const out: number[][] = [];
  for (let k = 0; k < steps; k++) {
    let g = quadGrad(p).map((gi, i) => gi + o.wd * p[i]);
    if (o.momentum > 0) {
      const prev = buf;
      buf = prev ? prev.map((b, i) => o.momentum * b + g[i]) : g.slice();
      const b = buf;
      g = o.nesterov ? g.map((gi, i) => gi + o.momentum * b[i]) : b;
    }
    p = p.map((x, i) => x - o.lr * g[i]);
    out.push(p);
  }
  return out;
}

describe('Adam and AdamW follow the published update rules', () => {
  const steps = 5;
  const adamCases: [string, optim.AdamOptions, AdamRef][] = [
    ['defaults', { lr: 0.1 }, { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, decoupled: false }],
    [
      'betas, eps, L2 decay',
      { lr: 0.05, betas: [0.8, 0.99], eps: 1e-3, weightDecay: 0.2 },
      { lr: 0.05, b1: 0.8, b2: 0.99, eps: 1e-3, wd: 0.2, decoupled: false },
    ],
  ];
  test.each(adamCases)('adam, %s', (_name, options, ref) => {
    const got = trajectory((p) => optim.adam([p], options), steps);
    adamReference(ref, steps).forEach((expected, k) => expectClose(got[k], expected));
  });

  test('adamw decays the parameters directly, default weightDecay 0.01', () => {
    const got = trajectory((p) => optim.adamw([p], { lr: 0.1 }), steps);
    adamReference({ lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, decoupled: true }, steps).forEach((e, k) =>
      expectClose(got[k], e),
    );
  });

  test('with the same weight decay, Adam and AdamW differ; without it they agree', () => {
    const adam = trajectory((p) => optim.adam([p], { lr: 0.1, weightDecay: 0.5 }), 3);
    const adamw = trajectory((p) => optim.adamw([p], { lr: 0.1, weightDecay: 0.5 }), 3);
    expectClose(adamw[2], adamReference({ lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.5, decoupled: true }, 3)[2]);
    expect(Math.max(...adam[2].map((x, i) => Math.abs(x - adamw[2][i])))).toBeGreaterThan(1e-3);
    const plain = trajectory((p) => optim.adam([p], { lr: 0.1 }), 3);
    const plainW = trajectory((p) => optim.adamw([p], { lr: 0.1, weightDecay: 0 }), 3);
    expectClose(plainW[2], plain[2], 1e-15);
  });

  test('step(closure) evaluates the closure first and returns that loss, detached', () => {
    const p = f64(P0, true);
    const opt = optim.adam([p], { lr: 0.1 });
    const loss = opt.step(() => {
      opt.zeroGrad();
      const l = quadLoss(p);
      l.backward();
      return l;
    });
    const expectedLoss = P0.reduce((s, x, i) => s + W[i] * (x - C[i]) ** 2, 0);
    expect(loss!.item()).toBeCloseTo(expectedLoss, 14);
    expect(loss!.requiresGrad).toBe(false);
    expectClose(values(p), adamReference({ lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, decoupled: false }, 1)[0]);
    expect(opt.step()).toBeUndefined();
  });
});

describe('SGD', () => {
  const sgdCases: [string, optim.SgdOptions, SgdRef][] = [
    ['plain', { lr: 0.1 }, { lr: 0.1, momentum: 0, nesterov: false, wd: 0 }],
    ['momentum', { lr: 0.05, momentum: 0.9 }, { lr: 0.05, momentum: 0.9, nesterov: false, wd: 0 }],
    [
      'nesterov + weight decay',
      { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1 },
      { lr: 0.05, momentum: 0.8, nesterov: true, wd: 0.1 },
    ],
  ];
  test.each(sgdCases)('%s matches the hand-written update', (_name, options, ref) => {
    const got = trajectory((p) => optim.sgd([p], options), 5);
    sgdReference(ref, 5).forEach((expected, k) => expectClose(got[k], expected));
  });

  test('nesterov and heavy-ball momentum take different paths', () => {
    const heavy = trajectory((p) => optim.sgd([p], { lr: 0.05, momentum: 0.9 }), 4);
    const nesterov = trajectory((p) => optim.sgd([p], { lr: 0.05, momentum: 0.9, nesterov: true }), 4);
    expect(Math.abs(heavy[3][1] - nesterov[3][1])).toBeGreaterThan(1e-2);
  });

  test('several parameter tensors of different shapes are updated together', () => {
    const a = f64([1, 2], true);
    const b = f64(3, true);
    const opt = optim.sgd([a, b], { lr: 0.25 });
    tidy(() => a.square().sum().add(b.square().mul(2)).backward()); // grads 2a and 4b
    opt.step();
    expect(values(a)).toEqual([0.5, 1]);
    expect(b.item()).toBe(0);
  });

  test('lr can be read and changed between steps', () => {
    const p = f64([1], true);
    const opt = optim.sgd([p], { lr: 0.5 });
    expect(opt.lr).toBe(0.5);
    opt.lr = 0.125;
    expect(opt.lr).toBe(0.125);
    tidy(() => p.mul(4).sum().backward()); // grad 4
    opt.step();
    expect(p.item()).toBe(0.5);
    opt.zeroGrad();
    expect(p.grad).toBeUndefined();
  });
});

describe('L-BFGS', () => {
  // Rosenbrock (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1).
  const rosenbrock = (x: Tensor, y: Tensor): Tensor =>
    tidy(() => x.neg().add(1).square().add(y.sub(x.square()).square().mul(100)));

  test('minimises Rosenbrock from (-1.2, 1) with the strong Wolfe line search', () => {
    const x = f64(-1.2, true);
    const y = f64(1, true);
    const opt = optim.lbfgs([x, y], { maxIter: 100, lineSearch: 'strong_wolfe' });
    let evaluations = 0;
    const closure = (): Tensor => {
      evaluations++;
      opt.zeroGrad();
      const loss = rosenbrock(x, y);
      loss.backward();
      return loss;
    };
    const first = opt.step(closure)!;
    expect(first.item()).toBeCloseTo(24.2, 12); // the loss at the start
    for (let k = 0; k < 4; k++) opt.step(closure);
    const final = rosenbrock(x, y).item();
    expect(final).toBeLessThan(1e-6);
    expect(Math.abs(x.item() - 1)).toBeLessThan(1e-3);
    expect(Math.abs(y.item() - 1)).toBeLessThan(1e-3);
    expect(evaluations).toBeGreaterThan(5);
  });

  test('without a line search it solves a convex quadratic with fixed steps', () => {
    const p = f64(P0, true);
    const opt = optim.lbfgs([p], { maxIter: 50, historySize: 5 });
    opt.step(() => {
      opt.zeroGrad();
      const l = quadLoss(p);
      l.backward();
      return l;
    });
    expect(quadLoss(p).item()).toBeLessThan(1e-9);
    expectClose(values(p), C, 1e-4);
  });

  test('an error thrown by the closure reaches the caller unchanged and the optimizer stays usable', () => {
    const p = f64([2], true);
    const opt = optim.lbfgs([p], { lineSearch: 'strong_wolfe' });
    const boom = new Error('boom from the closure');
    expect(() =>
      opt.step(() => {
        throw boom;
      }),
    ).toThrow(boom);
    opt.step(() => {
      opt.zeroGrad();
      const l = tidy(() => p.sub(5).square().sum());
      l.backward();
      return l;
    });
    expect(p.item()).toBeCloseTo(5, 8);
  });
});

describe('clipGradNorm', () => {
  function withGrads(): [Tensor, Tensor, Tensor] {
    const a = f64([1, 1], true);
    const b = f64([1], true);
    const untouched = f64([7], true);
    tidy(() =>
      a
        .mul(f64([3, 4]))
        .sum()
        .add(b.mul(-12).sum())
        .backward(),
    ); // grads [3, 4] and [-12]
    return [a, b, untouched];
  }

  test('returns the joint 2-norm and scales every gradient by maxNorm / (norm + 1e-6)', () => {
    const [a, b, untouched] = withGrads();
    const norm = clipGradNorm([a, b, untouched], 6.5);
    expect(norm).toBeCloseTo(13, 14); // sqrt(9 + 16 + 144)
    const scale = 6.5 / (13 + 1e-6);
    expectClose(values(a.grad!), [3 * scale, 4 * scale], 1e-14);
    expectClose(values(b.grad!), [-12 * scale], 1e-14);
    expect(untouched.grad).toBeUndefined();
  });

  test('leaves gradients alone when the norm is within the limit; infinity norm', () => {
    const [a, b] = withGrads();
    expect(clipGradNorm([a, b], 20)).toBeCloseTo(13, 14);
    expect(values(a.grad!)).toEqual([3, 4]);
    expect(clipGradNorm([a, b], 6, Infinity)).toBe(12);
    expectClose(values(b.grad!), [(-12 * 6) / (12 + 1e-6)], 1e-14);
  });

  test('no gradients at all gives norm 0', () => {
    expect(clipGradNorm([f64([1, 2], true)], 1)).toBe(0);
  });
});

describe('learning-rate schedules', () => {
  /** The lr the optimizer sees for each of n consecutive steps. */
  function rates(opt: Optimizer, sched: schedules.Schedule, n: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      expect(sched.lr).toBe(opt.lr);
      out.push(opt.lr);
      sched.step();
    }
    return out;
  }
  const sgdAt = (lr: number): Optimizer => optim.sgd([f64([0], true)], { lr });

  test('cosine from base to min over `steps`, then flat', () => {
    const opt = sgdAt(1);
    const half = (t: number): number => (1 + Math.cos((Math.PI * t) / 4)) / 2;
    expectClose(rates(opt, schedules.cosine(opt, { steps: 4 }), 6), [1, half(1), 0.5, half(3), 0, 0], 1e-15);
  });

  test('cosine with linear warmup and a minimum', () => {
    const opt = sgdAt(0.2);
    const sched = schedules.cosine(opt, { steps: 6, warmup: 2, min: 0.02 });
    const cos = (t: number): number => 0.02 + (0.18 * (1 + Math.cos((Math.PI * (t - 2)) / 4))) / 2;
    expectClose(rates(opt, sched, 8), [0.1, 0.2, 0.2, cos(3), cos(4), cos(5), 0.02, 0.02], 1e-15);
    expect(sched.steps).toBe(8);
  });

  test('step decay multiplies by gamma every k steps', () => {
    const opt = sgdAt(1);
    expectClose(rates(opt, schedules.step(opt, { every: 3, gamma: 0.5 }), 8), [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25], 0);
    const opt2 = sgdAt(2);
    expectClose(rates(opt2, schedules.step(opt2, { every: 1 }), 3), [2, 0.2, 0.02], 1e-15);
  });

  test('exponential decay, and the optimizer really steps with the scheduled rate', () => {
    const p = f64([0], true);
    const opt = optim.sgd([p], { lr: 0.5 });
    const sched = schedules.exponential(opt, { gamma: 0.8 });
    for (let k = 0; k < 3; k++) {
      opt.zeroGrad();
      tidy(() => p.mul(-1).sum().backward()); // grad -1: p grows by lr each step
      opt.step();
      sched.step();
    }
    expect(p.item()).toBeCloseTo(0.5 + 0.4 + 0.32, 14);
    expect(opt.lr).toBeCloseTo(0.5 * 0.8 ** 3, 15);
  });
});

describe('losses', () => {
  const Y = [0.5, -1, 2.5, 3, -0.25, 0];
  const T = [1, 1, 0, 3.5, -0.3, 1.5];
  const n = Y.length;
  const d = Y.map((y, i) => y - T[i]);

  // Each loss's value and d/dy in float64; d/dtarget is the negative.
  const cases: [string, (y: Tensor, t: Tensor) => Tensor, number, number[]][] = [
    ['mse', losses.mse, d.reduce((s, x) => s + x * x, 0) / n, d.map((x) => (2 * x) / n)],
    ['mae', losses.mae, d.reduce((s, x) => s + Math.abs(x), 0) / n, d.map((x) => Math.sign(x) / n)],
    [
      'huber, delta 1',
      losses.huber,
      d.reduce((s, x) => s + (Math.abs(x) <= 1 ? (x * x) / 2 : Math.abs(x) - 0.5), 0) / n,
      d.map((x) => (Math.abs(x) <= 1 ? x : Math.sign(x)) / n),
    ],
    [
      'huber, delta 0.3',
      (y, t) => losses.huber(y, t, 0.3),
      d.reduce((s, x) => s + (Math.abs(x) <= 0.3 ? (x * x) / 2 : 0.3 * (Math.abs(x) - 0.15)), 0) / n,
      d.map((x) => (Math.abs(x) <= 0.3 ? x : 0.3 * Math.sign(x)) / n),
    ],
  ];

  test.each(cases)('%s: value and gradients', (_name, loss, value, gradY) => {
    const y = tensor([Y.slice(0, 3), Y.slice(3)], { dtype: 'float64', requiresGrad: true });
    const t = tensor([T.slice(0, 3), T.slice(3)], { dtype: 'float64', requiresGrad: true });
    const l = loss(y, t);
    expect(l.shape).toEqual([]);
    expect(l.item()).toBeCloseTo(value, 14);
    l.backward();
    expectClose(values(y.grad!), gradY, 1e-14);
    expectClose(
      values(t.grad!),
      gradY.map((g) => -g),
      1e-14,
    );
  });

  test('targets broadcast against the prediction', () => {
    const pred = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'float64', requiresGrad: true },
    );
    const target = f64([1, 1], true);
    const l = losses.mse(pred, target);
    expect(l.item()).toBeCloseTo((0 + 1 + 4 + 9) / 4, 15);
    l.backward();
    expect(values(pred.grad!)).toEqual([0, 0.5, 1, 1.5]); // 2 d / 4
    expect(values(target.grad!)).toEqual([-1, -2]); // -(sum over the broadcast rows)
  });

  test('shapes that do not broadcast, empty inputs and bad delta are clear errors', () => {
    expect(() => losses.mse(f64([1, 2, 3]), f64([1, 2]))).toThrow(
      /mse: the prediction's shape \[3\] and the target's shape \[2\] do not broadcast/,
    );
    expect(() => losses.mae(f64([]), f64([]))).toThrow(/mae: the inputs are empty/);
    expect(() => losses.huber(f64([1]), f64([1]), 0)).toThrow(/huber: delta must be a finite number > 0, got number 0/);
    expect(() => losses.mse([1, 2] as unknown as Tensor, f64([1]))).toThrow(
      /mse: the prediction must be a Tensor, got an array/,
    );
    const gone = f64([1]);
    gone.dispose();
    expect(() => losses.mse(f64([1]), gone)).toThrow(/mse: the target has been disposed/);
  });
});

describe('bad options and misuse are Errors, and the process survives', () => {
  const param = (): Tensor => f64([1, 2], true);

  test.each([
    ['negative lr', () => optim.adam([param()], { lr: -1 }), /adam: lr must be a finite number >= 0, got number -1/],
    ['missing lr', () => optim.sgd([param()], {} as { lr: number }), /sgd: lr is required/],
    ['NaN lr', () => optim.adamw([param()], { lr: NaN }), /adamw: lr must be a finite number >= 0, got number NaN/],
    [
      'beta of 1',
      () => optim.adam([param()], { lr: 0.1, betas: [0.9, 1] }),
      /adam: betas\[1\] must be a finite number >= 0 and < 1/,
    ],
    [
      'betas not a pair',
      () => optim.adam([param()], { lr: 0.1, betas: [0.9] as unknown as [number, number] }),
      /adam: betas must be an array of two numbers/,
    ],
    ['negative eps', () => optim.adam([param()], { lr: 0.1, eps: -1e-8 }), /adam: eps must be/],
    [
      'negative weight decay',
      () => optim.adamw([param()], { lr: 0.1, weightDecay: -0.1 }),
      /adamw: weightDecay must be/,
    ],
    [
      'unknown option',
      () => optim.adam([param()], { lr: 0.1, learningRate: 1 } as never),
      /adam: unknown option 'learningRate'/,
    ],
    [
      'nesterov without momentum',
      () => optim.sgd([param()], { lr: 0.1, nesterov: true }),
      /sgd: nesterov needs a momentum > 0/,
    ],
    ['negative momentum', () => optim.sgd([param()], { lr: 0.1, momentum: -0.5 }), /sgd: momentum must be/],
    ['lbfgs maxIter 0', () => optim.lbfgs([param()], { maxIter: 0 }), /lbfgs: maxIter must be a whole number >= 1/],
    [
      'lbfgs fractional history',
      () => optim.lbfgs([param()], { historySize: 1.5 }),
      /lbfgs: historySize must be a whole number >= 1/,
    ],
    [
      'lbfgs unknown line search',
      () => optim.lbfgs([param()], { lineSearch: 'armijo' as never }),
      /lbfgs: lineSearch must be 'strong_wolfe', 'backtracking' or null/,
    ],
    ['empty parameter list', () => optim.adam([], { lr: 0.1 }), /adam: the parameter list is empty/],
    ['not an array', () => optim.sgd(param() as never, { lr: 0.1 }), /sgd: expected an array of Tensors/],
    [
      'not a tensor',
      () => optim.sgd([param(), 3 as never], { lr: 0.1 }),
      /sgd: parameter 1 is not a Tensor but number 3/,
    ],
    [
      'no requiresGrad',
      () => optim.adam([param(), f64([1])], { lr: 0.1 }),
      /adam: parameter 1 does not require a gradient/,
    ],
    ['non-leaf', () => optim.adam([param().mul(2)], { lr: 0.1 }), /adam: parameter 0 is not a leaf tensor/],
    [
      'duplicate',
      () => {
        const p = param();
        return optim.sgd([p, p], { lr: 0.1 });
      },
      /sgd: parameter 1 appears more than once/,
    ],
    [
      'disposed tensor',
      () => {
        const p = param();
        p.dispose();
        return optim.lbfgs([p]);
      },
      /lbfgs: parameter 0 has been disposed/,
    ],
    ['clip: negative maxNorm', () => clipGradNorm([param()], -1), /clipGradNorm: maxNorm must be a finite number >= 0/],
    ['clip: norm type 0', () => clipGradNorm([param()], 1, 0), /clipGradNorm: normType must be a number > 0/],
    [
      'cosine: warmup not below steps',
      () => schedules.cosine(optim.sgd([param()], { lr: 1 }), { steps: 3, warmup: 3 }),
      /cosine: warmup must be a whole number >= 0 and < 3/,
    ],
    [
      'cosine: min above lr',
      () => schedules.cosine(optim.sgd([param()], { lr: 0.1 }), { steps: 3, min: 0.5 }),
      /cosine: min \(0.5\) is above the optimizer's lr \(0.1\)/,
    ],
    [
      'step: every 0',
      () => schedules.step(optim.sgd([param()], { lr: 1 }), { every: 0 }),
      /step: every must be a whole number >= 1/,
    ],
    [
      'exponential: no gamma',
      () => schedules.exponential(optim.sgd([param()], { lr: 1 }), {} as never),
      /exponential: gamma is required/,
    ],
    [
      'schedule of a non-optimizer',
      () => schedules.exponential({ lr: 1 } as never, { gamma: 0.5 }),
      /exponential: expected an Optimizer, got an object/,
    ],
  ] as [string, () => unknown, RegExp][])('%s', (_name, fn, message) => {
    expect(fn).toThrow(message);
  });

  test('step misuse: missing closure, bad closure results, re-entrance, disposal', () => {
    const p = param();
    const opt = optim.lbfgs([p]);
    expect(() => opt.step()).toThrow(/step\(\) needs a closure that re-evaluates the loss/);
    expect(() => opt.step(42 as never)).toThrow(/lbfgs.step: the closure must be a function, got number 42/);
    expect(() => opt.step(() => 1 as never)).toThrow(
      /lbfgs.step: the closure must return the loss Tensor, got number 1/,
    );
    expect(() => opt.step(() => p.mul(1))).toThrow(/the step closure must return the loss as a single-element tensor/);
    expect(() =>
      opt.step(() => {
        opt.dispose();
        return p.sum();
      }),
    ).toThrow(/cannot dispose the optimizer while this optimizer's step\(\) is running/);
    expect(() =>
      opt.step(() => {
        opt.step(() => p.sum());
        return p.sum();
      }),
    ).toThrow(/cannot call step\(\) while/);
    expect(() => {
      opt.lr = -0.5;
    }).toThrow(/lbfgs: lr must be a finite number >= 0, got number -0.5/);
    expect(opt.disposed).toBe(false);
    opt.dispose();
    opt.dispose();
    expect(opt.disposed).toBe(true);
    expect(() => opt.step(() => p.sum())).toThrow(/this optimizer has been disposed/);
    expect(() => opt.lr).toThrow(/this optimizer has been disposed/);
    expect(() => opt.zeroGrad()).toThrow(/this optimizer has been disposed/);
  });

  test('the raw binding reads every field strictly and rejects bad input with Errors', () => {
    const { NativeOptimizer } = optimAddon();
    const h = param().handle;
    const lbfgsConfig = {
      algorithm: 'lbfgs' as const,
      lr: 1,
      maxIter: 1e300,
      historySize: 5,
      lineSearch: null,
      gradientTolerance: 0,
      lossTolerance: 0,
    };
    expect(() => new NativeOptimizer([h], lbfgsConfig)).toThrow(/optimizer: maxIter must be a whole number >= 1/);
    const armijo = { ...lbfgsConfig, maxIter: 3, lineSearch: 'armijo' as never };
    expect(() => new NativeOptimizer([h], armijo)).toThrow(
      /the line searches are 'strong_wolfe' and 'backtracking', got 'armijo'/,
    );
    // A missing line search is not a default: the policy is TS's to decide.
    const { lineSearch: _, ...noSearch } = lbfgsConfig;
    const unsaid = { ...noSearch, maxIter: 3 } as never;
    expect(() => new NativeOptimizer([h], unsaid)).toThrow('optimizer: lineSearch must be a string or null');
    const rmsprop = { algorithm: 'rmsprop' } as never;
    expect(() => new NativeOptimizer([h], rmsprop)).toThrow(
      "optimizer: unknown algorithm 'rmsprop'; expected one of adam, sgd, lbfgs",
    );
    expect(() => new NativeOptimizer([h], { algorithm: 'adamw', lr: 1 } as never)).toThrow("unknown algorithm 'adamw'");
    expect(() => new NativeOptimizer([h], { algorithm: 'sgd', lr: 1 } as never)).toThrow(
      'optimizer: momentum must be a number',
    );
    const sgd = { algorithm: 'sgd' as const, lr: 1, momentum: 0, weightDecay: 0, nesterov: true };
    expect(() => new NativeOptimizer([h], { ...sgd, nesterov: 1 as never })).toThrow(
      'optimizer: nesterov must be a boolean',
    );
    expect(() => new NativeOptimizer([h], sgd)).toThrow(/libtorch: .*[Nn]esterov/);
    const adam = { algorithm: 'adam' as const, lr: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
    expect(() => new NativeOptimizer([h], adam as never)).toThrow('optimizer: decoupledDecay must be a boolean');
    expect(() => new NativeOptimizer([{} as never], { ...adam, decoupledDecay: false })).toThrow(/expected a Tensor/);
    expect(() => new NativeOptimizer([h], 'adam' as never)).toThrow('optimizer: the config must be an object');
    expect(() => optimAddon().clipGradNorm([h], NaN, 2)).toThrow(/maxNorm must be a number >= 0/);
  });

  test('the process is still healthy afterwards', () => {
    expect(f64([1, 2]).add(1).toArray()).toEqual([2, 3]);
  });
});

describe('end to end', () => {
  test('Adam with a cosine schedule fits y = a x + b to within 1e-3', () => {
    const xs = Array.from({ length: 21 }, (_, i) => -1 + i / 10);
    const x = f64(xs);
    const y = f64(xs.map((v) => 2.5 * v - 0.7));
    const a = f64(0, true);
    const b = f64(0, true);
    const opt = optim.adam([a, b], { lr: 0.1 });
    const sched = schedules.cosine(opt, { steps: 600, min: 1e-4 });
    for (let k = 0; k < 600; k++) {
      tidy(() => {
        opt.zeroGrad();
        losses.mse(x.mul(a).add(b), y).backward();
        opt.step();
      });
      sched.step();
    }
    expect(Math.abs(a.item() - 2.5)).toBeLessThan(1e-3);
    expect(Math.abs(b.item() + 0.7)).toBeLessThan(1e-3);
  });
});
