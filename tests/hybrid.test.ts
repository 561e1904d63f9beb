// Learned components inside compiled programs: one graph, gradients to both the network and the
// physical constants, trained jointly.
import { compile } from '../src/api';
import { CompileError } from '../src/diagnostics';
import { mlp } from '../src/nn/mlp';
import { tensor, tidy } from '../src/runtime/tensor';
import { optim, losses } from '../src/train';

const f64 = { dtype: 'float64' as const };

describe('an MLP called inside a program', () => {
  test('the value is the program with the network applied to the call’s arguments', () => {
    const drag = mlp([3, 8, 1], { seed: 1, ...f64 });
    const m = compile('(+ (* k x) (drag x (ref v 0) (ref v 1)))', { functions: { drag }, params: { k: 2 }, ...f64 });
    const xs = [0.5, -1];
    const vs = [
      [1, 2],
      [3, -4],
    ];
    const out = m.forward({ x: xs, v: vs }, { batch: true }).toArray() as number[];
    const net = drag
      .forward(
        tensor(
          xs.map((x, i) => [x, vs[i][0], vs[i][1]]),
          f64,
        ),
      )
      .toArray() as number[][];
    out.forEach((o, i) => expect(o).toBeCloseTo(2 * xs[i] + net[i][0], 12));
    // unbatched: a vector argument counts its elements as features
    const one = m.forward({ x: 0.5, v: [1, 2] }).item();
    expect(one).toBeCloseTo(out[0], 12);
  });

  test('a vector-valued network gives a vector, and gradients reach its weights and the constants', () => {
    const field = mlp([2, 4, 2], { seed: 2, ...f64 });
    const m = compile('(dot (scale k (field p)) p)', {
      functions: { field },
      params: { k: 1.5 },
      inputs: { p: [2] },
      ...f64,
    });
    expect(Object.keys(m.namedParameters())).toEqual([
      'k',
      'field.0.weight',
      'field.0.bias',
      'field.1.weight',
      'field.1.bias',
    ]);
    const y = m.forward({ p: [0.3, -0.7] });
    y.backward();
    const p = [0.3, -0.7];
    const f = field.forward(tensor(p, f64)).toArray() as number[];
    expect(y.item()).toBeCloseTo(1.5 * (f[0] * p[0] + f[1] * p[1]), 12);
    expect(m.namedParameters().k.grad!.item()).toBeCloseTo(f[0] * p[0] + f[1] * p[1], 12);
    const bias = field.namedParameters()['1.bias'].grad!.toArray();
    expect(bias).toEqual([1.5 * p[0], 1.5 * p[1]].map((v) => expect.closeTo(v, 12)));
  });

  test('inside a per-sample branch, only the samples that take it run the network', () => {
    const g = mlp([1, 4, 1], { seed: 3, ...f64 });
    const m = compile('(if (> x 0) (g x) (- x))', { functions: { g }, ...f64 });
    const out = m.forward({ x: [1, -2, 3] }, { batch: true }).toArray() as number[];
    const net = g.forward(tensor([[1], [3]], f64)).toArray() as number[][];
    expect(out).toEqual([net[0][0], 2, net[1][0]].map((v) => expect.closeTo(v, 12)));
  });

  test('the feature count and argument shapes are checked at compile time', () => {
    const g = mlp([3, 1], f64);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as CompileError).diagnostics?.[0]?.code ?? (e as Error).message;
      }
      return 'no error';
    };
    expect(code(() => compile('(g v)', { functions: { g }, inputs: { v: [2] }, ...f64 }))).toBe('E0108');
    expect(code(() => compile('(g A)', { functions: { g }, inputs: { A: [3, 3] }, ...f64 }))).toBe('E0108');
    expect(code(() => compile('(g a b c d)', { functions: { g }, ...f64 }))).toBe('E0040');
    expect(() => compile('(g x)', { functions: { g: mlp([1, 1]) }, ...f64 })).toThrow(
      /is float32, but this module is float64/,
    );
  });

  test('an MLP and a physical constant trained jointly recover the constant and the unknown term', () => {
    // y = -k x + h(v): the known law with k = 2 and an unknown effect h(v) = 0.5 sin(2v) of another
    // variable, learned by a small MLP while k is fitted.
    const h = mlp([1, 16, 1], { seed: 4, ...f64 });
    const model = compile('(+ (* (- 0 k) x) (h v))', { functions: { h }, params: { k: 0.5 }, ...f64 });
    const n = 128;
    const xs = Array.from({ length: n }, (_, i) => -2 + (4 * ((i * 37) % n)) / n);
    const vs = Array.from({ length: n }, (_, i) => -2 + (4 * i) / n);
    const x = tensor(xs, f64);
    const v = tensor(vs, f64);
    const target = tensor(
      xs.map((xi, i) => -2 * xi + 0.5 * Math.sin(2 * vs[i])),
      f64,
    );
    const opt = optim.adam(model.parameters(), { lr: 0.02 });
    let loss = Infinity;
    for (let step = 0; step < 2000; step++) {
      loss = tidy(() => {
        opt.zeroGrad();
        const l = losses.mse(model.forward({ x, v }, { batch: true }), target);
        l.backward();
        opt.step();
        return l.item();
      });
    }
    expect(loss).toBeLessThan(1e-4);
    expect(Math.abs(model.namedParameters().k.item() - 2) / 2).toBeLessThan(0.01);
  });
});
