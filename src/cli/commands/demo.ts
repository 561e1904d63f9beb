// `neuralc demo` (what `npm start` runs): recovers a damped pendulum's two constants from noisy
// simulated data by fitting the compiled right-hand side, and plots the data against the fit.
import fs from 'fs';
import path from 'path';
import { compile, type Module } from '../../api';
import { plotSvg } from '../../plot/svg';
import { randn } from '../../runtime/tensor';
import { fit } from '../../train/fit';
import { odeint } from '../../train/odeint';
import { parseArgs, readText, UsageError, type Command, type Io } from '../command';

// The setup: theta'' = -g_L sin(theta) - b theta' from (1, 0), RK4 with dt = 0.05 up to t = 10,
// multiplicative Gaussian noise of 2%, fitted from g_L = 5, b = 0.5 over windows of 50 steps
// (shorter windows see too little of the damping to pin b down through the noise).
const TRUE = { g_L: 9.81, b: 0.3 };
const INITIAL = { g_L: 5, b: 0.5 };
const X0 = [1, 0];
const DT = 0.05;
const T_END = 10;
const NOISE = 0.02;
const SEED = 42;
const WINDOW = 50;
const STATE = ['theta', 'omega'];
const PROGRAM = path.resolve(__dirname, '..', '..', '..', 'examples', 'damped_pendulum.neural');

/** The true trajectory, each value scaled by 1 + NOISE * (a standard normal sample). */
function noisyData(rhs: string, t: number[]): number[][] {
  const truth = compile(rhs, { params: TRUE });
  const clean = trajectory(truth, t);
  truth.dispose();
  const noise = randn([t.length, X0.length], { seed: SEED, dtype: 'float64' });
  const z = noise.toArray() as number[][];
  noise.dispose();
  return clean.map((row, i) => row.map((v, j) => v * (1 + NOISE * z[i][j])));
}

function trajectory(model: Module, t: number[]): number[][] {
  const y = odeint(model, X0, t, { method: 'rk4', state: STATE });
  const out = y.toArray() as number[][];
  y.dispose();
  return out;
}

export const demo: Command = {
  summary: "recover a damped pendulum's constants from noisy data and plot the fit (npm start)",
  usage:
    'neuralc demo [--out DIR] [--json]\n      Writes DIR/pendulum.svg (default out/); --json prints {"true", "recovered", "relativeError", "loss", "steps", "svg"}.',
  async run(args, io: Io) {
    const { positional, options } = parseArgs(args, ['out'], ['json']);
    if (positional.length > 0) throw new UsageError(`demo takes no arguments, got ${positional.join(' ')}`);
    const outDir = typeof options.get('out') === 'string' ? (options.get('out') as string) : 'out';
    const started = Date.now();
    const rhs = readText(io, PROGRAM);
    const t = Array.from({ length: Math.round(T_END / DT) + 1 }, (_, i) => i * DT);
    const observations = noisyData(rhs, t);

    const model = compile(rhs, { params: INITIAL });
    try {
      const result = await fit(
        model,
        { t, observations },
        {
          optimizer: 'lbfgs',
          epochs: 30,
          earlyStopping: { patience: 3, minDelta: 1e-9 },
          ode: { state: STATE, method: 'rk4', windowSteps: WINDOW },
        },
      );
      const recovered = result.params as Record<keyof typeof TRUE, number>;
      const names = Object.keys(TRUE) as (keyof typeof TRUE)[];
      const relativeError = Object.fromEntries(
        names.map((n) => [n, Math.abs(recovered[n] - TRUE[n]) / Math.abs(TRUE[n])]),
      );

      const fitted = trajectory(model, t);
      const svg = plotSvg({
        title: 'Damped pendulum: noisy data and the fitted model',
        xLabel: 't',
        yLabel: 'state',
        series: [
          ...STATE.map((s, j) => ({
            label: `${s} (data)`,
            x: t,
            y: observations.map((r) => r[j]),
            style: 'scatter' as const,
          })),
          ...STATE.map((s, j) => ({ label: `${s} (fit)`, x: t, y: fitted.map((r) => r[j]) })),
        ],
      });
      fs.mkdirSync(outDir, { recursive: true });
      const svgPath = path.join(outDir, 'pendulum.svg');
      fs.writeFileSync(svgPath, svg);

      if (options.has('json')) {
        io.stdout(
          `${JSON.stringify({ true: TRUE, recovered, relativeError, loss: result.loss, steps: result.steps, svg: svgPath })}\n`,
        );
        return 0;
      }
      const rows = names.map(
        (n) =>
          `  ${n.padEnd(4)}  ${String(TRUE[n]).padStart(6)}  ${String(INITIAL[n]).padStart(7)}  ${recovered[n].toFixed(4).padStart(9)}  ${(100 * relativeError[n]).toFixed(2).padStart(6)}%`,
      );
      io.stdout(
        `Damped pendulum: theta'' = -g_L sin(theta) - b theta', ${t.length} noisy samples (t = 0..${T_END}, ${NOISE * 100}% noise)\n` +
          `fitted with L-BFGS, multiple shooting over windows of ${WINDOW} steps: ${result.steps} step${result.steps === 1 ? '' : 's'}, loss ${result.loss.toPrecision(4)}\n\n` +
          `  name    true  initial  recovered  error\n${rows.join('\n')}\n\n` +
          `plot: ${svgPath} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
      );
      return 0;
    } finally {
      model.dispose();
    }
  },
};
