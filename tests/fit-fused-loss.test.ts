// fit() on the libtorch path at batches beyond the small-program tier: a program whose result is
// one fused elementwise node takes forward, the loss and backward in one pass over the rows
// (native/fused.cpp, fused_loss_grad). Its loss and gradients must be the losses' own, as autograd
// through at::mse_loss, l1_loss and huber_loss gives them: checked against float64 formulas by hand
// and against the same fit with fusion off (compile option fuse: false); result.fused says which ran.
import { compile, fit, type FitOptions } from '../src';

const SOURCE = '(/ (* G (* m1 m2)) (pow r 2))';
const B = 2000; // beyond the tier's batches, so the libtorch path runs
const rows = (lo: number, hi: number, s: number) =>
  Array.from({ length: B }, (_, i) => lo + (hi - lo) * (((i + s) * 0.6180339887) % 1));
const inputs = { m1: rows(1, 2, 1), m2: rows(1, 3, 2), r: rows(1, 2, 3) };
// residuals of both signs and of every size the losses treat apart (Huber: below and above 1)
const target = inputs.m1.map((m, i) => (0.7 * m * inputs.m2[i]) / inputs.r[i] ** 2 + 1.5 * Math.sin(i));
const G0 = 0.3;

/** The loss and its derivative by G at G, in float64 by hand. */
function byHand(loss: 'mse' | 'mae' | 'huber', G: number): { value: number; slope: number } {
  let value = 0;
  let slope = 0;
  for (let i = 0; i < B; i++) {
    const x = (inputs.m1[i] * inputs.m2[i]) / inputs.r[i] ** 2; // d(prediction)/dG
    const d = G * x - target[i];
    const a = Math.abs(d);
    if (loss === 'mse') [value, slope] = [value + d * d, slope + 2 * d * x];
    else if (loss === 'mae') [value, slope] = [value + a, slope + Math.sign(d) * x];
    else [value, slope] = [value + (a < 1 ? 0.5 * d * d : a - 0.5), slope + Math.max(-1, Math.min(1, d)) * x];
  }
  return { value: value / B, slope: slope / B };
}

describe.each(['mse', 'mae', 'huber'] as const)('the %s loss fused into the pass', (loss) => {
  test('one SGD step (lr 1) moves G by the loss gradient by hand, and the final loss is the loss by hand', async () => {
    const m = compile(SOURCE, { inputs: ['m1', 'm2', 'r'], params: { G: G0 }, dtype: 'float64', tier: false });
    try {
      const options: FitOptions = { optimizer: 'sgd', lr: 1, epochs: 1, batchSize: B, loss };
      const r = await fit(m, { inputs, target }, options);
      expect([r.tier, r.fused]).toEqual([false, true]); // the fused pass took the gradient, not autograd
      const G1 = G0 - byHand(loss, G0).slope;
      expect((r.params.G as number) - G1).toBeCloseTo(0, 12);
      expect(r.loss - byHand(loss, G1).value).toBeCloseTo(0, 12);
    } finally {
      m.dispose();
    }
  });

  test.each(['float64', 'float32'] as const)(
    '%s: Adam steps over seeded minibatches as with fusion off',
    async (dtype) => {
      const stepLosses: number[] = [];
      const options: FitOptions = {
        optimizer: 'adam',
        lr: 0.01,
        epochs: 30,
        batchSize: 500,
        seed: 3,
        loss,
        onProgress: (p) => stepLosses.push(p.loss),
      };
      const [a, b] = await Promise.all(
        [true, false].map(async (fuse) => {
          const m = compile(SOURCE, { inputs: ['m1', 'm2', 'r'], params: { G: G0 }, dtype, tier: false, fuse });
          try {
            return await fit(m, { inputs, target }, options);
          } finally {
            m.dispose();
          }
        }),
      );
      expect([a.fused, b.fused]).toEqual([true, false]); // the two paths, told apart
      const tolerance = dtype === 'float64' ? 1e-12 : 1e-5;
      expect(Math.abs((a.params.G as number) - (b.params.G as number))).toBeLessThan(tolerance);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(tolerance * Math.max(1, b.loss));
      // each step's mean, the fused pass's summed in double, is rounded to the dtype as ATen's loss tensor holds it
      expect(stepLosses.length).toBe(2 * 30 * 4);
      if (dtype === 'float32') for (const l of stepLosses) expect(Math.fround(l)).toBe(l);
      expect(a.params.G).not.toBe(G0);
    },
  );
});

test('fit() takes typed arrays for the inputs and the target, as it takes arrays', async () => {
  const options: FitOptions = { optimizer: 'adam', lr: 0.01, epochs: 5, batchSize: B };
  const run = async (data: Parameters<typeof fit>[1]) => {
    const m = compile(SOURCE, { inputs: ['m1', 'm2', 'r'], params: { G: G0 }, dtype: 'float64', tier: false });
    try {
      return (await fit(m, data, options)).params.G;
    } finally {
      m.dispose();
    }
  };
  const typed = {
    inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, Float64Array.from(v)])),
    target: Float32Array.from(target), // converted to the module's dtype, as arrays are
  };
  const asArrays = { inputs, target: Array.from(Float32Array.from(target)) };
  expect(await run(typed)).toBe(await run(asArrays));
});

test('result.fused is false on the small-program tier, which takes small batches without either pass', async () => {
  const m = compile(SOURCE, { inputs: ['m1', 'm2', 'r'], params: { G: G0 } });
  try {
    const r = await fit(m, { inputs: { m1: [1, 2], m2: [1, 2], r: [1, 2] }, target: [1, 2] }, { epochs: 1 });
    expect([r.tier, r.fused]).toEqual([true, false]);
  } finally {
    m.dispose();
  }
});
