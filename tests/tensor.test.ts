import { cudaAvailable, full, ones, randn, setNumThreads, getNumThreads, tensor, tidy, zeros, Tensor } from '../src';
import { native } from '../src/runtime/native';
import { liveTensorBytes, nativeResidentMb } from './helpers/memory';
import { noCudaDevice } from './helpers/cuda';

describe('tensor round trips', () => {
  test.each(['float32', 'float64'] as const)('nested arrays and typed arrays keep values and shape (%s)', (dtype) => {
    const data = [
      [1.5, -2, 3.25],
      [4, 5e-3, -6e10],
    ];
    const t = tensor(data, { dtype });
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe(dtype);
    expect(t.device).toBe('cpu');
    const back = t.toArray() as number[][];
    const expected = dtype === 'float32' ? data.map((r) => r.map(Math.fround)) : data;
    expect(back).toEqual(expected);
    expect(t.toTypedArray().constructor.name).toBe(dtype === 'float32' ? 'Float32Array' : 'Float64Array');

    const typed = dtype === 'float32' ? new Float32Array([1, 2, 3, 4, 5, 6]) : new Float64Array([1, 2, 3, 4, 5, 6]);
    const u = tensor(typed, { shape: [3, 2] });
    expect(u.dtype).toBe(dtype);
    expect(u.toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
  });

  test('float64 keeps every bit', () => {
    const xs = [Math.PI, 1 / 3, 1e-300, -Number.MAX_VALUE, Number.MIN_VALUE, -0];
    const back = Array.from(tensor(xs, { dtype: 'float64' }).toTypedArray());
    expect(back.map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual(xs.map((v) => (Object.is(v, -0) ? '-0' : v)));
  });

  test('scalars, item, factories', () => {
    expect(tensor(2.5).shape).toEqual([]);
    expect(tensor(2.5).item()).toBe(2.5);
    expect(zeros([2, 2]).toArray()).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(ones([3], { dtype: 'float64' }).toArray()).toEqual([1, 1, 1]);
    expect(full([2], 7).toArray()).toEqual([7, 7]);
  });

  test('randn is reproducible with a seed and roughly standard normal', () => {
    const a = randn([10000], { seed: 42, dtype: 'float64' }).toTypedArray() as Float64Array;
    const b = randn([10000], { seed: 42, dtype: 'float64' }).toTypedArray();
    expect(Array.from(a)).toEqual(Array.from(b));
    const c = randn([10000], { seed: 43, dtype: 'float64' }).toTypedArray();
    expect(Array.from(a)).not.toEqual(Array.from(c));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});

describe('autograd', () => {
  // f(x, a) = sum(sin(x) * exp(-a * x)) + mean(x^2) / a, in float64
  const f = (x: number[], a: number) =>
    x.reduce((s, xi) => s + Math.sin(xi) * Math.exp(-a * xi), 0) + x.reduce((s, xi) => s + xi * xi, 0) / x.length / a;

  test('gradients of a small expression match central finite differences', () => {
    const xs = [0.3, -1.2, 2.0, 0.7];
    const a0 = 0.8;
    const x = tensor(xs, { dtype: 'float64', requiresGrad: true });
    const a = tensor(a0, { dtype: 'float64', requiresGrad: true });
    const y = x.sin().mul(a.neg().mul(x).exp()).sum().add(x.square().mean().div(a));
    expect(y.item()).toBeCloseTo(f(xs, a0), 12);
    y.backward();
    const h = 1e-6;
    const gx = x.grad!.toArray() as number[];
    xs.forEach((_, i) => {
      const up = xs.slice();
      up[i] += h;
      const down = xs.slice();
      down[i] -= h;
      expect(gx[i]).toBeCloseTo((f(up, a0) - f(down, a0)) / (2 * h), 7);
    });
    expect(a.grad!.item()).toBeCloseTo((f(xs, a0 + h) - f(xs, a0 - h)) / (2 * h), 7);
    x.zeroGrad();
    expect(x.grad).toBeUndefined();
  });

  test('backward on a non-scalar needs a gradient', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => x.mul(2).backward()).toThrow(/single-element/);
    const y = x.mul(3);
    y.backward(tensor([1, 1]));
    expect(x.grad!.toArray()).toEqual([3, 3]);
  });
});

describe('reshape', () => {
  test('keeps the row-major order, infers one -1 size and passes gradients back in the old shape', () => {
    const x = tensor(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: 'float64', requiresGrad: true },
    );
    const y = x.reshape([3, -1]);
    expect(y.shape).toEqual([3, 2]);
    expect(y.toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    // d/dx sum(y * w) = w read back in x's shape
    y.mul(
      tensor(
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        { dtype: 'float64' },
      ),
    )
      .sum()
      .backward();
    expect(x.grad!.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(x.reshape([6]).shape).toEqual([6]);
    expect(tensor(5).reshape([1, 1]).toArray()).toEqual([[5]]);
  });

  test('a shape that cannot hold the elements is a RangeError naming both shapes', () => {
    const x = tensor([1, 2, 3, 4, 5, 6]);
    expect(() => x.reshape([4, 2])).toThrow('a tensor of shape [6] cannot take shape [4, 2]');
    expect(() => x.reshape([-1, -1])).toThrow(RangeError);
    expect(() => x.reshape([4, -1])).toThrow(RangeError);
    expect(() => x.reshape([2.5, 2])).toThrow(TypeError);
    expect(() => x.reshape('6' as never)).toThrow(TypeError);
  });
});

describe('bad arguments reach JS as Errors and the process survives', () => {
  test('wrong types', () => {
    expect(() => tensor('abc' as never)).toThrow(TypeError);
    expect(() => tensor([1, 'x'] as never)).toThrow(/tensor data\[1\] must be a number, got the string "x"/);
    expect(() => tensor([1, 2], { dtype: 'int8' as never })).toThrow(/dtype must be 'float32' or 'float64'/);
    expect(() => zeros([2, -1])).toThrow(/whole numbers >= 0/);
    expect(() => tensor(1).add('2' as never)).toThrow(/expected a Tensor or a number/);
  });

  test('ragged nested arrays', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(
      /ragged array: tensor data\[1\] should be an array of length 2, got an array of length 1/,
    );
    expect(() => tensor([[1, 2], 3] as never)).toThrow(/ragged/);
  });

  test('shape mismatches', () => {
    expect(() => tensor(new Float32Array(5), { shape: [2, 3] })).toThrow(/shape holds 6 elements but the data has 5/);
    expect(() => tensor([[1, 2]], { shape: [2] })).toThrow(/has shape \[1,2\] but shape \[2\] was given/);
    expect(() => tensor([1, 2, 3]).add(tensor([1, 2]))).toThrow(
      /^\+ of \[3\] float32 and \[2\] float32: libtorch: The size of tensor a \(3\) must match/,
    );
    expect(() => tensor([[1, 2, 3]]).matmul(tensor([[1, 2]], { dtype: 'float64' }))).toThrow(
      /^matmul of \[1, 3\] float32 and \[1, 2\] float64: libtorch/,
    );
  });

  test('disposed tensors', () => {
    const t = tensor([1, 2]);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.toArray()).toThrow(/disposed/);
    expect(() => tensor(1).add(t)).toThrow(/disposed/);
  });

  test('item of a multi-element tensor, requiresGrad on a non-leaf', () => {
    expect(() => tensor([1, 2]).item()).toThrow(/exactly one element/);
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => {
      x.mul(2).requiresGrad = false;
    }).toThrow(/leaf/);
  });

  test('cuda: on a CPU-only build a clear error, on a CUDA build a working device', () => {
    const available = cudaAvailable();
    expect(typeof available).toBe('boolean');
    expect(native().cudaAvailable()).toBe(available);
    if (!available) {
      expect(() => tensor([1], { device: 'cuda' })).toThrow(noCudaDevice());
      expect(() => tensor([1], { device: 'cuda:3' })).toThrow(noCudaDevice());
    } else {
      const t = tensor([1.5, -2], { device: 'cuda', dtype: 'float64' });
      expect(t.device).toMatch(/^cuda/);
      expect(t.mul(2).toArray()).toEqual([3, -4]);
      expect(t.to({ device: 'cpu' }).device).toBe('cpu');
    }
    expect(() => zeros([1], { device: 'tpu' as never })).toThrow(/device/);
  });
});

describe('elementwise ops and matmul against float64 closed forms, values and gradients', () => {
  const xs = [0.25, 0.5, 1, 1.75, 3.5, 10];
  /**
   * |a - b| <= ulps * eps * max(|b|, floor): libtorch's vectorised transcendentals are within an ulp or
   * two of the exact value; `floor` 1 where a formula's own cancellation makes the error absolute.
   */
  const near = (a: number[], b: number[], ulps: number, floor = 0) =>
    a.forEach((v, i) => {
      const err = Math.abs(v - b[i]) <= ulps * 2 ** -52 * Math.max(Math.abs(b[i]), floor);
      expect({ i, v, err }).toEqual({ i, v, err: true });
    });
  test.each([
    ['abs', (t: Tensor) => t.neg().abs(), (x: number) => x, () => 1, 0],
    // libtorch's float64 sqrt is within 0.5001 ulp (SLEEF u05), not always correctly rounded: sqrt(0.5) is an ulp low
    ['sqrt', (t: Tensor) => t.sqrt(), Math.sqrt, (x: number) => 0.5 / Math.sqrt(x), 1],
    ['log', (t: Tensor) => t.log(), Math.log, (x: number) => 1 / x, 2],
    ['cos', (t: Tensor) => t.cos(), Math.cos, (x: number) => -Math.sin(x), 2],
    // autograd's 1 - tanh(x)^2 cancels where tanh(x) -> 1: its error is absolute, ~eps (floor 1 below)
    ['tanh', (t: Tensor) => t.tanh(), Math.tanh, (x: number) => 1 / Math.cosh(x) ** 2, 2],
    ['pow 2.5', (t: Tensor) => t.pow(2.5), (x: number) => x ** 2.5, (x: number) => 2.5 * x ** 1.5, 2],
    ['pow 3', (t: Tensor) => t.pow(3), (x: number) => x ** 3, (x: number) => 3 * x ** 2, 1],
  ] as const)('%s', (_name, op, f, df, ulps) => {
    const x = tensor(xs, { dtype: 'float64', requiresGrad: true });
    const y = op(x);
    near(Array.from(y.toTypedArray()), xs.map(f), ulps);
    y.sum().backward();
    // the gradient adds a rounding or two of its own (a product, a sum of the chain rule)
    near(Array.from(x.grad!.toTypedArray()), xs.map(df), ulps + 4, _name === 'tanh' ? 1 : 0);
  });

  test('pow with a tensor exponent: d/dx x^y = y x^(y-1), d/dy = x^y log x', () => {
    const x = tensor([2, 3, 0.5], { dtype: 'float64', requiresGrad: true });
    const e = tensor([3, 0.5, -2], { dtype: 'float64', requiresGrad: true });
    const y = x.pow(e);
    near(Array.from(y.toTypedArray()), [8, Math.sqrt(3), 4], 1);
    y.sum().backward();
    near(Array.from(x.grad!.toTypedArray()), [12, 0.5 / Math.sqrt(3), -2 * 0.5 ** -3], 4);
    near(Array.from(e.grad!.toTypedArray()), [8 * Math.log(2), Math.sqrt(3) * Math.log(3), 4 * Math.log(0.5)], 4);
  });

  test('matmul: exact products of small integers, and dL/dA = G B^T, dL/dB = A^T G', () => {
    const A = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const B = [
      [7, 8],
      [9, 10],
      [11, 12],
    ];
    const a = tensor(A, { dtype: 'float64', requiresGrad: true });
    const b = tensor(B, { dtype: 'float64', requiresGrad: true });
    const c = a.matmul(b);
    expect(c.shape).toEqual([2, 2]);
    expect(c.toArray()).toEqual([
      [58, 64],
      [139, 154],
    ]);
    const G = [
      [1, -1],
      [2, 0.5],
    ];
    c.backward(tensor(G, { dtype: 'float64' }));
    // G B^T and A^T G by hand
    expect(a.grad!.toArray()).toEqual([
      [-1, -1, -1],
      [18, 23, 28],
    ]);
    expect(b.grad!.toArray()).toEqual([
      [9, 1],
      [12, 0.5],
      [15, 0],
    ]);
    // matrix-vector and a float32 product
    expect(
      tensor(A)
        .matmul(tensor([1, 0, -1]))
        .toArray(),
    ).toEqual([-2, -2]);
    const mismatch = /^matmul of \[1, 2\] float32 and \[1, 2\] float32: libtorch/;
    expect(() => tensor([[1, 2]]).matmul(tensor([[1, 2]]))).toThrow(mismatch);
  });
});

describe('resources', () => {
  test('threads default to 1 and can be raised', () => {
    expect(getNumThreads()).toBe(1);
    setNumThreads(2);
    expect(getNumThreads()).toBe(2);
    setNumThreads(1);
    expect(() => setNumThreads(0)).toThrow(RangeError);
    // Values beyond an int32 are named as given, not as the native side would wrap them.
    expect(() => setNumThreads(1e308)).toThrow('setNumThreads takes a whole number from 1 to 1024, got number 1e+308');
    expect(() => setNumThreads(2 ** 31)).toThrow('got number 2147483648');
    expect(getNumThreads()).toBe(1);
  });

  test('with 2 threads, large ops compute what they compute with 1 (and the closed form)', () => {
    // 1,000,000 elements: well above libtorch's grain size, so the work is split between threads.
    const n = 1_000_000;
    const xs = Float64Array.from({ length: n }, (_, i) => 1 + (i % 1000) / 1000);
    const compute = () => {
      const x = tensor(xs, { dtype: 'float64' });
      const y = x.sqrt().mul(x);
      const total = y.sum();
      const entries = Float64Array.from({ length: 256 * 256 }, (_, i) => (i % 7) - 3);
      const m = tensor(entries, { shape: [256, 256], dtype: 'float64' });
      const p = m.matmul(m);
      const out = { y: y.toTypedArray(), total: total.item(), p: p.toTypedArray() };
      for (const t of [x, y, total, m, p]) t.dispose();
      return out;
    };
    const one = compute();
    setNumThreads(2);
    try {
      expect(getNumThreads()).toBe(2);
      const two = compute();
      // elementwise results and integer matmul (exact in float64) are identical; the sum's order may differ
      expect(Buffer.compare(Buffer.from(two.y.buffer), Buffer.from(one.y.buffer))).toBe(0);
      expect(Buffer.compare(Buffer.from(two.p.buffer), Buffer.from(one.p.buffer))).toBe(0);
      expect(Math.abs(two.total - one.total)).toBeLessThanOrEqual(1e-12 * one.total);
    } finally {
      setNumThreads(1);
    }
    expect(one.y[1500]).toBe(Math.sqrt(1.5) * 1.5);
    const exact = xs.reduce((s, x) => s + Math.sqrt(x) * x, 0);
    expect(Math.abs(one.total - exact)).toBeLessThanOrEqual(1e-12 * exact);
    // p[0][0] = sum over k of m[0][k] * m[k][0], m[i][j] = ((256 i + j) % 7) - 3
    const m = (i: number, j: number) => ((256 * i + j) % 7) - 3;
    const entry = (i: number, j: number) =>
      Array.from({ length: 256 }, (_, k) => m(i, k) * m(k, j)).reduce((s, v) => s + v, 0);
    expect(one.p[0]).toBe(entry(0, 0));
    expect(one.p[256 * 255 + 17]).toBe(entry(255, 17));
  });

  test('tidy disposes what it made, except the result', () => {
    let inner: Tensor | undefined;
    const kept = tidy(() => {
      inner = tensor([1, 2]);
      return inner.mul(2);
    });
    expect(inner!.disposed).toBe(true);
    expect(kept.toArray()).toEqual([2, 4]);
  });

  test('100k create/dispose cycles do not grow memory', async () => {
    const cycles = (n: number) => {
      for (let i = 0; i < n; i++) {
        const t = tensor([i, i + 1, i + 2, i + 3]);
        const u = t.mul(2);
        t.dispose();
        u.dispose();
      }
    };
    // Node runs native finalizers of collected wrappers after the current task, so give it turns.
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((r) => setImmediate(r));
      }
    };
    const gc = (globalThis as { gc?: () => void }).gc;
    cycles(20000); // warm-up: allocator caches, JIT
    await settle();
    const liveBefore = liveTensorBytes();
    const before = nativeResidentMb();
    for (let k = 0; k < 10; k++) {
      cycles(10000);
      await new Promise((r) => setImmediate(r));
    }
    await settle();
    const growth = nativeResidentMb() - before;
    expect(liveTensorBytes() - liveBefore).toBe(0); // every tensor disposed: the allocator's exact count
    // Bound: 16 MB over 100k cycles (160 bytes a cycle); without dispose() each cycle holds 64+ bytes of
    // tensor data plus ~1 KB of libtorch bookkeeping, so a leak would show as 100+ MB.
    expect(growth).toBeLessThan(16);
  });
});
