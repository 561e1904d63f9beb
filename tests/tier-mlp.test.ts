// Learned components (MLPs) on the small-program tier: their dense layers run as tape rows, their
// activations as the registry's forms, and their weights are the tier's weight blocks. The tier's
// value and gradients must equal the libtorch path's (forward and autograd through at::linear),
// and finite differences (fit() on hybrids: tests/tier-fit.test.ts).
import { compile, nn, type CompileOptions, type Module } from '../src';
import { grad } from '../src/train/autograd';
import { tensor } from '../src/runtime/tensor';
import type { DType } from '../src/runtime/tensor';
import { centralDifference, maxRelativeError } from './helpers/finite-diff';
import { numbers as flat, withTierPair } from './helpers/tier';

const ACTIVATIONS = ['tanh', 'relu', 'gelu', 'silu', 'softplus'] as const;

/** A program calling two MLPs: one on a scalar and a vector (3 features), one with a vector result. */
const HYBRID = '(+ (* a (f x (vec y (* b x)))) (dot (g (* b y)) (vec x y)))';

/** HYBRID's options: new MLPs (seeded), which a tier pair's twin shares. */
function hybrid(activation: (typeof ACTIVATIONS)[number], dtype: DType): CompileOptions {
  const f = nn.mlp([3, 6, 5, 1], { activation, seed: 5, dtype });
  const g = nn.mlp([1, 4, 2], { activation, seed: 6, dtype });
  return { functions: { f, g }, params: { a: 1.3, b: -0.7 }, dtype };
}

const DATA = { x: [0.4, -1.2, 2.5, 0.05], y: [0.3, 1.5, -2, 0.7] };
type Data = Record<string, number[]>;

type Result = { value: number[]; grads: Record<string, number[]> };

/** Through Tensors: forward over the batch, then autograd's gradient of the sum (params and x); the libtorch path for a module compiled with tier: false. */
function reference(m: Module, data: Data = DATA): Result {
  const inputs = Object.fromEntries(
    Object.entries(data).map(([name, v]) => [name, tensor(v, { dtype: m.dtype, requiresGrad: name === 'x' })]),
  );
  const out = m.forward(inputs, { batch: true });
  const named = Object.entries(m.namedParameters());
  const found = grad(out, [...named.map(([, t]) => t), inputs.x]);
  const grads = Object.fromEntries(named.map(([name], k) => [name, flat(found[k].toTypedArray())]));
  grads.x = flat(found[named.length].toTypedArray());
  const value = flat(out.toTypedArray());
  for (const t of [...Object.values(inputs), out, ...found]) t.dispose();
  return { value, grads };
}

/** The tier: valueAndGrad on the batch (typed arrays), and on each sample's numbers (the bound buffers). */
function onTier(m: Module, data: Data = DATA): { batch: Result; single: Result } {
  const names = Object.keys(data);
  expect(m.tier(names.map(() => true))).toBeDefined();
  expect(m.singleSampleTier()).toBeDefined();
  const arrays = (v: number[]) => (m.dtype === 'float64' ? Float64Array.from(v) : Float32Array.from(v));
  const typed = Object.fromEntries(names.map((name) => [name, arrays(data[name])]));
  const r = m.valueAndGrad(typed, { batch: true, wrt: ['x'] });
  const batch = {
    value: flat(r.value),
    grads: Object.fromEntries(Object.entries(r.grads).map(([name, g]) => [name, flat(g)])),
  };
  const single: Result = { value: [], grads: {} };
  data.x.forEach((_, s) => {
    const one = m.valueAndGrad(Object.fromEntries(names.map((name) => [name, data[name][s]])), { wrt: ['x'] });
    single.value.push(one.value as number);
    for (const [name, g] of Object.entries(one.grads)) {
      const add = flat(g);
      if (name === 'x') (single.grads.x ??= []).push(add[0]);
      else single.grads[name] = single.grads[name] ? single.grads[name].map((a, j) => a + add[j]) : add;
    }
  });
  return { batch, single };
}

/** Each element within `relative` of its reference, or of a thousandth of the largest where it cancels. */
function expectClose(got: number[], want: number[], relative: number): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(...want.map(Math.abs), 1e-300);
  got.forEach((g, i) =>
    expect(Math.abs(g - want[i])).toBeLessThanOrEqual(relative * Math.max(Math.abs(want[i]), scale * 1e-3)),
  );
}

describe('an MLP on the tier: value and gradients', () => {
  test.each(ACTIVATIONS)('%s, float64: the libtorch path within 1e-12 (value) and 1e-10 (gradients)', async (act) => {
    await withTierPair(HYBRID, hybrid(act, 'float64'), (m, off) => {
      const want = reference(off);
      for (const got of Object.values(onTier(m))) {
        expectClose(got.value, want.value, 1e-12);
        expect(Object.keys(got.grads).sort()).toEqual(Object.keys(want.grads).sort());
        for (const name of Object.keys(want.grads)) expectClose(got.grads[name], want.grads[name], 1e-10);
      }
    });
  });
});

describe('an MLP on the tier: finite differences and float32', () => {
  /** Writes a parameter's values (flat, row-major) into its tensor. */
  const assign = (m: Module, name: string, values: number[]) => {
    const p = m.namedParameters()[name];
    const t = tensor(values, { dtype: m.dtype });
    const shaped = t.reshape(p.shape);
    p.handle.assign(shaped.handle);
    for (const x of [t, shaped]) x.dispose();
  };

  test('gelu, float64: the gradients of weights, biases, constants and inputs are central differences of the value', () => {
    const m = compile(HYBRID, hybrid('gelu', 'float64'));
    try {
      const total = (x = DATA.x) => onTier(m, { ...DATA, x }).batch.value.reduce((a, b) => a + b, 0);
      const { grads } = onTier(m).batch;
      for (const name of ['a', 'f.0.weight', 'f.2.bias', 'g.0.bias', 'g.1.weight']) {
        const start = flat(m.namedParameters()[name].toTypedArray());
        const fd = centralDifference((w) => {
          assign(m, name, w);
          return total();
        }, start);
        assign(m, name, start);
        expect(maxRelativeError(grads[name], fd)).toBeLessThan(1e-7);
      }
      // d(sum)/dx per sample: x's gradient is each sample's own
      const fd = centralDifference((x) => total(x), DATA.x);
      expect(maxRelativeError(grads.x, fd)).toBeLessThan(1e-7);
    } finally {
      m.dispose();
    }
  });

  test.each(['tanh', 'softplus'] as const)(
    '%s, float32: the libtorch path within 2e-6 of the values, 1e-5 of the gradients',
    async (act) => {
      // float32 sums in another order (the tier's weight gradients summed in double): a few ulps per
      // layer, relative to the largest term, not to a result that cancels.
      await withTierPair(HYBRID, hybrid(act, 'float32'), (m, off) => {
        const want = reference(off);
        for (const got of Object.values(onTier(m))) {
          expectClose(got.value, want.value, 2e-6);
          for (const name of Object.keys(want.grads)) expectClose(got.grads[name], want.grads[name], 1e-5);
        }
      });
    },
  );

  test('a pre-activation above softplus threshold 20 takes the identity, as at::softplus', async () => {
    const net = nn.mlp([1, 2, 1], { activation: 'softplus', seed: 1, dtype: 'float64' });
    await withTierPair('(net x)', { functions: { net } }, (m, off) => {
      // x = 1 puts the first unit at 20.5, where log1p(exp(z)) differs from z by 1.3e-9 (off shares net's weights)
      assign(m, 'net.0.weight', [20, -0.5]);
      assign(m, 'net.0.bias', [0.5, 0.1]);
      const data = { x: [1, 0.5, -1] };
      const want = reference(off, data);
      const got = onTier(m, data).batch;
      expectClose(got.value, want.value, 1e-12);
      for (const name of Object.keys(want.grads)) expectClose(got.grads[name], want.grads[name], 1e-10);
    });
  });
});

describe('forward with MLPs on the tier (through Tensors)', () => {
  /** Whether forward's last call ran on the tier. */
  const ranOnTier = (m: Module) => {
    const spy = jest.spyOn(m as never as { smallBatchTier: () => unknown }, 'smallBatchTier');
    return () => {
      const used = spy.mock.results.at(-1)?.value !== undefined;
      spy.mockRestore();
      return used;
    };
  };

  test.each(['tanh', 'gelu'] as const)(
    '%s, float64: values and gradients equal the libtorch path, by sum().backward() and by the engine',
    async (act) => {
      await withTierPair(HYBRID, hybrid(act, 'float64'), (m, off) => {
        const used = ranOnTier(m);
        const got = reference(m);
        expect(used()).toBe(true);
        const want = reference(off);
        expectClose(got.value, want.value, 1e-12);
        for (const name of Object.keys(want.grads)) expectClose(got.grads[name], want.grads[name], 1e-10);
        // sum().backward() without the engine, and with an explicit upstream gradient through it
        const accumulated = (module: Module, upstream: boolean) => {
          const inputs = Object.fromEntries(
            Object.entries(DATA).map(([k, v]) => [k, tensor(v, { dtype: 'float64', requiresGrad: k === 'x' })]),
          );
          const y = module.forward(inputs, { batch: true });
          const weights = tensor([0.5, -1, 2, 0.25], { dtype: 'float64' });
          if (upstream) y.backward(weights);
          else y.mul(weights).sum().backward();
          const grads = [...module.parameters(), inputs.x].map((t) => Array.from(t.grad!.toTypedArray()));
          for (const p of module.parameters()) p.zeroGrad();
          for (const t of [y, weights, ...Object.values(inputs)]) t.dispose();
          return grads;
        };
        const direct = (module: Module) => {
          const inputs = Object.fromEntries(Object.entries(DATA).map(([k, v]) => [k, tensor(v, { dtype: 'float64' })]));
          const y = module.forward(inputs, { batch: true });
          const s = y.sum();
          s.backward();
          const grads = module.parameters().map((t) => Array.from(t.grad!.toTypedArray()));
          for (const p of module.parameters()) p.zeroGrad();
          for (const t of [y, s, ...Object.values(inputs)]) t.dispose();
          return grads;
        };
        const [a, b] = [accumulated(m, true), accumulated(off, true)];
        a.forEach((g, k) => expectClose(g, b[k], 1e-10));
        const [c, d] = [direct(m), direct(off)];
        c.forEach((g, k) => expectClose(g, d[k], 1e-10));
      });
    },
  );

  test('second derivatives through the MLPs (create_graph replays the dense rows through libtorch)', async () => {
    const second = (m: Module) => {
      const x = tensor(DATA.x, { dtype: 'float64', requiresGrad: true });
      const y = m.forward({ x, y: tensor(DATA.y, { dtype: 'float64' }) }, { batch: true });
      const [dy] = grad(y, [x], { createGraph: true });
      const [d2y] = grad(dy, [x]);
      const [dw] = grad(dy.sum(), [m.namedParameters()['f.0.weight']]);
      const out = [y, dy, d2y, dw].map((t) => Array.from(t.toTypedArray()));
      for (const t of [x, y, dy, d2y, dw]) t.dispose();
      return out;
    };
    await withTierPair(HYBRID, hybrid('tanh', 'float64'), (m, off) => {
      const used = ranOnTier(m);
      const a = second(m);
      expect(used()).toBe(true);
      const b = second(off);
      a.forEach((values, k) => expectClose(values, b[k], 1e-10));
      expect(Math.max(...b[2].map(Math.abs))).toBeGreaterThan(1e-3);
    });
  });

  test('batches whose MLP work passes the cap (samples x weights > 60,000) go to libtorch', () => {
    const net = nn.mlp([1, 64, 64, 1], { seed: 2, dtype: 'float64' }); // 4,353 weights
    const m = compile('(net x)', { functions: { net }, dtype: 'float64' });
    try {
      for (const [samples, tier] of [
        [13, true], // 56,589
        [14, false], // 60,942
      ] as const) {
        const used = ranOnTier(m);
        const y = m.forward({ x: Array.from({ length: samples }, (_, i) => i / 8) }, { batch: true });
        expect([samples, used()]).toEqual([samples, tier]);
        y.dispose();
      }
    } finally {
      m.dispose();
    }
  });
});

describe('norm and normalize on the tier', () => {
  test("a vector's length, and at the zero vector 0 with gradient 0 as autograd gives", async () => {
    await withTierPair('(* a (norm (vec x y)))', { params: { a: 2 } }, (m, off) => {
      expect(m.singleSampleTier()).toBeDefined();
      const at = (x: number, y: number) => m.valueAndGrad({ x, y }, { wrt: ['x', 'y'] });
      const close = (v: number) => expect.closeTo(v, 14);
      expect(at(3, 4)).toEqual({ value: 10, grads: { a: 5, x: close(1.2), y: close(1.6) } });
      expect(at(0, 0)).toEqual({ value: 0, grads: { a: 0, x: 0, y: 0 } });
      const data = { x: [3, 0, -1e-3], y: [4, 0, 2e-3] };
      const want = reference(off, data);
      const got = onTier(m, data).batch;
      expectClose(got.value, want.value, 1e-12);
      for (const name of Object.keys(want.grads)) expectClose(got.grads[name], want.grads[name], 1e-10);
      expect(got.grads.x[1]).toBe(0);
    });
  });

  test('normalize: v / max(norm(v), 1e-8) as the kernel, below 1e-8 and at zero included', async () => {
    // a weighted sum of the unit vector's components, so that every component's gradient counts
    await withTierPair('(dot (normalize (vec x (* a y))) (vec 0.3 -0.7))', { params: { a: 2 } }, (m, off) => {
      expect(m.singleSampleTier()).toBeDefined();
      const data = { x: [3, 0, -1e-3, 2e-9, 0.5], y: [4, 0, 2e-3, -1e-9, -0.25] };
      const want = reference(off, data);
      const got = onTier(m, data).batch;
      expectClose(got.value, want.value, 1e-12);
      for (const name of Object.keys(want.grads)) expectClose(got.grads[name], want.grads[name], 1e-10);
      // at zero the length is clamped: the gradient is the numerator's, 0.3 / 1e-8
      expect(got.grads.x[1]).toBeCloseTo(0.3e8, 0);
    });
  });
});
