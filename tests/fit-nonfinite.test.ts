// Numerical hygiene of fit(): a NaN or infinite loss stops the fit with an Error naming the step and
// the parameter values then, unless stopOnNonFinite is false, which skips that step's update and
// carries on. The steps and values are checked against a plain JS simulation of the same descent.
import { compile, fit, type FitProgress } from '../src';

const LINE = { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] };

/**
 * Plain gradient descent on mean((k x - t)^2) from k = 1, in doubles, as SGD runs it: the first step
 * whose loss is not finite, and k before it.
 */
function divergence(lr: number): { step: number; k: number } {
  const { x } = LINE.inputs;
  let k = 1;
  for (let step = 1; ; step++) {
    const d = x.map((xi, i) => k * xi - LINE.target[i]);
    const loss = d.reduce((s, di) => s + di * di, 0) / x.length;
    if (!Number.isFinite(loss)) return { step, k };
    const grad = d.reduce((s, di, i) => s + (2 * di * x[i]) / x.length, 0);
    k -= lr * grad;
  }
}

/** The number in "(parameters: name = value" of a message. */
const valueIn = (message: string, name: string): number => Number(new RegExp(`${name} = ([^,)]+)`).exec(message)![1]);

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the fit to reject');
}

describe('a non-finite loss', () => {
  test('from the model at the first step: NaN and infinity, with the parameters exactly', async () => {
    const root = compile('(sqrt (- x k))', { params: { k: 1 } });
    await expect(fit(root, { inputs: { x: [2, 3, 0.5] }, target: [1, 1, 1] }, { epochs: 5 })).rejects.toThrow(
      'fit: the loss is nan at step 1 (parameters: k = 1); lower the learning rate, clip the gradients or start closer to the solution',
    );
    const pole = compile('(/ c (- x k))', { params: { c: 2, k: 1 } });
    await expect(fit(pole, { inputs: { x: [2, 1, 3] }, target: [1, 1, 1] }, { epochs: 5 })).rejects.toThrow(
      'fit: the loss is inf at step 1 (parameters: c = 2, k = 1);',
    );
    root.dispose();
    pole.dispose();
  });

  test('from a diverging descent: the step and the parameter value match a JS simulation', async () => {
    const lr = 1;
    const want = divergence(lr); // |k - 2| grows 25/3-fold per step until the loss overflows a double
    expect(want.step).toBeGreaterThan(100);
    const m = compile('(* k x)', { params: { k: 1 }, dtype: 'float64' });
    const e = await rejection(fit(m, LINE, { epochs: 1000, optimizer: 'sgd', lr }));
    expect(e.message).toMatch(new RegExp(`^fit: the loss is inf at step ${want.step} \\(parameters: k = `));
    expect(Math.abs(valueIn(e.message, 'k') - want.k) / Math.abs(want.k)).toBeLessThan(1e-5); // 6 digits shown
    // Stopping one step earlier, every step is finite but the final loss (at the last parameters) is not.
    const again = compile('(* k x)', { params: { k: 1 }, dtype: 'float64' });
    const last = await rejection(fit(again, LINE, { epochs: want.step - 1, optimizer: 'sgd', lr }));
    expect(last.message).toMatch(new RegExp(`^fit: the loss is inf after step ${want.step - 1} \\(parameters: k = `));
    expect(Math.abs(valueIn(last.message, 'k') - want.k) / Math.abs(want.k)).toBeLessThan(1e-5);
    m.dispose();
    again.dispose();
  });

  test('from an ODE whose solution blows up: an error naming the step, or skipped steps with stopOnNonFinite: false', async () => {
    // x' = k x^2 blows up at t = 1 / (k x0). The data: k = 0.5 from x0 = 1 (x = 1 / (1 - t / 2)).
    const t = Array.from({ length: 11 }, (_, i) => i / 10);
    const observations = t.map((ti) => [1 / (1 - 0.5 * ti)]);
    const rhs = '(* k (* x x))';
    const single = compile(rhs, { params: { k: 3 } }); // blows up at t = 1/3
    await expect(
      fit(single, { t, observations }, { epochs: 3, ode: { state: ['x'], method: 'rk4', step: 0.01 } }),
    ).rejects.toThrow(
      'fit: failed at step 1: odeint: the solution is not finite at t = 0.4 (it blows up or overflows before this time) (parameters: k = 3)',
    );
    // Windows of 0.2 from their observed starts: at k = 4 those starting above x0 = 1.25 (t = 0.6, 0.8)
    // blow up, the early ones do not. Skipping the failing windows, the others bring k down until all fit.
    const ode = { state: ['x'], method: 'rk4' as const, step: 0.01, windowSteps: 2 };
    // float64 and clipping: near a blow-up the loss is finite but huge (1e100), and in float32 the
    // square of such a gradient overflows Adam's second moment, which then freezes k for good.
    const shooting = compile(rhs, { params: { k: 4 }, dtype: 'float64' });
    const seen: FitProgress[] = [];
    const result = await fit(
      shooting,
      { t, observations },
      {
        epochs: 60,
        batchSize: 1,
        seed: 2,
        lr: 0.05,
        clip: 1,
        stopOnNonFinite: false,
        ode,
        onProgress: (p) => seen.push(p),
      },
    );
    const skipped = seen.filter((p) => Number.isNaN(p.loss));
    expect(skipped.length).toBeGreaterThan(0);
    for (const p of skipped) expect(p.params.k).toBe(p.step === 1 ? 4 : seen[p.step - 2].params.k);
    expect(skipped[skipped.length - 1].step).toBeLessThan(result.steps / 2); // later every window is finite
    expect(result.loss).toBeLessThan(1e-6);
    expect(result.params.k).toBeCloseTo(0.5, 2);
    single.dispose();
    shooting.dispose();
  });

  test('with stopOnNonFinite: false, steps with a non-finite loss update nothing and the others train', async () => {
    // One sample's target is NaN: with minibatches of one sample, the steps drawing it are skipped.
    const data = { inputs: { x: [1, 2, 3, 4] }, target: [2, 4, NaN, 8] };
    const stopping = compile('(* k x)', { params: { k: 1 } });
    await expect(fit(stopping, data, { epochs: 2, batchSize: 1, seed: 1 })).rejects.toThrow(
      /fit: the loss is nan at step \d+ \(parameters: k = /,
    );
    stopping.dispose();
    const m = compile('(* k x)', { params: { k: 1 } });
    const seen: FitProgress[] = [];
    const result = await fit(m, data, {
      epochs: 60,
      batchSize: 1,
      seed: 1,
      lr: 0.05,
      stopOnNonFinite: false,
      onProgress: (p) => seen.push(p),
    });
    expect(result.steps).toBe(240);
    expect(result.stopped).toBe('epochs');
    expect(Number.isNaN(result.loss)).toBe(true); // on all the data, NaN sample included
    expect(result.params.k).toBeCloseTo(2, 3); // what the three good samples say
    const skipped = seen.filter((p) => Number.isNaN(p.loss));
    expect(skipped.length).toBe(60); // once per epoch
    for (const p of skipped) expect(p.params.k).toBe(p.step === 1 ? 1 : seen[p.step - 2].params.k);
    m.dispose();
  });
});

describe('a finite loss with a non-finite gradient', () => {
  // d/dk sqrt(k x) = x / (2 sqrt(k x)): 0/0 at x = 0, where the loss term (sqrt(0) - 0)^2 is finite.
  // The data say k = 4: sqrt(4 x) at x = 0, 1, 4, 9.
  const data = { inputs: { x: [0, 1, 4, 9] }, target: [0, 2, 4, 6] };
  // Mean of (sqrt(x) - t)^2 at k = 1: (0 + 1 + 4 + 9) / 4.
  const lossAtStart = 3.5;

  test('stops the fit at that step, naming the parameter and the loss, before the parameters turn NaN', async () => {
    const m = compile('(sqrt (* k x))', { params: { k: 1 } });
    await expect(fit(m, data, { epochs: 5 })).rejects.toThrow(
      `fit: the gradient of k is nan at step 1, where the loss is ${lossAtStart} (parameters: k = 1); the program's derivative is not finite there`,
    );
    // At 0 itself the derivative of sqrt is infinite: a scalar gradient shows its value.
    const root = compile('(+ (sqrt k) x)', { params: { k: 0 } });
    await expect(fit(root, { inputs: { x: [1, 2] }, target: [2, 3] }, { epochs: 5 })).rejects.toThrow(
      'fit: the gradient of k is -inf at step 1, where the loss is 1 (parameters: k = 0);',
    );
    // A vector parameter says how many of its values are not finite.
    const vec = compile('(+ x (dot c (sqrt w)))', { inputs: { x: 'scalar' }, params: { c: [1, 1, 1], w: [0, 1, 4] } });
    await expect(fit(vec, { inputs: { x: [1, 2] }, target: [2, 3] }, { epochs: 5 })).rejects.toThrow(
      /^fit: the gradient of w has 1 of 3 values not finite at step 1, where the loss is 4 \(parameters: c = \[1, 1, 1\], w = \[0, 1, 4\]\);/,
    );
    for (const x of [m, root, vec]) x.dispose();
  });

  test('with stopOnNonFinite: false, those steps update nothing and the others train', async () => {
    const m = compile('(sqrt (* k x))', { params: { k: 1 }, dtype: 'float64' });
    const seen: FitProgress[] = [];
    const result = await fit(m, data, {
      epochs: 80,
      batchSize: 1,
      seed: 3,
      lr: 0.1,
      stopOnNonFinite: false,
      onProgress: (p) => seen.push(p),
    });
    expect(result.steps).toBe(320);
    expect(result.params.k).toBeCloseTo(4, 3);
    // The steps drawing x = 0 (loss exactly 0 at any k) left k where it was.
    const skipped = seen.filter((p, i) => p.loss === 0 && i > 0);
    expect(skipped.length).toBeGreaterThan(60);
    for (const p of skipped) expect(p.params.k).toBe(seen[p.step - 2].params.k);
    m.dispose();
  });
});
