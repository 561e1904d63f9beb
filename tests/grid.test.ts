// Grids: arrays of rank 1 to 3 per sample and the grid primitives. Values and gradients natively
// against the float64 reference (independent loops over nested arrays), hand-computed numbers,
// gradients against central differences, the shape rules' messages, a 2-D heat equation looped 20
// steps against a float64 implementation written here, and rank-3 values through the fused kernels,
// the small-program tier's fallback, inputs, params and outputs.
import { compile, run } from '../src/api';
import { CompileError } from '../src/diagnostics';
import { differences, random } from './helpers/differential';
import { centralDifference, flatten, maxRelativeError, unflatten, type Nested } from './helpers/finite-diff';

const f64 = { dtype: 'float64' as const };

/** A seeded random array of the given shape, entries in [-2, 2]. */
function array(shape: number[], seed: number): Nested {
  const r = random(seed);
  const fill = (depth: number): Nested =>
    depth === shape.length ? 4 * r() - 2 : Array.from({ length: shape[depth] }, () => fill(depth + 1));
  return fill(0);
}

/** The per-sample shapes each primitive is tried at: rank 1, 2 and 3. */
const SHAPES = [[6], [4, 5], [3, 4, 5]];

/**
 * Each primitive applied to u (and w, an array of the result's shape, weighting the sum so every
 * output element's gradient differs); h a spacing, c a pad value, both scalar inputs.
 */
const PROGRAMS: [name: string, source: (rank: number) => string][] = [
  ['roll', (r) => `(* (roll u ${r === 1 ? -2 : 3} ${r - 1}) w)`],
  ['pad-edge', () => '(* (pad-edge u 2) w)'],
  ['pad-wrap', () => '(* (pad-wrap u 3) w)'],
  ['pad-const', () => '(* (pad-const u 1 c) w)'],
  ['laplacian', () => '(* (laplacian u h) w)'],
  ['diff', (r) => `(* (diff u ${r - 1} h) w)`],
  ['diff without h', () => '(* (diff u 0) w)'],
  ['central-diff', (r) => `(* (central-diff u ${r - 1} h) w)`],
  ['central-diff without h', () => '(* (central-diff u 0) w)'],
  ['slice', (r) => `(* (slice u ${r - 1} -4 -1) w)`],
  ['concat', (r) => `(* (concat ${r - 1} u (slice u ${r - 1} 0 2) u) w)`],
  ['sum-all', () => '(* (sum-all u) h)'],
  ['mean-all', () => '(* (mean-all u) h)'],
  ['max-all', () => '(* (max-all u) h)'],
  ['min-all', () => '(* (min-all u) h)'],
];

/** The per-sample shape of a program's result (from compiling it; no native run). */
function resultShape(source: string, shape: number[]): number[] {
  const m = compile(source.replace(/\(\* (.*) w\)$/, '$1'), { ...f64, inputs: { u: shape, h: 'scalar', c: 'scalar' } });
  try {
    return m.forward({ u: array(shape, 1), h: 0.5, c: 0.25 }).shape;
  } finally {
    m.dispose();
  }
}

describe('every grid primitive on rank 1, 2 and 3 against the reference', () => {
  const cases = PROGRAMS.flatMap(([name, source]) =>
    SHAPES.map((shape) => [`${name} on ${shape.join('x')}`, source(shape.length), shape] as const),
  );
  test.each(cases)('%s', (_label, source, shape) => {
    const out = resultShape(source, shape);
    const one = { u: array(shape, 2), w: out.length > 0 ? array(out, 3) : 1, h: 0.7, c: -1.5 };
    // unbatched, everything batched, and a batched grid with shared h, c and w
    expect(differences(source, { inputs: one }).problems).toEqual([]);
    const B = 3;
    const batch = (f: (k: number) => Nested) => Array.from({ length: B }, (_, k) => f(k));
    const all = {
      u: batch((k) => array(shape, 10 + k)),
      w: batch((k) => (out.length > 0 ? array(out, 20 + k) : 1 + k)),
      h: batch((k) => 0.5 + k),
      c: batch((k) => k - 1),
    };
    expect(differences(source, { inputs: all, batch: true }).problems).toEqual([]);
    expect(differences(source, { inputs: { ...one, u: all.u }, batch: ['u'] }).problems).toEqual([]);
  });

  test('a batched spacing and pad value against an unbatched grid, and the other way round', () => {
    const u = array([4, 4], 5);
    const hs = [0.5, 1, 2];
    for (const source of ['(laplacian (pad-const u 1 c) h)', '(central-diff (pad-const u 2 c) 1 h)']) {
      expect(differences(source, { inputs: { u, h: hs, c: [1, -2, 3] }, batch: ['h', 'c'] }).problems).toEqual([]);
      expect(differences(source, { inputs: { u, h: hs, c: 0.5 }, batch: ['h'] }).problems).toEqual([]);
    }
    const us = [u, array([4, 4], 6)];
    expect(differences('(concat 0 u v)', { inputs: { u: us, v: array([2, 4], 7) }, batch: ['u'] }).problems).toEqual(
      [],
    );
  });
});

describe('hand-computed values', () => {
  const value = (source: string, inputs: Record<string, Nested> = {}) => run(source, { ...f64, inputs }).value;
  test('roll, pads, slices and concat move cells as documented', () => {
    expect(value('(roll [1 2 3 4] 1 0)')).toEqual([4, 1, 2, 3]);
    expect(value('(roll [1 2 3 4] -5 0)')).toEqual([2, 3, 4, 1]);
    expect(value('(roll (mat [1 2 3] [4 5 6]) 1 1)')).toEqual([
      [3, 1, 2],
      [6, 4, 5],
    ]);
    expect(value('(pad-edge (mat [1 2] [3 4]) 1)')).toEqual([
      [1, 1, 2, 2],
      [1, 1, 2, 2],
      [3, 3, 4, 4],
      [3, 3, 4, 4],
    ]);
    expect(value('(pad-wrap [1 2 3] 2)')).toEqual([2, 3, 1, 2, 3, 1, 2]);
    expect(value('(pad-const (mat [1 2] [3 4]) 1 9)')).toEqual([
      [9, 9, 9, 9],
      [9, 1, 2, 9],
      [9, 3, 4, 9],
      [9, 9, 9, 9],
    ]);
    expect(value('(slice [1 2 3 4 5] 0 -3 100)')).toEqual([3, 4, 5]);
    expect(value('(concat 1 (mat [1] [2]) (mat [3 4] [5 6]))')).toEqual([
      [1, 3, 4],
      [2, 5, 6],
    ]);
  });
  test('differences of x^2 and x^2 + y^2', () => {
    // x = 0, 0.5, ..., 2: (x^2)'' = 2; forward differences (x+h)^2 - x^2 / h = 2x + h; central 2x
    expect(value('(laplacian [0 0.25 1 2.25 4] 0.5)')).toEqual([2, 2, 2]);
    expect(value('(diff [0 0.25 1 2.25 4] 0 0.5)')).toEqual([0.5, 1.5, 2.5, 3.5]);
    expect(value('(central-diff [0 0.25 1 2.25 4] 0 0.5)')).toEqual([1, 2, 3]);
    const u = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => i * i + j * j)); // h = 1: laplacian 4
    expect(value('(laplacian u 1)', { u })).toEqual([
      [4, 4],
      [4, 4],
    ]);
    const g = [0, 1, 2].map((i) => [0, 1, 2].map((j) => [0, 1, 2].map((k) => i * i + 2 * j * j + 3 * k * k)));
    expect(value('(laplacian g 1)', { g })).toEqual([[[12]]]);
  });
  test('reductions over every axis', () => {
    const g = [
      [
        [1, -2],
        [3, 4],
      ],
      [
        [5, 6],
        [-7, 8],
      ],
    ];
    expect(value('(vec (sum-all g) (mean-all g) (max-all g) (min-all g))', { g })).toEqual([18, 2.25, 8, -7]);
  });
});

describe('gradients against central differences in float64', () => {
  /** Native d(sum of the output)/d(each name) against central differences of the native forward. */
  function check(source: string, inputs: Record<string, Nested>, params: Record<string, Nested> = {}) {
    const { grad } = run(source, { ...f64, inputs, params, grad: true });
    /** The sum of the output with one input's or param's value replaced. */
    const total = (name: string, x: Nested) => {
      const given =
        name in inputs ? { inputs: { ...inputs, [name]: x }, params } : { inputs, params: { ...params, [name]: x } };
      return flatten(run(source, { ...f64, ...given }).value).reduce((a, b) => a + b, 0);
    };
    for (const [name, x] of Object.entries({ ...inputs, ...params })) {
      const fd = centralDifference((flat) => total(name, unflatten(x, flat)), flatten(x));
      expect(maxRelativeError(flatten(grad![name]), fd)).toBeLessThan(1e-7);
    }
  }
  test('laplacian in u and h, through a pad-edge, on rank 2 and 3', () => {
    check('(* (laplacian (pad-edge u 1) h) w)', { u: array([3, 4], 1), w: array([3, 4], 2), h: 0.8 });
    check('(* (laplacian u h) w)', { u: array([3, 4, 5], 3), w: array([1, 2, 3], 4), h: -1.3 });
  });
  test('pad-const in u and c, pad-wrap and roll in u', () => {
    check('(* (pad-const u 2 c) w)', { u: array([2, 3], 5), w: array([6, 7], 6) }, { c: 0.3 });
    check('(* (roll (pad-wrap u 1) 2 1) w)', { u: array([2, 2, 2], 7), w: array([4, 4, 4], 8) });
  });
  test('diff and central-diff in u and h, slices, concat and reductions', () => {
    const u = array([3, 2, 4], 9);
    check('(+ (sum-all (* (diff u 2 h) w)) (sum-all (* (central-diff u 0 h) v)))', {
      u,
      h: 0.6,
      w: array([3, 2, 3], 13),
      v: array([1, 2, 4], 14),
    });
    check('(* (concat 0 (slice u 0 1 3) u) w)', { u: array([3, 2], 10), w: array([5, 2], 11) });
    check('(+ (sum-all (* u u)) (mean-all u) (max-all u) (min-all u))', { u: array([2, 3, 2], 12) });
  });
});

describe('shape errors are compile-time messages at the call', () => {
  /** The first line of the compile error of `source` with u declared of `shape`. */
  function message(source: string, shape: number[] = [4, 5]): string {
    try {
      compile(`\n  ${source}`, { inputs: { u: shape, h: 'scalar', k: 'scalar' } }).dispose();
    } catch (e) {
      expect(e).toBeInstanceOf(CompileError);
      return (e as Error).message.split('\n')[0];
    }
    throw new Error(`${source} compiled`);
  }
  const at = "<input>:2:3: error[E0100]: '";
  test.each([
    ['(laplacian u 1)', [2, 5], "laplacian': argument 1 must have every axis of size ≥ 3, got matrix[2x5]"],
    ['(laplacian 3 1)', [2], "laplacian': argument 1 must be an array of rank 1 to 3, got scalar"],
    ['(laplacian u u)', [4, 5], "laplacian': argument 2 (the spacing) must be a scalar, got matrix[4x5]"],
    ['(roll u 1 2)', [4, 5], "roll': argument 3 (the axis) must be a whole number from 0 to 1 for matrix[4x5], got 2"],
    ['(roll u k 0)', [4, 5], "roll': argument 2 (the shift) must be a constant"],
    ['(roll u 1.5 0)', [4, 5], "roll': argument 2 (the shift) must be a whole number, got 1.5"],
    ['(pad-edge u 0)', [4, 5], "pad-edge': argument 2 (the width) must be at least 1, got 0"],
    [
      '(pad-wrap u 5)',
      [6, 4, 5],
      "pad-wrap': argument 2 (the width) must not exceed the smallest axis of array[6x4x5] (4), got 5",
    ],
    ['(pad-const u 1 u)', [3], "pad-const': argument 3 (the value) must be a scalar, got vector[3]"],
    ['(diff u 0)', [1, 5], "diff': argument 1 must have axis 0 of size ≥ 2, got matrix[1x5]"],
    ['(diff u -1)', [4, 5], "diff': argument 2 (the axis) must be a whole number from 0 to 1 for matrix[4x5], got -1"],
    ['(central-diff u 1)', [4, 2], "central-diff': argument 1 must have axis 1 of size ≥ 3, got matrix[4x2]"],
    ['(slice u 1 3 -2)', [4, 5], "slice': slice 3 to -2 of axis 1 (size 5) is empty"],
    ['(slice u 0 k 2)', [4, 5], "slice': argument 3 (the start) must be a constant"],
    [
      '(concat 0 u [1 2 3])',
      [4, 5],
      "concat': argument 3 is vector[3], which does not fit matrix[4x5] along axes other than 0",
    ],
    [
      '(concat 1 u (transpose u))',
      [4, 5],
      "concat': argument 3 is matrix[5x4], which does not fit matrix[4x5] along axes other than 1",
    ],
    ['(sum-all h)', [4], "sum-all': argument 1 must be an array of rank 1 to 3, got scalar"],
  ])('%s on %j', (source, shape, expected) => {
    expect(message(source, shape)).toBe(at + expected);
  });
});

describe('a 2-D heat equation, 20 explicit steps with zero-flux boundaries', () => {
  const N = 8;
  const [h, dt, steps] = [0.5, 0.02, 20];
  const HEAT = `
    (loop ((k 0) (u u0))
      (if (>= k ${steps})
          u
          (recur (+ k 1) (+ u (* (* alpha ${dt}) (laplacian (pad-edge u 1) ${h}))))))`;

  /** The same scheme in float64 written out: the edge cell's missing neighbour is itself. */
  function heat(u0: number[][], alpha: number): number[][] {
    let u = u0.map((r) => r.slice());
    const at = (i: number, j: number) => u[Math.min(N - 1, Math.max(0, i))][Math.min(N - 1, Math.max(0, j))];
    for (let s = 0; s < steps; s++)
      u = u.map((row, i) =>
        row.map((x, j) => {
          const lap = (at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1) - 4 * x) / (h * h);
          return x + alpha * dt * lap;
        }),
      );
    return u;
  }
  const u0 = array([N, N], 42) as number[][];
  const sum = (x: Nested) => flatten(x).reduce((a, b) => a + b, 0);

  test('values and the gradient to alpha (finite differences); heat is conserved', () => {
    const alpha = 1.1;
    const out = run(HEAT, { ...f64, inputs: { u0 }, params: { alpha }, grad: true });
    expect(maxRelativeError(flatten(out.value), flatten(heat(u0, alpha)))).toBeLessThan(1e-12);
    expect(Math.abs(sum(out.value) - sum(u0))).toBeLessThan(1e-10); // zero flux: total heat stays
    const [fd] = centralDifference(([a]) => sum(heat(u0, a)), [alpha]);
    // the sum is conserved, so weight the output to get a gradient that is not zero
    const weighted = `(sum-all (* w ${HEAT}))`;
    const w = array([N, N], 43);
    const g = run(weighted, { ...f64, inputs: { u0, w }, params: { alpha }, grad: true }).grad!.alpha as number;
    const weightedSum = (a: number) =>
      heat(u0, a)
        .flat()
        .reduce((s, x, k) => s + x * (flatten(w)[k] as number), 0);
    const [fdWeighted] = centralDifference(([a]) => weightedSum(a), [alpha]);
    expect(Math.abs(g - fdWeighted) / Math.abs(fdWeighted)).toBeLessThan(1e-7);
    expect(Math.abs(out.grad!.alpha as number)).toBeLessThan(1e-8);
    expect(Math.abs(fd)).toBeLessThan(1e-8);
  });

  test('a batch of initial states, each as computed alone', () => {
    const batch = [u0, array([N, N], 44) as number[][]];
    const out = run(HEAT, { ...f64, inputs: { u0: batch }, params: { alpha: 0.7 }, batch: true });
    expect(maxRelativeError(flatten(out.value), flatten(batch.map((u) => heat(u, 0.7))))).toBeLessThan(1e-12);
  });
});

describe('rank-3 values through the API, the fused kernels and the tier', () => {
  test('field x field: a spatially varying diffusivity on a periodic 3-D grid, against the reference', () => {
    const source = '(* kappa (laplacian (pad-wrap u 1) 0.5))';
    const inputs = { u: array([3, 4, 5], 50), kappa: array([3, 4, 5], 51) };
    expect(differences(source, { inputs }).problems).toEqual([]);
    const batched = { u: [inputs.u, array([3, 4, 5], 52)], kappa: [inputs.kappa, array([3, 4, 5], 53)] };
    expect(differences(source, { inputs: batched, batch: true }).problems).toEqual([]);
  });

  test('declared [2, 3, 4] inputs, rank-3 params and their gradients, rank-3 outputs', () => {
    const m = compile('(+ (* k u) (exp u))', { ...f64, inputs: { u: [2, 3, 4] }, params: { k: array([2, 3, 4], 60) } });
    const u = array([2, 3, 4], 61);
    const out = m.forward({ u });
    expect(out.shape).toEqual([2, 3, 4]);
    const expected = flatten(u).map((x, i) => flatten(array([2, 3, 4], 60))[i] * x + Math.exp(x));
    expect(maxRelativeError(flatten(out.toArray() as Nested), expected)).toBeLessThan(1e-15);
    expect(m.forward({ u: [u, u] }).shape).toEqual([2, 2, 3, 4]);
    const { grad } = run('(* k u)', { ...f64, inputs: { u }, params: { k: array([2, 3, 4], 60) }, grad: true });
    expect(grad!.k).toEqual(u);
    m.dispose();
  });

  test('rank 4 is refused with a message saying what is allowed', () => {
    expect(() => compile('u', { inputs: { u: [2, 2, 2, 2] } })).toThrow(/array of rank ≤ 3/);
    expect(() => compile('k', { params: { k: [[[[1]]]] } })).toThrow(
      /param 'k': its value must be a scalar or an array of rank ≤ 3/,
    );
    expect(() => run('u', { inputs: { u: [[[[1]]]] } })).toThrow(/a scalar or an array of rank ≤ 3/);
  });

  test('fused elementwise chains on rank-3 batches equal the unfused graph, above and below the block threshold', () => {
    const source = '(* (tanh (* a u)) (exp (- u)) (+ u 1))';
    const m = compile(source, { ...f64, inputs: { u: [16, 16, 8] }, params: { a: 0.7 } });
    m.forward({ u: [array([16, 16, 8], 69)] }, { batch: true });
    expect(m.graph!.regions[0].nodes.filter((n) => n.op === 'fused')).toHaveLength(1); // one node for the chain
    m.dispose();
    for (const B of [1, 3]) {
      const u = Array.from({ length: B }, (_, k) => array([16, 16, 8], 70 + k)); // 2,048 elements a sample
      const [fused, plain] = [true, false].map((fuse) =>
        run(source, { ...f64, fuse, inputs: { u }, params: { a: 0.7 }, batch: true, grad: true }),
      );
      expect(maxRelativeError(flatten(fused.value), flatten(plain.value))).toBeLessThan(1e-12);
      expect(maxRelativeError(flatten(fused.grad!.u), flatten(plain.grad!.u))).toBeLessThan(1e-12);
      expect(Math.abs((fused.grad!.a as number) - (plain.grad!.a as number))).toBeLessThan(1e-9);
    }
  });

  test('float32 kernels agree with float64 to float32 accuracy', () => {
    const source = `(+ (laplacian (pad-const u 1 c) h)
                      (slice (slice (central-diff (pad-wrap u 1) 1 h) 0 1 -1) 2 1 -1)
                      (roll (laplacian (pad-edge u 1) h) 1 0))`;
    const inputs = { u: [array([3, 4, 5], 90), array([3, 4, 5], 91)], c: [0.5, -1], h: [0.75, 1.25] };
    const [a, b] = (['float32', 'float64'] as const).map((dtype) =>
      run(source, { dtype, inputs, batch: true, grad: true }),
    );
    expect(maxRelativeError(flatten(a.value), flatten(b.value))).toBeLessThan(1e-5);
    for (const name of ['u', 'c', 'h'])
      expect(maxRelativeError(flatten(a.grad![name]), flatten(b.grad![name]))).toBeLessThan(1e-4);
  });

  test('the small-program tier does not take rank-3 programs; forward with tier on falls back to libtorch', () => {
    const m = compile('(* a (exp u))', { ...f64, tier: true, inputs: { u: [2, 2, 2] }, params: { a: 2 } });
    expect(m.tier([false])).toBeUndefined();
    const u = array([2, 2, 2], 80);
    const expected = flatten(u).map((x) => 2 * Math.exp(x));
    expect(maxRelativeError(flatten(m.forward({ u }).toArray() as Nested), expected)).toBeLessThan(1e-15);
    m.dispose();
  });
});
