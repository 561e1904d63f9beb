// det, inv and solve at and near singular matrices: gradients against central differences (and, at
// an exactly singular matrix, the adjugate in closed form); a singular inv or solve is a diagnostic
// at the call.
import { compile } from '../src/api';
import { CompileError } from '../src/diagnostics';
import { tensor } from '../src/runtime/tensor';
import { grad } from '../src/train';
import { centralDifference, maxRelativeError } from './helpers/finite-diff';

const f64 = { dtype: 'float64' as const };

/** d(sum of the program's output)/dA at A (n x n, row-major flat), and the same by central differences. */
function gradients(source: string, a: number[], n: number, extra: Record<string, number[]> = {}, h = 1e-6) {
  const m = compile(source, f64);
  const rows = (flat: number[]) => Array.from({ length: n }, (_, i) => flat.slice(i * n, (i + 1) * n));
  const A = tensor(rows(a), { ...f64, requiresGrad: true });
  const out = m.forward({ A, ...extra });
  const [g] = grad(out.shape.length === 0 ? out : out.sum(), [A]);
  const value = (flat: number[]) => {
    const y = m.forward({ A: rows(flat), ...extra }).toArray();
    return typeof y === 'number' ? y : (y as number[]).flat(3 as 1).reduce((s: number, v) => s + (v as number), 0);
  };
  const fd = centralDifference(value, a, h);
  const analytic = (g.toArray() as number[][]).flat();
  m.dispose();
  return { analytic, fd };
}

describe('gradients near singular matrices match finite differences', () => {
  const nearly = [1, 2, 2, 4 + 1e-4]; // det 1e-4
  test('det: exactly singular, the gradient is the adjugate transpose [[4, -2], [-2, 1]]', () => {
    expect(gradients('(det A)', [1, 2, 2, 4], 2).analytic).toEqual([4, -2, -2, 1]);
  });
  test('det: 2x2 near singular, and a singular 3x3 (rank 1) whose cofactors are all 0 but one row', () => {
    const near = gradients('(det A)', nearly, 2);
    expect(maxRelativeError(near.analytic, near.fd)).toBeLessThan(1e-8);
    // rank 2: [[1 2 3] [2 4 6] [1 0 1]]; cofactor C_ij = (-1)^(i+j) M_ij, by hand
    const rank2 = gradients('(det A)', [1, 2, 3, 2, 4, 6, 1, 0, 1], 3);
    expect(rank2.analytic).toEqual([4, 4, -4, -2, -2, 2, 0, 0, 0]);
    expect(maxRelativeError(rank2.analytic, rank2.fd)).toBeLessThan(1e-8);
  });
  test('det: 4x4 singular (two equal rows) against finite differences', () => {
    const a = [1, 2, 0, 1, 3, -1, 2, 0, 1, 2, 0, 1, 0.5, 1, 1, 2];
    const r = gradients('(det A)', a, 4);
    expect(maxRelativeError(r.analytic, r.fd)).toBeLessThan(1e-7);
    expect(r.analytic.some((v) => Math.abs(v) > 1)).toBe(true); // not the 0 that linalg_det's backward gives
  });
  test('inv and solve near singular (condition number 1e5)', () => {
    // the entries of inv are ~1e4, their derivatives ~1e8 (relative agreement is what is checked);
    // a step of 1e-9 keeps the differences' truncation error below the 1e-4 distance to singular
    const inv = gradients('(inv A)', nearly, 2, {}, 1e-9);
    expect(
      maxRelativeError(
        inv.analytic.map((v) => v / 1e8),
        inv.fd.map((v) => v / 1e8),
      ),
    ).toBeLessThan(1e-5);
    const solve = gradients('(solve A b)', nearly, 2, { b: [1, -1] }, 1e-9);
    expect(
      maxRelativeError(
        solve.analytic.map((v) => v / 1e8),
        solve.fd.map((v) => v / 1e8),
      ),
    ).toBeLessThan(1e-5);
  });
});

describe('a singular inv or solve is a diagnostic at the call', () => {
  test.each([
    ['(* 2 (inv A))', "'inv': the matrix is singular", 1, 6],
    ['(+ 1\n  (solve A [1 1]))', "'solve': the matrix is singular", 2, 3],
  ])('%s', (source, message, line, column) => {
    const m = compile(source, f64);
    let error: unknown;
    try {
      m.forward({
        A: [
          [1, 2],
          [2, 4],
        ],
      });
    } catch (e) {
      error = e;
    }
    m.dispose();
    expect(error).toBeInstanceOf(CompileError);
    const d = (error as CompileError).diagnostics[0];
    expect(d.message).toContain(message);
    expect((error as Error).message).toContain(`<input>:${line}:${column}`);
    expect(d.hint).toMatch(/regularise/);
  });
  test('a batch names the singular sample', () => {
    const m = compile('(inv A)', f64);
    const A = [
      [
        [1, 0],
        [0, 1],
      ],
      [
        [1, 2],
        [2, 4],
      ],
    ];
    expect(() => m.forward({ A }, { batch: true })).toThrow(/'inv': the matrix is singular \(sample 1\)/);
    m.dispose();
  });
});
