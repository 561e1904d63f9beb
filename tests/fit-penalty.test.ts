// fit()'s weightPenalty (issue 15: hybrid models whose MLPs absorb the known physics): an L2 penalty on
// the learned components' hidden layers only (never the output layer, which scales the learned term
// to the data, nor the constants), relative to the target's variance, in every step's loss and
// gradient and not in the reported loss. Reference: the data loss's gradient from autograd, the
// penalty's (2 s w on the hidden layer's parameters, net.0.*) and one SGD step written by hand in float64.
import { compile, fit, nn, tensor, tidy, type Module } from '../src';
import { penaltyStrength, weightPenalty } from '../src/train';

const XS = [0.5, 1, 1.5, 2, 2.5, 3];
const TARGET = XS.map((x) => 2 * x + Math.sin(x));

function hybrid(): Module {
  const net = nn.mlp([1, 4, 1], { seed: 7, dtype: 'float64' });
  return compile('(+ (* k x) (net x))', { params: { k: 1 }, functions: { net }, dtype: 'float64' });
}

const snapshot = (m: Module) =>
  Object.fromEntries(Object.entries(m.namedParameters()).map(([k, t]) => [k, Array.from(t.toTypedArray())]));

test('one SGD step: the data gradient everywhere plus 2 s w on the MLP hidden layer only (s = weightPenalty x variance)', async () => {
  const lambda = 0.01;
  const lr = 0.05;
  // The strength by hand: lambda times the target's population variance.
  const mean = TARGET.reduce((a, b) => a + b, 0) / TARGET.length;
  const s = (lambda * TARGET.reduce((a, t) => a + (t - mean) ** 2, 0)) / TARGET.length;

  // By hand: the data loss's gradient through autograd, then 2 s w added to the parameters named net.0.*
  // (the MLP's hidden layer), one step of plain gradient descent.
  const reference = hybrid();
  const before = snapshot(reference);
  tidy(() => {
    const y = reference.forward({ x: tensor(XS, { dtype: 'float64' }) }, { batch: true });
    y.sub(tensor(TARGET, { dtype: 'float64' }))
      .square()
      .mean()
      .backward();
  });
  const want = Object.fromEntries(
    Object.entries(reference.namedParameters()).map(([name, t]) => {
      const grad = Array.from(t.grad!.toTypedArray());
      const penalised = name.startsWith('net.0.');
      return [name, before[name].map((p, i) => p - lr * (grad[i] + (penalised ? 2 * s * p : 0)))];
    }),
  );

  const model = hybrid();
  expect(snapshot(model)).toEqual(before);
  const result = await fit(
    model,
    { inputs: { x: XS }, target: TARGET },
    { optimizer: 'sgd', lr, epochs: 1, weightPenalty: lambda, seed: 1 },
  );
  const got = snapshot(model);
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [k, values] of Object.entries(want)) values.forEach((v, i) => expect(got[k][i]).toBeCloseTo(v, 12));

  // The reported loss is the data's alone, at the final parameters.
  const mse = tidy(() =>
    model
      .forward({ x: tensor(XS, { dtype: 'float64' }) }, { batch: true })
      .sub(tensor(TARGET, { dtype: 'float64' }))
      .square()
      .mean()
      .item(),
  );
  expect(result.loss).toBeCloseTo(mse, 12);
  // The library's helpers give the same strength and the same term as written here.
  expect(penaltyStrength(lambda, TARGET)).toBeCloseTo(s, 15);
  const byHand = Object.entries(model.namedParameters())
    .filter(([name]) => name.startsWith('net.0.'))
    .reduce((a, [, t]) => a + Array.from(t.toTypedArray()).reduce((b, w) => b + w * w, 0), 0);
  expect(tidy(() => weightPenalty(model, s).item())).toBeCloseTo(s * byHand, 12);
  for (const m of [model, reference]) m.dispose();
});

test('a penalty that changes the answer: with it the MLP ends with smaller hidden weights', async () => {
  const sumOfSquares = (m: Module) =>
    Object.entries(m.namedParameters())
      .filter(([k]) => k.startsWith('net.0.'))
      .reduce((s, [, t]) => s + Array.from(t.toTypedArray()).reduce((a, w) => a + w * w, 0), 0);
  const plain = hybrid();
  const penalised = hybrid();
  const data = { inputs: { x: XS }, target: TARGET };
  await fit(plain, data, { optimizer: 'adam', lr: 0.01, epochs: 300, seed: 1 });
  await fit(penalised, data, { optimizer: 'adam', lr: 0.01, epochs: 300, seed: 1, weightPenalty: 1 });
  expect(sumOfSquares(penalised)).toBeLessThan(0.5 * sumOfSquares(plain));
  for (const m of [plain, penalised]) m.dispose();
});

test('which parameters the penalty covers: hidden layers, every MLP called at any depth, a linear one whole', () => {
  const deep = nn.mlp([2, 3, 3, 1], { seed: 1, dtype: 'float64' });
  const linear = nn.mlp([1, 1], { seed: 2, dtype: 'float64' });
  const inner = compile('(deep x y)', { functions: { deep }, dtype: 'float64' });
  const outer = compile('(+ (* k (inner x y)) (linear x))', {
    params: { k: 1 },
    functions: { inner, linear },
    dtype: 'float64',
  });
  try {
    const covered = new Set(outer.penalisedParameters());
    const names = Object.entries(outer.namedParameters())
      .filter(([, t]) => covered.has(t))
      .map(([name]) => name);
    expect(names.sort()).toEqual(
      [
        'inner.deep.0.weight',
        'inner.deep.0.bias',
        'inner.deep.1.weight',
        'inner.deep.1.bias',
        'linear.0.weight',
        'linear.0.bias',
      ].sort(),
    );
  } finally {
    for (const m of [outer, inner]) m.dispose();
    for (const n of [deep, linear]) n.dispose();
  }
});

test('bad weightPenalty values and models without learned components are errors', async () => {
  const data = { inputs: { x: XS }, target: TARGET };
  const model = hybrid();
  await expect(fit(model, data, { epochs: 1, weightPenalty: -1 })).rejects.toThrow(/weightPenalty/);
  await expect(fit(model, data, { epochs: 1, weightPenalty: 'a' as never })).rejects.toThrow(/weightPenalty/);
  const physics = compile('(* k x)', { params: { k: 1 } });
  await expect(fit(physics, data, { epochs: 1, weightPenalty: 0.1 })).rejects.toThrow(
    'fit: weightPenalty is for models that call learned components (MLPs), and this one trains none',
  );
  expect(() => weightPenalty(physics, 0.1)).toThrow('weightPenalty: the model calls no learned component (MLP)');
  for (const m of [model, physics]) m.dispose();
});
