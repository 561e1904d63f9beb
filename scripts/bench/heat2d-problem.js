// The heat 2-D benchmark's problem (issue 14), as the anchors native/tools/heat2d_eager.cpp and
// scripts/bench/heat2d_torch.py write it: an N x N field, STEPS explicit zero-flux steps
// u <- u + alpha dt/h^2 lap5(pad_edge(u)), h = 1/(N-1), dt = 0.2 h^2, alpha = 1 (a parameter),
// loss sum(u_N^2), its gradient to alpha; and our program for it.
'use strict';

/** Our program: the grid primitives, as a user writes the step. */
function heatSource(steps) {
  // (laplacian (pad-edge v 1) h) is the zero-flux 5-point Laplacian, divided by h^2 already.
  return [
    `; Heat 2-D: ${steps} explicit zero-flux steps from u0, loss sum(u^2).`,
    '(define (step v) (+ v (* (* alpha dt) (laplacian (pad-edge v 1) h))))',
    `(let ((u (loop ((k 0) (v u0)) (if (>= k ${steps}) v (recur (+ k 1) (step v))))))`,
    '  (sum-all (* u u)))',
  ].join('\n');
}

/** A Gaussian bump off the centre (so the zero-flux boundary matters), computed in float64. */
function initialField(n) {
  const u = new Float32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const d2 = (i / (n - 1) - 0.35) ** 2 + (j / (n - 1) - 0.6) ** 2;
      u[i * n + j] = Math.exp(-d2 / (2 * 0.1 * 0.1));
    }
  return u;
}

const spacing = (n) => 1 / (n - 1);
const timeStep = (n) => 0.2 * spacing(n) ** 2;

module.exports = { heatSource, initialField, spacing, timeStep, WARM_N: 16 };
