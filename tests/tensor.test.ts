import { full, ones, randn, setNumThreads, getNumThreads, tensor, tidy, zeros, Tensor } from '../src/runtime/tensor';
import { native } from '../src/runtime/native';
import { nativeResidentMb } from './helpers/memory';

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

  test('cuda on this CPU-only build gives the documented error', () => {
    expect(native().cudaAvailable()).toBe(false);
    expect(() => tensor([1], { device: 'cuda' })).toThrow(/no CUDA support.*LIBTORCH=\/path\/to\/libtorch-cuda/);
    expect(() => zeros([1], { device: 'tpu' as never })).toThrow(/device/);
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
    const before = nativeResidentMb();
    for (let k = 0; k < 10; k++) {
      cycles(10000);
      await new Promise((r) => setImmediate(r));
    }
    await settle();
    const growth = nativeResidentMb() - before;
    // Bound: 16 MB over 100k cycles (160 bytes a cycle); without dispose() each cycle holds 64+ bytes of
    // tensor data plus ~1 KB of libtorch bookkeeping, so a leak would show as 100+ MB.
    expect(growth).toBeLessThan(16);
  });
});
