// Heat equation on a 256 x 256 grid with zero-flux edges: recover the diffusivity from one noisy
// final snapshot (100 explicit steps from a known initial field), against a learned 3 x 3 stencil
// and a PINN; then a hybrid that learns an unknown source s(x, y) with an MLP while fitting alpha.
import { compile, Module } from '../api';
import { mlp, Mlp } from '../nn/mlp';
import { Tensor, tensor, tidy, zeros } from '../runtime/tensor';
import { grad, losses } from '../train';
import { Context, Experiment } from './context';
import { heatmapSvg } from '../plot/heatmap';
import { linePlot } from './plot';
import { program } from './programs';
import { Rng } from './random';
import { constantRow, constantsTable, metricsTables, num, percent, Result, Row } from './report';
import { adamFit, lbfgsRefine } from './train';

// These match the defines of examples/grids/heat2d_zero_flux.neural, the program fitted here.
const N = 256;
const H = 1 / (N - 1);
const DT = 0.0015;
const ALPHA = 0.002;
const STEPS = 100;
const NOISE = 0.01;
const COORDS = Array.from({ length: N }, (_, i) => i * H);
const SOURCE = (x: number, y: number) => 2 * Math.sin(2 * Math.PI * x) * Math.sin(Math.PI * y);

type Field = Float64Array;

/** A sum of 12 Gaussian bumps of widths 2.5 to 10 cells and amplitudes in [-1, 1]. */
function initialField(rng: Rng): Field {
  const bumps = Array.from({ length: 12 }, () => ({
    x: rng.uniform(0.1, 0.9),
    y: rng.uniform(0.1, 0.9),
    w: rng.uniform(2.5, 10) * H,
    a: rng.uniform(-1, 1),
  }));
  const u = new Float64Array(N * N);
  for (let i = 0; i < N; i++)
    for (let j = 0; j < N; j++)
      u[i * N + j] = bumps.reduce(
        (s, b) => s + b.a * Math.exp(-((COORDS[j] - b.x) ** 2 + (COORDS[i] - b.y) ** 2) / (2 * b.w * b.w)),
        0,
      );
  return u;
}

/** A function of (x, y) on the grid: row i is y = i h, column j is x = j h. */
const fieldOf = (f: (x: number, y: number) => number): Field =>
  Float64Array.from({ length: N * N }, (_, k) => f(COORDS[k % N], COORDS[Math.floor(k / N)]));

/** The exact discrete solution (float64): `steps` zero-flux explicit Euler steps. */
function simulate(u0: Field, steps: number, alpha: number, source?: Field): Field {
  let u = u0;
  const at = (v: Field, i: number, j: number) =>
    v[Math.min(N - 1, Math.max(0, i)) * N + Math.min(N - 1, Math.max(0, j))];
  for (let s = 0; s < steps; s++) {
    const next = new Float64Array(N * N);
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        const k = i * N + j;
        const lap = (at(u, i - 1, j) + at(u, i + 1, j) + at(u, i, j - 1) + at(u, i, j + 1) - 4 * u[k]) / (H * H);
        next[k] = u[k] + DT * (alpha * lap + (source ? source[k] : 0));
      }
    u = next;
  }
  return u;
}

const rms = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k] - b[k]) ** 2;
  return Math.sqrt(s / a.length);
};
const grid = (f: Field) => tensor(Float32Array.from(f), { shape: [N, N] });
const difference = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, k) => v - b[k]);

/** The data: a known initial field, its noisy final snapshot, and the truth before and beyond it. */
interface Case {
  u0: Field;
  final: Field;
  noisy: Field;
  /** The noise-free field at twice the fitted horizon. */
  later: Field;
  source?: Field;
}

function makeCase(rng: Rng, source?: Field): Case {
  const u0 = initialField(rng);
  const final = simulate(u0, STEPS, ALPHA, source);
  const noisy = final.map((v) => v + NOISE * rng.normal());
  return { u0, final, noisy, later: simulate(final, STEPS, ALPHA, source), source };
}

/** A compiled model run for `steps` steps from u0; its inputs are made once and reused. */
class Rollout {
  private readonly u0: Tensor;
  private readonly zero = zeros([N, N]);
  constructor(
    readonly module: Module,
    c: Case,
  ) {
    this.u0 = grid(c.u0);
  }
  run(steps: number, s?: Tensor, from = this.u0): Tensor {
    const inputs: Record<string, Tensor | number> = { u0: from, steps };
    if (this.module.inputs.includes('s')) inputs.s = s ?? this.zero;
    return this.module.forward(inputs);
  }
  dispose(): void {
    for (const t of [this.u0, this.zero]) t.dispose();
    this.module.dispose();
  }
}

interface Fitted {
  final: Float32Array | Float64Array;
  later: Float32Array | Float64Array;
}

/** The model's field at the fitted horizon, and rolled on from there to twice it. */
function predictions(r: Rollout, s?: Tensor): Fitted {
  return tidy(() => {
    const final = r.run(STEPS, s);
    return { final: final.toTypedArray(), later: r.run(STEPS, s, final).toTypedArray() };
  });
}

function errorRows(model: string, c: Case, f: Fitted): Row[] {
  return [
    {
      model,
      metric: 'RMSE vs the noise-free truth',
      range: `fitted horizon (${STEPS} steps)`,
      value: rms(f.final, c.final),
    },
    {
      model,
      metric: 'RMSE vs the noise-free truth',
      range: `extrapolated (${2 * STEPS} steps)`,
      value: rms(f.later, c.later),
    },
  ];
}

/** A fit of the compiled heat program's alpha by L-BFGS on the snapshot MSE. */
function fitCompiled(c: Case, iterations: number): { alpha: number; fitted: Fitted; seconds: number; evals: number } {
  const r = new Rollout(compile(program('grids/heat2d_zero_flux'), { params: { alpha: ALPHA / 2 } }), c);
  const target = grid(c.noisy);
  let evals = 0;
  const start = Date.now();
  lbfgsRefine(
    () => {
      evals++;
      // In units of the noise variance, so L-BFGS's tolerances (1e-7 on the gradient, 1e-9 on the
      // loss) do not stop it while alpha is still 5 % off.
      return losses.mse(r.run(STEPS), target).mul(1 / (NOISE * NOISE));
    },
    r.module.parameters(),
    iterations,
    // The first step is lr in alpha's units: 1 would leap far past the explicit scheme's limit
    // (alpha 0.00256 here), where the rollout overflows.
    ALPHA,
  );
  const seconds = (Date.now() - start) / 1000;
  const alpha = r.module.namedParameters().alpha.item();
  const fitted = predictions(r);
  target.dispose();
  r.dispose();
  return { alpha, fitted, seconds, evals };
}

/** The learned 3 x 3 stencil by L-BFGS; alpha as the mean of its four neighbour weights implies it. */
function fitStencil(c: Case, iterations: number): { alpha: number; fitted: Fitted; kernel: number[][] } {
  const r = new Rollout(
    compile(program('grids/learned_stencil'), {
      params: {
        K: [
          [0, 0, 0],
          [0, 0, 0],
          [0, 0, 0],
        ],
      },
    }),
    c,
  );
  const target = grid(c.noisy);
  // Scaled as in fitCompiled; a first step of 0.05 keeps the stencil inside its stable range.
  lbfgsRefine(() => losses.mse(r.run(STEPS), target).mul(1 / (NOISE * NOISE)), r.module.parameters(), iterations, 0.05);
  const kernel = r.module.namedParameters().K.toArray() as number[][];
  const neighbours = (kernel[0][1] + kernel[1][0] + kernel[1][2] + kernel[2][1]) / 4;
  const fitted = predictions(r);
  target.dispose();
  r.dispose();
  return { alpha: (neighbours * H * H) / DT, fitted, kernel };
}

/**
 * A PINN u(x, y, tau) (3 x 64 tanh, tau = t / T) with a trainable alpha, fitted to 1,000 cells of the
 * initial field, 1,000 of the noisy snapshot and the residual u_t - alpha (u_xx + u_yy) at 1,000
 * collocation points.
 */
function pinn(c: Case, epochs: number, ctx: Context): { alpha: number; params: number; fitted: Fitted } {
  const T = STEPS * DT;
  const net = mlp([3, 64, 64, 64, 1], { seed: 11 });
  const u = compile('(net x y tau)', { inputs: ['x', 'y', 'tau'], functions: { net } });
  const residual = compile(`(- (/ utau ${T}) (* alpha (+ uxx uyy)))`, {
    inputs: ['utau', 'uxx', 'uyy'],
    params: { alpha: ALPHA / 2 },
  });
  const rng = new Rng(99);
  const cells = (count: number) => Array.from({ length: count }, () => rng.int(0, N * N - 1));
  const sample = (field: Field, tau: number, at: number[]) => ({
    inputs: {
      x: tensor(at.map((k) => COORDS[k % N])),
      y: tensor(at.map((k) => COORDS[Math.floor(k / N)])),
      tau: tensor(at.map(() => tau)),
    },
    target: tensor(at.map((k) => field[k])),
  });
  const data = [sample(c.u0, 0, cells(1000)), sample(c.noisy, 1, cells(1000))];
  const cx = tensor(Float32Array.from(rng.uniforms(1000, 0, 1)), { requiresGrad: true });
  const cy = tensor(Float32Array.from(rng.uniforms(1000, 0, 1)), { requiresGrad: true });
  const ct = tensor(Float32Array.from(rng.uniforms(1000, 0, 1)), { requiresGrad: true });
  const params = [...net.parameters(), ...residual.parameters()];
  adamFit(
    () => {
      const uc = u.forward({ x: cx, y: cy, tau: ct }, { batch: true });
      const [ux, uy, utau] = grad(uc, [cx, cy, ct], { createGraph: true });
      const [uxx] = grad(ux, [cx], { createGraph: true });
      const [uyy] = grad(uy, [cy], { createGraph: true });
      const r = residual.forward({ utau, uxx, uyy }, { batch: true });
      const fit = data.map((d) => losses.mse(u.forward(d.inputs, { batch: true }), d.target));
      return fit[0].add(fit[1]).add(r.square().mean().mul(1e-4));
    },
    { params, steps: epochs, lr: 1e-3, cosine: true, progress: { display: ctx.progress, label: 'PINN' } },
  );
  const at = Array.from({ length: N * N }, (_, k) => k);
  const field = (tau: number) =>
    tidy(() => {
      const s = sample(c.u0, tau, at);
      return u.forward(s.inputs, { batch: true }).toTypedArray();
    });
  const fitted = { final: field(1), later: field(2) };
  const alpha = residual.namedParameters().alpha.item();
  const count = params.reduce((n, p) => n + p.size, 0);
  for (const d of data) for (const t of [...Object.values(d.inputs), d.target]) t.dispose();
  for (const t of [cx, cy, ct]) t.dispose();
  for (const m of [u, residual, net]) m.dispose();
  return { alpha, params: count, fitted };
}

/** The hybrid: the compiled program with s(x, y) from an MLP at every cell, fitted with alpha by Adam. */
function fitHybrid(
  c: Case,
  epochs: number,
  refine: number,
  ctx: Context,
): {
  alpha: number;
  fitted: Fitted;
  source: Float32Array | Float64Array;
  history: number[];
} {
  const r = new Rollout(compile(program('grids/heat2d_zero_flux'), { params: { alpha: ALPHA / 2 } }), c);
  const net: Mlp = mlp([2, 32, 32, 1], { seed: 5 });
  // One row (x, y) per cell, in the grid's row-major order.
  const cellXY = Float32Array.from({ length: 2 * N * N }, (_, k) => {
    const cell = k >> 1;
    return k % 2 === 0 ? COORDS[cell % N] : COORDS[Math.floor(cell / N)];
  });
  const xy = tensor(cellXY, { shape: [N * N, 2] });
  const sourceField = () => net.forward(xy).reshape([N, N]);
  const target = grid(c.noisy);
  const history = adamFit(() => losses.mse(r.run(STEPS, sourceField()), target), {
    params: net.parameters(),
    lr: 1e-2,
    groups: [{ params: r.module.parameters(), lr: 3e-5 }],
    steps: epochs,
    cosine: true,
    progress: { display: ctx.progress, label: 'hybrid (source MLP)' },
  });
  // Then both together by L-BFGS on the loss in noise units (as fitCompiled), from where Adam left them.
  const scaled = () => losses.mse(r.run(STEPS, sourceField()), target).mul(1 / (NOISE * NOISE));
  lbfgsRefine(scaled, [...net.parameters(), ...r.module.parameters()], refine, ALPHA);
  const alpha = r.module.namedParameters().alpha.item();
  const source = tidy(() => sourceField().toTypedArray());
  const fitted = tidy(() => predictions(r, sourceField()));
  for (const t of [xy, target]) t.dispose();
  net.dispose();
  r.dispose();
  return { alpha, fitted, source, history };
}

interface Settings {
  lbfgs: number;
  pinnEpochs: number;
  hybridEpochs: number;
}

export const heat2d: Experiment = {
  name: 'heat2d',
  title: 'Heat equation on a 256 x 256 grid: alpha from one noisy snapshot',
  run(ctx): Result {
    const s: Settings = ctx.quick
      ? { lbfgs: 20, pinnEpochs: 200, hybridEpochs: 60 }
      : { lbfgs: 50, pinnEpochs: 3000, hybridEpochs: 400 };
    const plain = makeCase(new Rng(2024));
    const rows: Row[] = [];

    const compiled = fitCompiled(plain, s.lbfgs);
    rows.push(
      constantRow('compiled', 'alpha', ALPHA, compiled.alpha),
      ...errorRows('compiled', plain, compiled.fitted),
    );
    const stencil = fitStencil(plain, s.lbfgs);
    rows.push(
      constantRow('learned 3x3 stencil (9 parameters)', 'alpha (implied)', ALPHA, stencil.alpha),
      ...errorRows('learned 3x3 stencil (9 parameters)', plain, stencil.fitted),
    );
    const p = pinn(plain, s.pinnEpochs, ctx);
    const pinnModel = `PINN 3x64 tanh (${p.params} parameters)`;
    rows.push(constantRow(pinnModel, 'alpha', ALPHA, p.alpha), ...errorRows(pinnModel, plain, p.fitted));
    const noiseFloor = rms(plain.noisy, plain.final);
    rows.push({
      model: 'the data itself',
      metric: 'RMSE vs the noise-free truth',
      range: 'fitted horizon',
      value: noiseFloor,
    });

    const withSource = makeCase(new Rng(2025), fieldOf(SOURCE));
    const hybrid = fitHybrid(withSource, s.hybridEpochs, s.lbfgs, ctx);
    const hybridModel = 'hybrid: compiled + source MLP 2-32-32-1';
    const sourceErr = rms(hybrid.source, withSource.source!);
    rows.push(
      constantRow(hybridModel, 'alpha', ALPHA, hybrid.alpha),
      { model: hybridModel, metric: 'source RMSE over the grid (amplitude 2)', range: 'grid', value: sourceErr },
      ...errorRows(hybridModel, withSource, hybrid.fitted),
    );

    const relative = (a: number) => Math.abs(a - ALPHA) / ALPHA;
    const panels = (c: Case, fitted: Fitted, what: string) =>
      heatmapSvg(
        [
          { title: 'initial u0', values: c.u0, rows: N, cols: N },
          { title: `noisy data (${STEPS} steps)`, values: c.noisy, rows: N, cols: N },
          { title: `fitted ${what}`, values: fitted.final, rows: N, cols: N },
          { title: 'fitted - truth', values: difference(fitted.final, c.final), rows: N, cols: N, diverging: true },
        ],
        { title: `heat2d: ${what} against the truth at ${STEPS} steps` },
      );
    return {
      rows,
      sections: [
        `## Recovered constants\n\n${constantsTable(rows)}`,
        `## Errors\n\n${metricsTables(rows)}`,
        `## Cost\n\nThe compiled fit: ${compiled.evals} loss and gradient evaluations (each ${STEPS} steps on ${N} x ${N} and back) in ${num(compiled.seconds, 3)} s, ${num((1000 * compiled.seconds) / compiled.evals, 3)} ms each. Learned stencil: ${stencil.kernel.map((row) => `[${row.map((v) => num(v, 3)).join(' ')}]`).join(' ')}, against r = ${num((ALPHA * DT) / (H * H), 4)} times [0 1 0] [1 -4 1] [0 1 0].`,
      ],
      plots: {
        'heat2d_fields.svg': panels(plain, compiled.fitted, 'compiled alpha'),
        'heat2d_source.svg': heatmapSvg(
          [
            { title: 'true source', values: withSource.source!, rows: N, cols: N },
            { title: 'learned source (MLP)', values: hybrid.source, rows: N, cols: N },
            {
              title: 'learned - true',
              values: difference(hybrid.source, withSource.source!),
              rows: N,
              cols: N,
              diverging: true,
            },
          ],
          { title: 'heat2d hybrid: the source term s(x, y)' },
        ),
        'heat2d_hybrid_training.svg': linePlot(
          [{ name: 'hybrid', x: hybrid.history.map((_, i) => i), y: hybrid.history }],
          {
            title: 'heat2d hybrid: training loss',
            xLabel: 'epoch',
            yLabel: 'MSE',
            logY: true,
          },
        ),
      },
      claims: [
        {
          claim: 'Heat 2-D alpha (256 x 256, one noisy snapshot): compiled vs learned stencil vs PINN',
          paper: 'not in the paper (issue 14)',
          ours: `compiled ${percent(relative(compiled.alpha))}, stencil ${percent(relative(stencil.alpha))}, PINN ${percent(relative(p.alpha))}`,
          verdict: 'info',
        },
        {
          claim: 'Heat 2-D with a learned source s(x, y)',
          paper: 'not in the paper (issue 14)',
          ours: `alpha ${percent(relative(hybrid.alpha))}, source RMSE ${num(sourceErr)} (amplitude 2)`,
          verdict: 'info',
        },
      ],
      setup: [
        `${N} x ${N} grid on the unit square (h = 1/${N - 1}), zero-flux edges, alpha ${ALPHA}, dt ${DT} (alpha dt / h^2 = ${num((ALPHA * DT) / (H * H), 3)}, limit 1/4), ${STEPS} explicit Euler steps of examples/grids/heat2d_zero_flux.neural.`,
        `Initial field: 12 Gaussian bumps (widths 2.5 to 10 cells, amplitudes in [-1, 1]); data: the final field plus Gaussian noise of standard deviation ${NOISE}. The truth is simulated in float64; models run in float32.`,
        `Compiled and stencil: L-BFGS (strong Wolfe, ${s.lbfgs} iterations) on the snapshot MSE, alpha from ${ALPHA / 2}, the stencil from zeros.`,
        `PINN: u(x, y, t/T) by a 3 x 64 tanh MLP with a trainable alpha (from ${ALPHA / 2}), 1,000 cells of each snapshot plus 1e-4 x the mean squared residual at 1,000 collocation points; Adam lr 1e-3, cosine, ${s.pinnEpochs} epochs.`,
        `Hybrid: the same program with s(x, y) = 2 sin(2 pi x) sin(pi y) in the data, learned by a 2-32-32-1 tanh MLP evaluated at every cell (lr 1e-2) with alpha (lr 3e-5), Adam with cosine decay, ${s.hybridEpochs} epochs.`,
      ],
    };
  },
};
