// conv and tridiagonal-solve: values against hand-computed numbers, the float64 reference, a direct
// convolution sum and a dense Gaussian elimination written here; gradients of every argument against
// central differences; a 1-D implicit heat step; the zero-pivot and shape errors at line:column;
// a learned 3-point stencil recovered by fit().
import { compile, fit, type Module } from '../src';
import { CompileError } from '../src/diagnostics';
import { parseProgram } from '../src/frontend';
import { evaluateReference, type Nested } from '../src/reference';
import { native } from '../src/runtime/native';
import { Tensor, tensor } from '../src/runtime/tensor';
import { grad } from '../src/train';
import { centralDifference, flatten, maxRelativeError, unflatten } from './helpers/finite-diff';

const f64 = { dtype: 'float64' as const };

/** Compile options naming every input, with the declared shapes that decide which are batched. */
const options = (inputs: Record<string, Nested>, declared: Record<string, number[]>) => ({
  ...f64,
  inputs: { ...Object.fromEntries(Object.keys(inputs).map((n) => [n, null])), ...declared },
});

/** A module's float64 value for these inputs (declared shapes decide which are batched). */
function value(source: string, inputs: Record<string, Nested>, declared: Record<string, number[]> = {}): Nested {
  const m = compile(source, options(inputs, declared));
  try {
    return m.forward(inputs).toArray() as Nested;
  } finally {
    m.dispose();
  }
}

const reference = (source: string, inputs: Record<string, Nested>, batched: string[] = []): Nested =>
  evaluateReference(parseProgram(source).program!, inputs, { batched }).value;

const expectClose = (got: Nested, want: Nested, tolerance = 1e-12) => {
  const [a, b] = [flatten(got), flatten(want)];
  expect(a.length).toBe(b.length);
  expect(maxRelativeError(a, b)).toBeLessThan(tolerance);
};

/** A deterministic pseudo-random array of a shape, entries in [-1, 1). */
function filled(shape: number[], seed: number): Nested {
  let s = seed;
  const next = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const make = (d: number): Nested =>
    d === shape.length ? next() : Array.from({ length: shape[d] }, () => make(d + 1));
  return make(0);
}

/** Gradients of the sum of the output in every named input, analytic and by central differences. */
function gradients(source: string, inputs: Record<string, Nested>, declared: Record<string, number[]> = {}) {
  const m = compile(source, options(inputs, declared));
  const names = Object.keys(inputs);
  const leaves = names.map((n) => tensor(inputs[n] as number[], { ...f64, requiresGrad: true }));
  const out = m.forward(Object.fromEntries(names.map((n, i) => [n, leaves[i]])));
  const analytic = grad(out.sum(), leaves).map((g) => flatten(g.toArray() as Nested));
  const total = (values: Record<string, Nested>) =>
    flatten(m.forward(values).toArray() as Nested).reduce((s, v) => s + v, 0);
  const fd = names.map((n) =>
    centralDifference((x) => total({ ...inputs, [n]: unflatten(inputs[n], x) }), flatten(inputs[n]), 1e-6),
  );
  m.dispose();
  return names.map((n, i) => ({ name: n, analytic: analytic[i], fd: fd[i] }));
}

const expectGradients = (...args: Parameters<typeof gradients>) => {
  for (const { name, analytic, fd } of gradients(...args)) {
    expect([name, maxRelativeError(analytic, fd) < 1e-7]).toEqual([name, true]);
  }
};

/** The direct sum of a valid 2-D cross-correlation. */
const correlate2 = (u: number[][], k: number[][]) =>
  Array.from({ length: u.length - k.length + 1 }, (_, i) =>
    Array.from({ length: u[0].length - k[0].length + 1 }, (_, j) =>
      k.reduce((s, row, a) => row.reduce((t, w, b) => t + w * u[i + a][j + b], s), 0),
    ),
  );

describe('conv: valid cross-correlation', () => {
  test('1-D with a constant kernel, by hand: [1 2 4 8 16] with [1 0 -1] is u[i] - u[i+2]', () => {
    const u = [1, 2, 4, 8, 16];
    expect(value('(conv u [1 0 -1])', { u })).toEqual([-3, -6, -12]);
    expect(reference('(conv u [1 0 -1])', { u })).toEqual([-3, -6, -12]);
  });

  test('2-D input kernel against the direct sum and the reference', () => {
    const u = filled([5, 6], 1) as number[][];
    const k = filled([2, 3], 2) as number[][];
    expectClose(value('(conv u k)', { u, k }), correlate2(u, k));
    expectClose(reference('(conv u k)', { u, k }), correlate2(u, k));
  });

  test('a kernel of more than 27 taps (the size that takes at::convolution): values and gradients', () => {
    const u = filled([9, 8], 20) as number[][];
    const k = filled([6, 5], 21) as number[][];
    expectClose(value('(conv u k)', { u, k }), correlate2(u, k));
    expectGradients('(square (conv u k))', { u, k });
  });

  test('batched grids with one kernel, and one kernel per sample with a shared or batched grid', () => {
    const declared = { u: [4, 5], k: [2, 2] };
    const uB = filled([3, 4, 5], 3) as number[][][];
    const kB = filled([3, 2, 2], 4) as number[][][];
    const [u, k] = [uB[0], kB[0]];
    const cases: [Record<string, Nested>, (s: number) => number[][]][] = [
      [{ u: uB, k }, (s) => correlate2(uB[s], k)],
      [{ u, k: kB }, (s) => correlate2(u, kB[s])],
      [{ u: uB, k: kB }, (s) => correlate2(uB[s], kB[s])],
    ];
    for (const [inputs, want] of cases) {
      const got = value('(conv u k)', inputs, declared) as Nested[];
      expect(got.length).toBe(3);
      got.forEach((g, s) => expectClose(g, want(s)));
      const batched = Object.keys(inputs).filter((n) => (inputs[n] as Nested[]).length === 3);
      expectClose(reference('(conv u k)', inputs, batched), got);
    }
  });

  test('a parameter kernel, 1-D batched', () => {
    const m = compile('(conv u w)', { ...f64, inputs: { u: [6] }, params: { w: [0.5, -1, 2] } });
    const u = filled([4, 6], 5) as number[][];
    const got = m.forward({ u }).toArray() as number[][];
    m.dispose();
    got.forEach((row, s) => expectClose(row, correlate2([u[s]], [[0.5, -1, 2]])[0]));
  });

  test('gradients to the grid and the kernel match central differences (1-D, 2-D, batched)', () => {
    expectGradients('(* (conv u k) (conv u k))', { u: filled([7], 6), k: filled([3], 7) });
    expectGradients('(exp (conv u k))', { u: filled([4, 5], 8), k: filled([2, 3], 9) });
    expectGradients(
      '(square (conv u k))',
      { u: filled([2, 4, 5], 10), k: filled([2, 2, 2], 11) },
      { u: [4, 5], k: [2, 2] },
    );
    expectGradients(
      '(square (conv u k))',
      { u: filled([4, 5], 12), k: filled([2, 2, 2], 13) },
      { u: [4, 5], k: [2, 2] },
    );
  });

  test('shape errors name the call', () => {
    const cases: [string, Record<string, number[]>, RegExp][] = [
      [
        '(+ 1\n   (conv u k))',
        { u: [5], k: [2, 2] },
        /<input>:2:4.*argument 2 \(the kernel\) must have the rank of the grid vector\[5\], got matrix\[2x2\]/s,
      ],
      [
        '(conv u k)',
        { u: [3, 4], k: [2, 5] },
        /<input>:1:1.*the kernel matrix\[2x5\] is larger than the grid matrix\[3x4\] along axis 1/s,
      ],
      ['(conv 2 k)', { k: [2] }, /argument 1 \(the grid\) must be a vector, matrix or array, got scalar/],
    ];
    for (const [source, inputs, message] of cases) expect(() => compile(source, { inputs })).toThrow(message);
  });
});

/** The 3-D valid cross-correlation by its direct sum. */
const correlate3 = (u: number[][][], k: number[][][]) =>
  Array.from({ length: u.length - k.length + 1 }, (_, i) =>
    correlate2(u[i], k[0]).map((row, j) =>
      row.map((_, l) => k.reduce((s, plane, a) => s + correlate2(u[i + a], plane)[j][l], 0)),
    ),
  );

describe('the kernels on rank-3 values, called through the kernel table', () => {
  test('the conv kernel on rank-3 grids (through the kernel table), batched grid and per-sample kernels', () => {
    const u = filled([2, 4, 5, 3], 16) as number[][][][];
    const k = filled([2, 2, 3, 2], 17) as number[][][][];
    const apply = (args: Nested[]) =>
      new Tensor(
        native().apply(
          'conv',
          args.map((a) => tensor(a as number[], f64).handle),
          [3],
        ),
      ).toArray() as Nested[];
    apply([u, k[0]]).forEach((got, s) => expectClose(got, correlate3(u[s], k[0])));
    apply([u, k]).forEach((got, s) => expectClose(got, correlate3(u[s], k[s])));
    apply([u[0], k]).forEach((got, s) => expectClose(got, correlate3(u[0], k[s])));
  });

  test('the tridiagonal-solve kernel on a rank-3 rhs (through the kernel table), batched and with shared vectors', () => {
    const { lower, diag, upper } = system(5, 90);
    const rhs = filled([2, 3, 4, 5], 91) as number[][][][];
    const handle = (a: Nested) => tensor(a as number[], f64).handle;
    const flags = [0, 0, 0, 1];
    const got = new Tensor(native().apply('tridiagonal-solve', [lower, diag, upper, rhs].map(handle), flags));
    const dense = assemble(lower, diag, upper);
    (got.toArray() as number[][][][]).forEach((sample, s) =>
      sample.forEach((plane, i) => plane.forEach((x, j) => expectClose(x, denseSolve(dense, rhs[s][i][j])))),
    );
  });
});

// enabled when rank-3 inputs land
const RANK3 = true;
(RANK3 ? describe : describe.skip)('conv on rank-3 grids', () => {
  test('against the reference, batched, and gradients against central differences', () => {
    const u = filled([2, 4, 5, 3], 14);
    const k = filled([2, 3, 2], 15);
    const declared = { u: [4, 5, 3], k: [2, 3, 2] };
    const got = value('(conv u k)', { u, k }, declared);
    expect(flatten(got).length).toBe(2 * 3 * 3 * 2);
    expectClose(reference('(conv u k)', { u, k }, ['u']), got);
    expectGradients('(square (conv u k))', { u, k }, declared);
  });

  test('tridiagonal-solve of a rank-3 rhs against dense solves, and its gradients', () => {
    const { lower, diag, upper } = system(5, 92);
    const rhs = filled([3, 4, 5], 93) as number[][][];
    const got = value(SOLVE, { lower, diag, upper, rhs }) as number[][][];
    got.forEach((plane, i) =>
      plane.forEach((x, j) => expectClose(x, denseSolve(assemble(lower, diag, upper), rhs[i][j]))),
    );
    expectClose(reference(SOLVE, { lower, diag, upper, rhs }), got);
    expectGradients(`(square ${SOLVE})`, { lower, diag, upper, rhs });
  });
});

/** The dense n x n matrix of a tridiagonal system. */
const assemble = (lower: number[], diag: number[], upper: number[]) =>
  diag.map((d, i) => diag.map((_, j) => (j === i ? d : j === i - 1 ? lower[j] : j === i + 1 ? upper[i] : 0)));

/** x with A x = b by Gaussian elimination with partial pivoting, in float64. */
function denseSolve(a: number[][], b: number[]): number[] {
  const m = a.map((row, i) => [...row, b[i]]);
  const n = b.length;
  for (let k = 0; k < n; k++) {
    const p = m.reduce((best, row, i) => (i >= k && Math.abs(row[k]) > Math.abs(m[best][k]) ? i : best), k);
    [m[k], m[p]] = [m[p], m[k]];
    for (let i = k + 1; i < n; i++) {
      const f = m[i][k] / m[k][k];
      for (let j = k; j <= n; j++) m[i][j] -= f * m[k][j];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--)
    x[i] = (m[i][n] - m[i].slice(i + 1, n).reduce((s, v, j) => s + v * x[i + 1 + j], 0)) / m[i][i];
  return x;
}

/** A diagonally dominant system's coefficients: diag in [3, 5), lower and upper in [-1, 1). */
const system = (n: number, seed: number) => ({
  lower: filled([n - 1], seed) as number[],
  diag: (filled([n], seed + 1) as number[]).map((v) => 4 + v),
  upper: filled([n - 1], seed + 2) as number[],
});

const SOLVE = '(tridiagonal-solve lower diag upper rhs)';

describe('tridiagonal-solve against a dense solve of the assembled matrix', () => {
  afterEach(() => native().setDevicePathsOnCpu(false));

  test.each([['the CPU loop'], ['the tensor sweep (any device)']])('a vector system, by %s', (path) => {
    native().setDevicePathsOnCpu(path !== 'the CPU loop');
    const { lower, diag, upper } = system(9, 20);
    const rhs = filled([9], 23) as number[];
    const want = denseSolve(assemble(lower, diag, upper), rhs);
    expectClose(value(SOLVE, { lower, diag, upper, rhs }), want);
    expectClose(reference(SOLVE, { lower, diag, upper, rhs }), want);
    expect(value('(tridiagonal-solve [1 1] [4 4 4] [1 1] [5 6 5])', {})).toEqual([1, 1, 1]);
  });

  test.each([['the CPU loop'], ['the tensor sweep (any device)']])(
    'a matrix rhs (many rows), its own coefficients per row or one vector set for all, batched, by %s',
    (path) => {
      native().setDevicePathsOnCpu(path !== 'the CPU loop');
      const n = 6;
      const rows = 50;
      const perRow = Array.from({ length: rows }, (_, r) => system(n, 100 + 3 * r));
      const shared = system(n, 30);
      const rhs = filled([2, rows, n], 40) as number[][][];
      const coefficients = (k: 'lower' | 'diag' | 'upper') => perRow.map((s) => s[k]);
      // rhs batched [2, rows, n]; lower per row (unbatched matrix), diag and upper shared vectors
      const inputs = { lower: coefficients('lower'), diag: shared.diag, upper: shared.upper, rhs };
      const declared = { lower: [rows, n - 1], diag: [n], upper: [n - 1], rhs: [rows, n] };
      const got = value(SOLVE, inputs, declared) as number[][][];
      got.forEach((sample, s) =>
        sample.forEach((x, r) =>
          expectClose(x, denseSolve(assemble(perRow[r].lower, shared.diag, shared.upper), rhs[s][r])),
        ),
      );
      expectClose(reference(SOLVE, inputs, ['rhs']), got);
      // batched coefficients [2, n] against one shared vector rhs
      const diagB = [shared.diag, perRow[0].diag];
      const one = rhs[0][0];
      const got2 = value(SOLVE, { ...shared, diag: diagB, rhs: one }, { diag: [n], rhs: [n] }) as number[][];
      got2.forEach((x, s) => expectClose(x, denseSolve(assemble(shared.lower, diagB[s], shared.upper), one)));
    },
  );

  test('float32 agrees with the float64 solve to float32 precision', () => {
    const { lower, diag, upper } = system(40, 50);
    const rhs = filled([40], 53) as number[];
    const m = compile(SOLVE, { inputs: ['lower', 'diag', 'upper', 'rhs'] });
    const got = m.forward({ lower, diag, upper, rhs }).toArray() as number[];
    m.dispose();
    expect(maxRelativeError(got, denseSolve(assemble(lower, diag, upper), rhs))).toBeLessThan(1e-5);
  });

  test.each([['the CPU loop'], ['the tensor sweep (any device)']])(
    'gradients of every argument match central differences, by %s',
    (path) => {
      native().setDevicePathsOnCpu(path !== 'the CPU loop');
      const { lower, diag, upper } = system(7, 60);
      const rhs = filled([7], 63);
      expectGradients(`(square ${SOLVE})`, { lower, diag, upper, rhs });
      // batched rhs [3, 4, 7] (a matrix per sample) against vector coefficients: the broadcast sums back
      const declared = { lower: [6], diag: [7], upper: [6], rhs: [4, 7] };
      expectGradients(`(* ${SOLVE} ${SOLVE})`, { lower, diag, upper, rhs: filled([3, 4, 7], 64) }, declared);
      // batched coefficients against a shared rhs
      const batched = { lower: filled([2, 6], 65), diag: [diag, diag.map((d) => d + 1)], upper, rhs };
      expectGradients(`(exp ${SOLVE})`, batched, { lower: [6], diag: [7], upper: [6], rhs: [7] });
    },
  );

  test('second derivatives: the backward is itself differentiable (against differences of the gradient)', () => {
    const { lower, diag, upper } = system(5, 70);
    const rhs = filled([5], 73) as number[];
    const m = compile(`(vsum (square ${SOLVE}))`, options({ lower, diag, upper, rhs }, {}));
    const gradDiag = (d: number[]) => {
      const leaf = tensor(d, { ...f64, requiresGrad: true });
      const out = m.forward({ lower, diag: leaf, upper, rhs });
      const [g] = grad(out, [leaf], { createGraph: true });
      return { leaf, g };
    };
    const { leaf, g } = gradDiag(diag);
    const [hessianRow] = grad(g.sum(), [leaf]);
    const fd = centralDifference(
      (d) => flatten(gradDiag(d).g.toArray() as Nested).reduce((s, v) => s + v, 0),
      diag,
      1e-6,
    );
    expect(maxRelativeError(flatten(hessianRow.toArray() as Nested), fd)).toBeLessThan(1e-6);
    m.dispose();
  });

  test('a backward Euler heat step with zero-flux ends equals the dense solve', () => {
    // (I - r L) u' = u with L the Neumann Laplacian: diag 1 + 2r inside, 1 + r at the ends; off-diagonals -r
    const n = 32;
    const r = 0.8;
    const source = `(define (heat-step u r)
  (let ((off (* (- r) (ones ${n - 1})))
        (diag (- (+ 1 (* 2 r) (zeros ${n})) (* r (vec 1 ${Array(n - 2)
          .fill(0)
          .join(' ')} 1)))))
    (tridiagonal-solve off diag off u)))
(heat-step (heat-step u r) r)`;
    const u = Array.from({ length: n }, (_, i) => Math.exp(-(((i - 10) / 4) ** 2)));
    const diag = Array.from({ length: n }, (_, i) => 1 + (i === 0 || i === n - 1 ? r : 2 * r));
    const off = new Array<number>(n - 1).fill(-r);
    const a = assemble(off, diag, off);
    const want = denseSolve(a, denseSolve(a, u));
    const got = value(source, { u, r }) as number[];
    expectClose(got, want);
    // zero flux conserves the total heat
    expect(Math.abs(got.reduce((s, v) => s + v, 0) - u.reduce((s, v) => s + v, 0))).toBeLessThan(1e-12);
  });
});

describe('tridiagonal-solve errors', () => {
  test('a zero pivot is a diagnostic at the call, naming the sample of a batch', () => {
    const m = compile('(+ 1\n  (tridiagonal-solve l d u b))', { ...f64, inputs: { l: [2], d: [3], u: [2], b: [3] } });
    const at = { l: [1, 1], u: [1, 1], b: [1, 2, 3] };
    let error: unknown;
    try {
      m.forward({ ...at, d: [1, 1, 5] }); // the second pivot is 1 - 1 * 1 / 1 = 0
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CompileError);
    const d = (error as CompileError).diagnostics[0];
    expect(d.message).toContain("'tridiagonal-solve': zero pivot at position 1");
    expect((error as Error).message).toContain('<input>:2:3');
    expect(d.hint).toMatch(/diagonally dominant/);
    for (const sweep of [false, true]) {
      native().setDevicePathsOnCpu(sweep);
      expect(() =>
        m.forward({
          ...at,
          d: [
            [4, 4, 4],
            [4, 4, 4],
            [0, 4, 4],
          ],
        }),
      ).toThrow(/zero pivot at position 0 \(sample 2\)/);
    }
    native().setDevicePathsOnCpu(false);
    m.dispose();
  });

  test('shape errors name the call', () => {
    const cases: [string, Record<string, number[]>, RegExp][] = [
      [
        SOLVE,
        { lower: [3], diag: [3], upper: [2], rhs: [3] },
        /<input>:1:1.*argument 1 \(lower\) must have 2 elements along its last axis for a right-hand side of 3, got vector\[3\]/s,
      ],
      [
        '(* 2\n (tridiagonal-solve lower diag upper rhs))',
        { lower: [2], diag: [3], upper: [2], rhs: [4, 4] },
        /<input>:2:2.*argument 1 \(lower\) must have 3 elements/s,
      ],
      [
        SOLVE,
        { lower: [2, 3], diag: [4], upper: [3], rhs: [5, 4] },
        /the leading axes of argument 4 \(rhs, matrix\[5x4\]\) differ from those of argument 1 \(lower, matrix\[2x3\]\)/,
      ],
      [
        SOLVE,
        { lower: [], diag: [4], upper: [3], rhs: [4] },
        /argument 1 \(lower\) must be a vector, matrix or array, got scalar/,
      ],
    ];
    for (const [source, inputs, message] of cases) expect(() => compile(source, { inputs })).toThrow(message);
  });
});

describe('a learned stencil', () => {
  test('fit() recovers a 3-point kernel from data made by it, to 1e-3', async () => {
    const known = [0.25, -1, 0.5];
    const samples = 32;
    const grids = filled([samples, 12], 80) as number[][];
    const target = grids.map((u) => correlate2([u], [known])[0]);
    const model: Module = compile('(conv u w)', { ...f64, inputs: { u: [12] }, params: { w: [0, 0, 0] } });
    const result = await fit(model, { inputs: { u: grids }, target }, { optimizer: 'lbfgs', epochs: 20 });
    const w = model.namedParameters().w.toArray() as number[];
    model.dispose();
    expect(result.loss).toBeLessThan(1e-10);
    w.forEach((v, i) => expect(Math.abs(v - known[i])).toBeLessThan(1e-3));
  });
});
