// The fused stencil step (src/compiler/stencil.ts, native/stencil.cpp): which updates the pass turns
// into one `stencil-step` node and which it leaves alone; the fused node's values and gradients in
// float64 against the reference interpreter (rank 1 to 3, both boundaries, every way the coefficient
// spreads, batched and not); float32 on the one-pass CPU kernel and on the composed ATen path (the
// one other devices run) against the unfused graph; and second derivatives through it.
import { compile, grad, tensor, type Module } from '../src';
import { native } from '../src/runtime/native';
import { differences, random } from './helpers/differential';
import { flatten, type Nested } from './helpers/finite-diff';

function array(shape: number[], seed: number, lo = -2, hi = 2): Nested {
  const r = random(seed);
  const fill = (depth: number): Nested =>
    depth === shape.length ? lo + (hi - lo) * r() : Array.from({ length: shape[depth] }, () => fill(depth + 1));
  return fill(0);
}

/** The op names of the main region of a module compiled for the given inputs. */
function mainOps(source: string, inputs: Record<string, number[] | 'scalar'>, options = {}): string[] {
  const m = compile(source, { inputs, ...options });
  try {
    const text = m.graphText();
    const main = text.split(/\n(?=@)/)[0];
    return [...main.matchAll(/= ([a-z+*/-][\w-]*)/g)].map((x) => x[1]);
  } finally {
    m.dispose();
  }
}

const SHAPES = [[7], [5, 6], [3, 4, 5]];
const GRID = (rank: number) => SHAPES[rank - 1];

describe('what the pass fuses', () => {
  const grid = { u: [5, 6] as number[], s: [5, 6] as number[], a: 'scalar' as const };
  test.each([
    ['a constant coefficient', '(+ u (* 0.1 (laplacian (pad-edge u 1) 0.5)))'],
    ['a product with a run-time factor', '(+ u (* (* a 0.01) (laplacian (pad-wrap u 1) 0.5)))'],
    ['an added source term', '(+ u (* a (laplacian (pad-edge u 1) 1)) s)'],
    ['the terms in any order', '(+ (* (laplacian (pad-wrap u 1) 2) a s) s u)'],
    ['a spacing known only at run time', '(+ u (* 0.1 (laplacian (pad-edge u 1) a)))'],
    ['u + dt (alpha L + s)', '(+ u (* 0.01 (+ (* a (laplacian (pad-edge u 1) 0.5)) s)))'],
  ])('%s', (_label, source) => {
    const ops = mainOps(source, grid);
    expect(ops).toContain('stencil-step');
    expect(ops).not.toContain('laplacian');
    expect(ops.filter((o) => o.startsWith('pad'))).toEqual([]);
  });

  test.each([
    ['a pad of 2', '(+ u (* a (slice (slice (laplacian (pad-edge u 2) 1) 0 1 -1) 1 1 -1)))'],
    ['a constant pad (Dirichlet)', '(+ u (* a (laplacian (pad-const u 1 0) 1)))'],
    ['another field than the one padded', '(+ s (* a (laplacian (pad-edge u 1) 1)))'],
    ['a laplacian read twice', '(+ (+ u (* a (laplacian (pad-edge u 1) 1))) (laplacian (pad-edge u 1) 1))'],
  ])('not %s', (_label, source) => {
    expect(mainOps(source, grid)).not.toContain('stencil-step');
  });

  test('the fuse option turns it off', () => {
    const source = '(+ u (* 0.1 (laplacian (pad-edge u 1) 0.5)))';
    expect(mainOps(source, grid, { fuse: false })).not.toContain('stencil-step');
  });
});

describe('fused steps against the reference in float64', () => {
  // The coefficient as a constant, a scalar input (batched: one per sample), and a field (a
  // spatially varying diffusivity); with and without an added term.
  const FORMS: [string, (b: string) => string][] = [
    ['constant k', (b) => `(+ u (* 0.05 (laplacian (${b} u 1) 0.5)))`],
    ['scalar input k', (b) => `(+ u (* (* k 0.1) (laplacian (${b} u 1) 0.5)))`],
    ['field k and a source', (b) => `(+ u (* K (laplacian (${b} u 1) 2)) s)`],
    ['k and two terms', (b) => `(+ s u (* k (laplacian (${b} u 1) 1)) (* k s))`],
    ['a run-time spacing (per sample when batched)', (b) => `(+ u (laplacian (${b} u 1) (+ 3 k)))`],
    ['u + dt (k L + s - u)', (b) => `(+ u (* 0.1 k (+ s (* K (laplacian (${b} u 1) 0.5)) (- u))))`],
  ];
  const cases = FORMS.flatMap(([name, form]) =>
    ['pad-edge', 'pad-wrap'].flatMap((b) =>
      [1, 2, 3].map((rank) => [`${name}, ${b}, rank ${rank}`, form(b), rank] as const),
    ),
  );
  test.each(cases)('%s', (_label, source, rank) => {
    const shape = GRID(rank);
    const inputs = { u: array(shape, rank), s: array(shape, 10 + rank), K: array(shape, 20 + rank, 0, 0.2), k: 0.15 };
    expect(mainOps(source, { u: shape, s: shape, K: shape, k: 'scalar' })).toContain('stencil-step');
    expect(differences(source, { inputs })).toEqual({ problems: [], unstable: 0 });
    const B = 3;
    const each = (f: (b: number) => Nested) => Array.from({ length: B }, (_, b) => f(b));
    const batched = {
      u: each((b) => array(shape, 30 + b)),
      s: each((b) => array(shape, 40 + b)),
      K: each((b) => array(shape, 50 + b, 0, 0.2)),
      k: each((b) => 0.05 * (b + 1)),
    };
    expect(differences(source, { inputs: batched, batch: true })).toEqual({ problems: [], unstable: 0 });
    // an unbatched grid under a batch of coefficients, and the other way round
    if (/ k\b/.test(source))
      expect(differences(source, { inputs: { ...inputs, k: batched.k }, batch: ['k'] })).toEqual({
        problems: [],
        unstable: 0,
      });
    expect(differences(source, { inputs: { ...inputs, u: batched.u }, batch: ['u'] })).toEqual({
      problems: [],
      unstable: 0,
    });
  });

  test('forty steps of a loop over a field, the coefficient a parameter', () => {
    const source = '(loop ((i 0) (u u0)) (if (>= i 40) u (recur (+ i 1) (+ u (* D (laplacian (pad-wrap u 1) 1))))))';
    const m = compile(source, { inputs: { u0: [6, 5] }, params: { D: 0.2 } });
    try {
      expect(m.graphText()).toContain('stencil-step');
    } finally {
      m.dispose();
    }
    expect(differences(source, { inputs: { u0: array([6, 5], 3) }, params: { D: 0.2 } })).toEqual({
      problems: [],
      unstable: 0,
    });
  });
});

describe('the one-pass float32 kernel and the device path against the unfused graph', () => {
  const source = '(+ u (* K (laplacian (pad-edge u 1) 0.25)) s)';
  afterEach(() => native().setDevicePathsOnCpu(false));
  const run = (fuse: boolean, rank: number, batch: boolean) => {
    const shape = GRID(rank);
    const m = compile(source, { inputs: { u: shape, s: shape, K: shape }, fuse });
    try {
      const lift = (seed: number, lo?: number, hi?: number) =>
        batch ? [array(shape, seed, lo, hi), array(shape, seed + 1, lo, hi)] : array(shape, seed, lo, hi);
      const t = {
        u: tensor(lift(1), { requiresGrad: true }),
        s: tensor(lift(3), { requiresGrad: true }),
        K: tensor(lift(5, 0, 0.05), { requiresGrad: true }),
      };
      const out = m.forward(t, { batch });
      const w = tensor(lift(7));
      const grads = grad(out, [t.u, t.s, t.K], { gradOutputs: w });
      return [out, ...grads].map((x) => flatten(x.toArray()));
    } finally {
      m.dispose();
    }
  };
  test.each([1, 2, 3].flatMap((rank) => [false, true].map((batch) => [rank, batch] as const)))(
    'rank %i, batched %s',
    (rank, batch) => {
      const fused = run(true, rank, batch);
      const plain = run(false, rank, batch);
      native().setDevicePathsOnCpu(true); // the composed ATen ops CUDA runs
      const device = run(true, rank, batch);
      native().setDevicePathsOnCpu(false);
      // float32 rounding, which the sums in a Laplacian scale with the largest value
      for (const ours of [fused, device])
        ours.forEach((values, i) => {
          const scale = Math.max(1, ...plain[i].map(Math.abs));
          values.forEach((v, j) => expect(Math.abs(v - plain[i][j])).toBeLessThan(4e-6 * scale));
        });
    },
  );
});

describe('second derivatives through a fused step', () => {
  const source = '(sum-all (square (+ u (* (* a 0.1) (laplacian (pad-wrap u 1) 0.5)))))';
  const second = (fuse: boolean): number[] => {
    const m: Module = compile(source, { inputs: { u: [4, 5] }, params: { a: 0.7 }, dtype: 'float64', fuse });
    try {
      const [a] = m.parameters();
      const u = tensor(array([4, 5], 9), { dtype: 'float64', requiresGrad: true });
      const out = m.forward({ u });
      const [da, du] = grad(out, [a, u], { createGraph: true });
      const [daa] = grad(da, [a]);
      const [duSum] = grad(du.sum(), [a]);
      return [da.item(), daa.item(), duSum.item()];
    } finally {
      m.dispose();
    }
  };
  test('match the unfused graph', () => {
    const fused = second(true);
    second(false).forEach((v, i) => expect(Math.abs(fused[i] - v)).toBeLessThan(1e-10 * Math.max(1, Math.abs(v))));
  });
});
