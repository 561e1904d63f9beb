// The heat 2-D benchmark's program (scripts/bench/heat2d-problem.js) computes what the anchors do:
// its loss and d loss / d alpha in float64 against the zero-flux 5-point stencil written here and
// central finite differences of it.
import { compile } from '../src';
import { centralDifference } from './helpers/finite-diff';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const problem = require('../scripts/bench/heat2d-problem.js');

/** sum(u_N^2) after `steps` steps u <- u + r (u[i-1,j] + u[i+1,j] + u[i,j-1] + u[i,j+1] - 4u), edges replicated. */
function referenceLoss(u0: ArrayLike<number>, n: number, steps: number, alpha: number): number {
  const r = (alpha * problem.timeStep(n)) / problem.spacing(n) ** 2;
  let u = Float64Array.from(u0);
  const at = (i: number, j: number) => u[Math.min(n - 1, Math.max(0, i)) * n + Math.min(n - 1, Math.max(0, j))];
  for (let k = 0; k < steps; k++) {
    const next = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++)
        next[i * n + j] = at(i, j) + r * (at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1) - 4 * at(i, j));
    u = next;
  }
  return u.reduce((s, x) => s + x * x, 0);
}

describe('heat 2-D benchmark program', () => {
  const n = 7;
  const steps = 6;
  const u0 = problem.initialField(n);

  test('matches the stencil and finite differences', () => {
    const inputs = { u0: [n, n], h: 'scalar' as const, dt: 'scalar' as const };
    const m = compile(problem.heatSource(steps), { inputs, params: { alpha: 1.3 }, dtype: 'float64' });
    const loss = m.forward({
      u0: Array.from({ length: n }, (_, i) => [...u0.subarray(i * n, (i + 1) * n)]),
      h: problem.spacing(n),
      dt: problem.timeStep(n),
    });
    loss.backward();
    const expected = referenceLoss(u0, n, steps, 1.3);
    expect(loss.item()).toBeCloseTo(expected, 10);
    const [slope] = centralDifference(([a]) => referenceLoss(u0, n, steps, a), [1.3]);
    expect(m.namedParameters().alpha.grad!.item()).toBeCloseTo(slope, 6);
    expect(m.graphText()).toContain('stencil-step'); // the benchmark measures the fused step
    loss.dispose();
    m.dispose();
  });
});
