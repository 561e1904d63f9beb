// Vector and matrix inputs and results on the small-program tier, through valueAndGrad and forward:
// each input's elements are registers, the result's elements are the result registers, and a
// batch holds its samples one after another. Values and gradients must equal the libtorch path's
// (compile option tier: false), in the same layout.
import fs from 'fs';
import path from 'path';
import { compile, grad, tensor, type CompileOptions, type Module, type Tensor } from '../src';
import { expectSameValueAndGrad, expectTierAsLibtorch, numbers as values, withTierPair } from './helpers/tier';

const example = (name: string) => fs.readFileSync(path.join(__dirname, '..', 'examples', name), 'utf8');
const GRAVITY = example('gravity_3d.neural');
const GRAVITY_OPTIONS: CompileOptions = { inputs: { r: [3], m1: 'scalar', m2: 'scalar' }, params: { G: 0.7 } };

describe('valueAndGrad of vector programs on the tier equals the libtorch path', () => {
  test.each([
    ['one sample', { r: [1, 2, 0.5], m1: 2, m2: 3 }, false],
    [
      'a batch of vectors (nested arrays) beside a batch of scalars and a shared scalar',
      {
        r: [
          [1, 2, 0.5],
          [0.3, -1, 2],
          [4, 0, -1],
        ],
        m1: [2, 1, 0.5],
        m2: 3,
      },
      true,
    ],
    ['a shared vector beside a batch of scalars', { r: [1, 2, 0.5], m1: [2, 1, 0.5], m2: 3 }, true],
  ] as const)(
    'gravity_3d, %s: the value (a vector a sample) and every gradient, in the same layout',
    async (_, data, batch) => {
      await withTierPair(GRAVITY, GRAVITY_OPTIONS, async (m, off) => {
        const spy = jest.spyOn(m, 'tier');
        expectSameValueAndGrad(m, off, data as never, { batch, wrt: ['r', 'm1', 'm2'] });
        expect(spy.mock.results.some((r) => r.value !== undefined)).toBe(true);
      });
    },
  );

  test('a matrix input shared by a batch of vectors (heat_step): values and gradients', async () => {
    const L: number[][] = Array.from({ length: 4 }, (_, i) =>
      Array.from({ length: 4 }, (_, j) => (i === j ? -2 : Math.abs(i - j) === 1 ? 1 : 0)),
    );
    await withTierPair(
      example('heat_step.neural'),
      {
        inputs: { u: [4], L: [4, 4], dt: 'scalar' },
        params: { alpha: 0.5 },
      },
      async (m, off) => {
        expect(m.tier([true, false, false])).toBeDefined();
        const data = {
          u: [
            [0, 1, 0.5, 0],
            [1, 0, 0, 1],
          ],
          L,
          dt: 0.1,
        };
        const a = expectSameValueAndGrad(m, off, data, { batch: true, wrt: ['u', 'L'] });
        // by hand: d(sum u')/d alpha = sum over samples of dt * sum(L u)
        const byHand = data.u.reduce((t, u) => t + 0.1 * L.flat().reduce((s, l, k) => s + l * u[k % 4], 0), 0);
        expect(a.grads.alpha as number).toBeCloseTo(byHand, 12);
      },
    );
  });
});

describe('forward of vector programs through Tensors on the tier', () => {
  const run = (m: Module) => {
    const r = tensor(
      [
        [1, 2, 0.5],
        [0.3, -1, 2],
      ],
      { dtype: 'float64', requiresGrad: true },
    );
    const m1 = tensor([2, 1], { dtype: 'float64' });
    const m2 = tensor(3, { dtype: 'float64' });
    const y = m.forward({ r, m1, m2 });
    expect(y.shape).toEqual([2, 3]);
    const [dy] = grad(y.sum(), [r], { createGraph: true });
    const [d2y] = grad(dy.sum(), [r]);
    const s = y.sum();
    s.backward();
    const out = [y, dy, d2y, r.grad!, m.parameters()[0].grad!].map((t: Tensor) => values(t.toTypedArray()));
    for (const t of [r, m1, m2, y, dy, d2y, s]) t.dispose();
    return out;
  };

  test('gravity_3d: the [batch, 3] result, sum().backward() and second derivatives (create_graph replays it)', async () => {
    await withTierPair(GRAVITY, GRAVITY_OPTIONS, async (m, off) => {
      const want = expectTierAsLibtorch(m, off, run);
      expect(Math.max(...want[2].map(Math.abs))).toBeGreaterThan(1e-3);
    });
  });

  test('a matrix result of one sample: its shape, and the gradient of a weighted sum', async () => {
    await withTierPair('(outer (scale k r) r)', { inputs: { r: [3] }, params: { k: 1.5 } }, async (m, off) => {
      expectTierAsLibtorch(m, off, (module) => {
        const r = tensor([1, -2, 0.5], { dtype: 'float64', requiresGrad: true });
        const y = module.forward({ r });
        expect(y.shape).toEqual([3, 3]);
        const w = tensor(
          [
            [-4, -3, -2],
            [-1, 0, 1],
            [2, 3, 4],
          ],
          { dtype: 'float64' },
        );
        const loss = y.mul(w).sum();
        loss.backward();
        const out = [y, r.grad!, module.parameters()[0].grad!].map((t) => values(t.toTypedArray()));
        for (const t of [r, y, w, loss]) t.dispose();
        return out;
      });
    });
  });
});

test('forward takes typed arrays as it takes arrays: a batch of scalars, or one vector', () => {
  const m = compile('(* k (vsum (scale x v)))', {
    inputs: { x: 'scalar', v: [3] },
    params: { k: 2 },
    dtype: 'float64',
  });
  try {
    const arrays = m.forward({ x: [1, 2], v: [0.5, 1, 1.5] }, { batch: true });
    const typed = m.forward({ x: Float64Array.from([1, 2]), v: Float32Array.from([0.5, 1, 1.5]) }, { batch: true });
    expect(Array.from(typed.toTypedArray())).toEqual(Array.from(arrays.toTypedArray()));
    expect(Array.from(typed.toTypedArray())).toEqual([6, 12]);
    for (const t of [arrays, typed]) t.dispose();
  } finally {
    m.dispose();
  }
});
