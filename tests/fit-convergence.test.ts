// Convergence as data: every fit says whether it converged and why it stopped; L-BFGS stops when it
// has converged and shrinks its step where a trial point blows up; the CLI warns about a fit that
// did not converge. References: closed-form solutions of the ODEs.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compile, fit } from '../src';
import { main } from '../src/cli/main';

// Logistic growth dP/dt = r P (1 - P/K) from P(0) = 5: P(t) = K / (1 + (K - P0)/P0 e^(-r t)).
const LOGISTIC = '(* r P (- 1 (/ P K)))';
const [R, K, P0] = [0.9, 50, 5];
const logisticT = Array.from({ length: 41 }, (_, i) => i * 0.25);
const logistic = { t: logisticT, observations: logisticT.map((t) => [K / (1 + ((K - P0) / P0) * Math.exp(-R * t))]) };

// A damped oscillator x'' = -k x - c x' from x = 1, v = 0, over 40 time units (six periods).
const OSCILLATOR = '[v (- (* -1 k x) (* c v))]';
const [KS, CS] = [4, 0.5];
const w = Math.sqrt(KS - (CS * CS) / 4);
const oscT = Array.from({ length: 401 }, (_, i) => i * 0.1);
const oscillator = {
  t: oscT,
  observations: oscT.map((t) => {
    const e = Math.exp((-CS * t) / 2);
    return [e * Math.cos(w * t), e * ((-CS / 2) * Math.cos(w * t) - w * Math.sin(w * t))];
  }),
};

describe('fit results say whether they converged', () => {
  test("Adam with the CLI's defaults on logistic growth runs out of epochs far from r, K: not converged", async () => {
    const model = compile(LOGISTIC, { params: { r: 0.5, K: 20 } });
    const r = await fit(model, logistic, {
      optimizer: 'adam',
      epochs: 1000,
      schedule: 'cosine',
      clip: 5,
      ode: { state: ['P'] },
    });
    model.dispose();
    expect([r.converged, r.stopReason, r.stopped, r.steps]).toEqual([false, 'epochs', 'epochs', 1000]);
    expect(Math.abs((r.params.K as number) - K)).toBeGreaterThan(5); // the numbers it reports are not the answer
  });

  test("fit's defaults on the same data: L-BFGS, converged, at r and K", async () => {
    const model = compile(LOGISTIC, { params: { r: 0.5, K: 20 } });
    const r = await fit(model, logistic, { epochs: 50, ode: { state: ['P'] } });
    model.dispose();
    expect([r.optimizer, r.converged]).toEqual(['lbfgs', true]);
    expect(Math.abs((r.params.K as number) - K) / K).toBeLessThan(0.01);
  });

  test('L-BFGS on the same data converges to r and K and stops there', async () => {
    const model = compile(LOGISTIC, { params: { r: 0.5, K: 20 } });
    const r = await fit(model, logistic, { epochs: 50, optimizer: 'lbfgs', ode: { state: ['P'] } });
    model.dispose();
    expect(r.converged).toBe(true);
    expect(['gradient-tolerance', 'loss-plateau']).toContain(r.stopReason);
    expect(r.steps).toBeLessThan(50);
    expect(Math.abs((r.params.r as number) - R)).toBeLessThan(R * 1e-4);
    expect(Math.abs((r.params.K as number) - K)).toBeLessThan(K * 1e-4);
  });

  test('L-BFGS on a long damped trajectory, where a trial point blows up, converges', async () => {
    // From k = 1, c = 1 the line search tries k < 0, c < 0 (at step 1 with strong Wolfe): the
    // solution explodes there, and the step shrinks instead of failing the fit.
    const model = compile(OSCILLATOR, { params: { k: 1, c: 1 }, dtype: 'float64' });
    const r = await fit(model, oscillator, { epochs: 50, optimizer: 'lbfgs', ode: { state: ['x', 'v'] } });
    model.dispose();
    expect(r.converged).toBe(true);
    expect(r.steps).toBeLessThan(50);
    // dopri5's default tolerances (rtol 1e-6) bound how close the fitted constants come
    expect(Math.abs((r.params.k as number) - KS)).toBeLessThan(1e-5);
    expect(Math.abs((r.params.c as number) - CS)).toBeLessThan(1e-5);
  });

  test('tolerances are options: a gradient tolerance stops Adam; earlyStopping is a loss plateau', async () => {
    const model = compile('(* k x)', { params: { k: 1 } });
    const data = { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] };
    // the loss's gradient at k = 1 is -2 * mean(x^2) * (2 - 1) = -9.33: within a tolerance of 10
    const loose = await fit(model, data, { epochs: 100, tolerance: { gradient: 10 } });
    expect([loose.stopReason, loose.converged, loose.steps]).toEqual(['gradient-tolerance', true, 1]);
    const plateau = await fit(model, data, { epochs: 100, lr: 1e-12, earlyStopping: { patience: 2, minDelta: 1 } });
    expect([plateau.stopReason, plateau.converged, plateau.stopped, plateau.steps]).toEqual([
      'loss-plateau',
      true,
      'early',
      3,
    ]);
    await expect(fit(model, data, { epochs: 1, tolerance: { grad: 1 } as never })).rejects.toThrow(
      "fit: tolerance: unknown option 'grad' (expected one of gradient, loss)",
    );
    await expect(fit(model, data, { epochs: 1, tolerance: { loss: -1 } })).rejects.toThrow(/fit: tolerance\.loss/);
    model.dispose();
  });
});

describe('neuralc fit warns when the fit did not converge', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-convergence-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const csv = path.join(dir, 'logistic.csv');
  const program = path.join(dir, 'logistic.neural');
  fs.writeFileSync(csv, `t,P\n${logistic.t.map((t, i) => `${t},${logistic.observations[i][0]}`).join('\n')}\n`);
  fs.writeFileSync(program, LOGISTIC);
  const run = async (...extra: string[]) => {
    let [stdout, stderr] = ['', ''];
    const io = {
      stdout: (t: string) => void (stdout += t),
      stderr: (t: string) => void (stderr += t),
      readFile: (p: string) => fs.readFileSync(p),
    };
    const argv = ['fit', program, '--data', csv, '--params', '{"r": 0.5, "K": 20}', '--ode', '--state', 'P'];
    const code = await main([...argv, ...extra], io);
    return { code, stdout, stderr };
  };

  test('on stderr, and as fields with --json', async () => {
    const adam = await run('--optimizer', 'adam', '--epochs', '50', '--json');
    expect(adam.code).toBe(0);
    expect(adam.stderr).toContain('warning: the fit did not converge (its 50 steps ran out)');
    expect(JSON.parse(adam.stdout)).toMatchObject({ converged: false, stopReason: 'epochs', steps: 50 });
    const lbfgs = await run(); // the default for two constants
    expect([lbfgs.code, lbfgs.stderr]).toEqual([0, '']);
    expect(lbfgs.stdout).toMatch(/fitted by lbfgs in \d+ steps \(converged: (gradient-tolerance|loss-plateau)\)/);
  });
});
