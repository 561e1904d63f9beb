// The training settings come from one list each (src/train/settings.ts): the native name tables
// hold exactly those names, every name does what its doc line says, the docs table and the CLI are
// generated from the lists, and fit and odeint check the ODE solver's options as one.
import fs from 'fs';
import path from 'path';
import { compile, fit, LOSSES, ODE_METHODS, ODE_SENSITIVITIES, odeint, OPTIMIZERS, SCHEDULES, tensor } from '../src';
import type { FitProgress, OdeMethod } from '../src';
import { runMain } from './helpers/cli';
import { fitAddon } from '../src/train/native-fit';
import { odeAddon } from '../src/train/native-ode';
import { optimAddon } from '../src/train/native-optim';
import { optimizerConfig } from '../src/train/optim';
import { names } from '../src/train/settings';
import { replaceSection } from '../src/docs/markdown';
import { renderTrainingSettings, SETTINGS_MARKERS } from '../src/train/settings-table';

/** The names a binding message lists after "expected one of". */
function listedIn(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    const m = /expected one of (.*)$/.exec((e as Error).message);
    if (m) return m[1].split(', ');
    throw e;
  }
  throw new Error('expected a throw');
}

async function rejection(p: Promise<unknown>): Promise<Error & { kind?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

// k x fitted to t = 2 x: loss mean((k x - t)^2), float64 so that a JS simulation matches to rounding.
const X = [1, 2, 3];
const T = [2, 4, 6];
const line = () => compile('(* k x)', { params: { k: 1 }, dtype: 'float64' });

describe('the native name tables hold exactly the lists', () => {
  test('ODE methods (native/ode.h)', () => {
    const m = compile('(* -1 y)', { inputs: ['y'], dtype: 'float64' });
    const graph = m.nativeGraph([{ name: 'y', shape: [], batched: false }]);
    const y0 = tensor([1], { dtype: 'float64' });
    const config = { method: 'heun' as never, step: 0, rtol: 1e-6, atol: 1e-8, maxSteps: 10, needGrad: false };
    const problem = { slots: [{ kind: 'component' as const, index: 0 }], resultBatched: false };
    expect(listedIn(() => odeAddon().odeint(graph, y0.handle, [0, 1], problem, config))).toEqual(names(ODE_METHODS));
    m.dispose();
  });

  test('losses (native/fit.h)', () => {
    const m = line();
    const graph = m.nativeGraph([{ name: 'x', shape: [], batched: true }]);
    const x = tensor(X, { dtype: 'float64' });
    const t = tensor(T, { dtype: 'float64' });
    const k = m.parameters()[0];
    const config = {
      epochs: 1,
      batchSize: 0,
      seed: 0,
      lrs: new Float64Array(0),
      clip: 0,
      loss: 'l4' as never,
      progressEvery: 0,
      patience: 0,
      minDelta: 0,
      stopOnNonFinite: true,
      gradientTolerance: 0,
      weightPenalty: 0,
      penalised: [false],
    };
    const data = { inputs: [x.handle], target: t.handle };
    const run = (c: typeof config) => () =>
      fitAddon().fit(graph, [k.handle], ['k'], optimizerConfig('sgd', { lr: 0.1 }), data, c);
    expect(listedIn(run(config))).toEqual(names(LOSSES));
    // A loosely typed field is not read as a default: stopOnNonFinite must be a boolean.
    expect(run({ ...config, loss: 'mse' as never, stopOnNonFinite: 1 as never })).toThrow(
      'fit: stopOnNonFinite must be a boolean',
    );
    m.dispose();
  });

  test("ODE gradient modes (native/fit.h): the sensitivities but 'auto'", () => {
    const m = line();
    const graph = m.nativeGraph([{ name: 'x', shape: [], batched: true }]);
    const observations = tensor([[1], [2]], { dtype: 'float64' });
    const data = { observations: observations.handle, times: Float64Array.of(0, 1), windowSteps: 0, gradient: 'both' };
    const run = () =>
      fitAddon().fit(
        graph,
        [m.parameters()[0].handle],
        ['k'],
        optimizerConfig('sgd', { lr: 0.1 }),
        data as never,
        {
          epochs: 1,
        } as never,
      );
    expect(listedIn(run)).toEqual(names(ODE_SENSITIVITIES).filter((n) => n !== 'auto'));
    [observations, m].forEach((x) => x.dispose());
  });

  test('optimizer algorithms (native/optim.h): those the optimizers are made of', () => {
    const algorithms = [...new Set(OPTIMIZERS.map((o) => optimizerConfig(o.name, { lr: 1 }).algorithm))];
    const p = tensor([1], { requiresGrad: true });
    const { NativeOptimizer } = optimAddon();
    expect(listedIn(() => new NativeOptimizer([p.handle], { algorithm: 'rprop' } as never))).toEqual(algorithms);
  });
});

describe('each name does what its doc line says', () => {
  test('the optimizers: AdamW decouples the decay that Adam adds to the gradient', () => {
    const moments = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    expect(optimizerConfig('adam', { lr: 0.1 })).toEqual({
      algorithm: 'adam',
      ...moments,
      weightDecay: 0,
      decoupledDecay: false,
    });
    expect(optimizerConfig('adamw', { lr: 0.1 })).toEqual({
      algorithm: 'adam',
      ...moments,
      weightDecay: 0.01,
      decoupledDecay: true,
    });
    expect(optimizerConfig('lbfgs', {})).toEqual({
      algorithm: 'lbfgs',
      lr: 1,
      maxIter: 20,
      historySize: 100,
      lineSearch: null,
      gradientTolerance: 1e-7,
      lossTolerance: 1e-9,
    });
    expect(optimizerConfig('sgd', { lr: 0.1 })).toEqual({
      algorithm: 'sgd',
      lr: 0.1,
      momentum: 0,
      nesterov: false,
      weightDecay: 0,
    });
  });

  test.each(names(OPTIMIZERS))('fit with %s recovers k = 2', async (optimizer) => {
    const m = line();
    const lbfgs = optimizer === 'lbfgs';
    const result = await fit(
      m,
      { inputs: { x: X }, target: T },
      { epochs: lbfgs ? 5 : 400, optimizer, lr: lbfgs ? undefined : 0.02 },
    );
    // AdamW's default decay pulls k slightly below 2.
    expect(result.params.k).toBeCloseTo(2, optimizer === 'adamw' ? 2 : 4);
    m.dispose();
  });

  test("fit's L-BFGS searches its steps: from far away, one step lands on the minimum of a quadratic", async () => {
    const m = compile('(* k x)', { params: { k: 100 }, dtype: 'float64' });
    const result = await fit(m, { inputs: { x: X }, target: T }, { epochs: 1, optimizer: 'lbfgs' });
    expect(result.params.k).toBeCloseTo(2, 8);
    m.dispose();
  });

  const lossOf = {
    mse: (d: number) => d * d,
    mae: (d: number) => Math.abs(d),
    huber: (d: number) => (Math.abs(d) <= 1 ? (d * d) / 2 : Math.abs(d) - 0.5),
  };
  // At k = 1.6 the residuals are -0.4, -0.8 and -1.2: Huber's quadratic and linear parts both count.
  test.each(names(LOSSES))('loss %s: the loss of the first step is the formula at k = 1.6', async (loss) => {
    const m = compile('(* k x)', { params: { k: 1.6 }, dtype: 'float64' });
    const seen: FitProgress[] = [];
    const onProgress = (p: FitProgress) => seen.push(p);
    await fit(m, { inputs: { x: X }, target: T }, { epochs: 1, optimizer: 'sgd', lr: 1e-9, loss, onProgress });
    const want = X.reduce((s, x, i) => s + lossOf[loss](1.6 * x - T[i]), 0) / X.length;
    expect(seen[0].loss).toBeCloseTo(want, 12);
    m.dispose();
  });

  // The learning rate of step i (0-based) of n, as the schedules' doc lines say.
  const rateOf = {
    none: () => 1,
    cosine: (i: number, n: number) => (1 + Math.cos((Math.PI * i) / n)) / 2,
    step: (i: number, n: number) => 0.1 ** Math.floor(i / Math.ceil(n / 3)),
    exponential: (i: number, n: number) => 0.01 ** (i / n),
  };
  test.each(names(SCHEDULES))('schedule %s: plain SGD steps under its rates, simulated in JS', async (schedule) => {
    const steps = 9;
    const lr = 0.01;
    let k = 1;
    const want: number[] = [];
    for (let i = 0; i < steps; i++) {
      const grad = X.reduce((s, x, j) => s + (2 * (k * x - T[j]) * x) / X.length, 0);
      k -= lr * rateOf[schedule](i, steps) * grad;
      want.push(k);
    }
    const m = line();
    const seen: number[] = [];
    const onProgress = (p: FitProgress) => seen.push(p.params.k as number);
    await fit(m, { inputs: { x: X }, target: T }, { epochs: steps, optimizer: 'sgd', lr, schedule, onProgress });
    expect(seen).toHaveLength(steps);
    seen.forEach((got, i) => expect(got).toBeCloseTo(want[i], 12));
    m.dispose();
  });

  test.each(names(ODE_METHODS))("ODE method %s solves y' = -y to its accuracy", (method) => {
    const m = compile('(* -1 y)', { inputs: ['y'], dtype: 'float64' });
    const fixed = ODE_METHODS.find((e) => e.name === method)!.adaptive ? {} : { step: 1e-3 };
    const y = odeint(m, [1], [0, 1], { method, state: ['y'], ...fixed }).toArray() as number[][];
    const tolerance = { euler: 1e-3, rk4: 1e-12, dopri5: 1e-5 }[method];
    expect(Math.abs(y[1][0] - Math.exp(-1))).toBeLessThan(tolerance);
    m.dispose();
  });
});

describe('the generated parts', () => {
  test('docs/training.md has the tables `npm run generate` writes from the lists', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'training.md'), 'utf8');
    expect(doc).toBe(replaceSection(doc, SETTINGS_MARKERS, renderTrainingSettings()));
    const table = renderTrainingSettings();
    for (const list of [OPTIMIZERS, LOSSES, SCHEDULES, ODE_METHODS])
      for (const e of list) expect(table).toContain(`| \`${e.name}\``);
    expect(table).toContain('| `dopri5` (default) | adaptive: `rtol`, `atol` |');
    expect(table).toContain('| `lbfgs` | 1 |');
  });

  const cli = (argv: string[]) => runMain(...argv);

  test('neuralc fit lists every choice in its help and rejects others naming them', async () => {
    const help = (await cli(['fit', '--help'])).stdout;
    const lists = { optimizer: OPTIMIZERS, loss: LOSSES, schedule: SCHEDULES, method: ODE_METHODS };
    for (const [flag, list] of Object.entries(lists)) expect(help).toContain(`--${flag} ${names(list).join('|')}`);
    const args = ['fit', '-e', '(* k x)', '--data', 'none.csv', '--params', '{"k": 1}', '--ode', '--state', 'x'];
    const what = { optimizer: 'optimizer', loss: 'loss', schedule: 'schedule', method: 'ODE method' };
    for (const [flag, list] of Object.entries(lists)) {
      const r = await cli([...args, `--${flag}`, 'magic']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `--${flag}: unknown ${what[flag as keyof typeof what]} 'magic'; expected one of ${names(list).join(', ')}`,
      );
    }
  });
});

describe('fit and odeint check the solver options as one', () => {
  // y' = -y observed exactly at 0, 0.5, 1: fit's rhs has a parameter, odeint's the same program.
  const times = [0, 0.5, 1];
  const observations = times.map((t) => [Math.exp(-t)]);
  const rhs = () => compile('(* (- 0 k) y)', { params: { k: 1 }, inputs: ['y'], dtype: 'float64' });

  const STEP_WITH_DOPRI5 =
    "step sets the fixed step of 'euler' and 'rk4'; 'dopri5' chooses its own steps from rtol and atol";

  async function outcomes(solver: Record<string, unknown>): Promise<{ odeint: string; fit: string }> {
    const m = rhs();
    let viaOdeint = 'accepted';
    try {
      odeint(m, [1], times, { state: ['y'], ...solver });
    } catch (e) {
      viaOdeint = (e as Error).message.replace(/^odeint: /, '');
    }
    const viaFit = await fit(m, { t: times, observations }, { epochs: 1, ode: { state: ['y'], ...solver } }).then(
      () => 'accepted',
      (e: Error) => e.message.replace(/^fit: /, '').replace(/ode\./g, ''),
    );
    m.dispose();
    return { odeint: viaOdeint, fit: viaFit };
  }

  test.each([
    [{}, 'accepted'],
    [{ method: 'rk4' }, 'accepted'],
    [{ method: 'euler', step: 0.05 }, 'accepted'],
    [{ rtol: 1e-4, atol: 1e-6, maxSteps: 500 }, 'accepted'],
    [{ step: 0.1 }, STEP_WITH_DOPRI5],
    [{ method: 'dopri5', step: 0.1 }, STEP_WITH_DOPRI5],
    [{ method: 'rk4', rtol: 1e-3 }, "rtol and atol control the adaptive methods only; 'rk4' takes a fixed step"],
    [{ method: 'euler', atol: 1e-3 }, "rtol and atol control the adaptive methods only; 'euler' takes a fixed step"],
    [{ rtol: 0, atol: 0 }, 'rtol and atol cannot both be 0; the error control needs a tolerance'],
    [{ rtol: -1 }, 'rtol must be a finite number >= 0, got number -1'],
    [{ atol: NaN }, 'atol must be a finite number >= 0, got number NaN'],
    [{ method: 'rk4', step: 0 }, 'step must be a finite number > 0, got number 0'],
    [{ maxSteps: 0 }, 'maxSteps must be a whole number >= 1 and < 1000000000000, got number 0'],
    [{ maxSteps: 2.5 }, 'maxSteps must be a whole number >= 1 and < 1000000000000, got number 2.5'],
    [{ method: 'midpoint' }, "unknown method 'midpoint'; expected one of euler, rk4, dopri5"],
    [{ method: 7 }, 'unknown method number 7; expected one of euler, rk4, dopri5'],
  ])('%j: %s', async (solver, want) => {
    expect(await outcomes(solver)).toEqual({ odeint: want, fit: want });
  });

  test('the default method is dopri5 for both', async () => {
    const m = rhs();
    const solve = (method?: OdeMethod) =>
      odeint(m, [1], [0, 3], { state: ['y'], grad: false, ...(method && { method }) }).toArray() as number[][];
    expect(solve()).toEqual(solve('dopri5'));
    expect(solve()).not.toEqual(solve('rk4'));
    // Two reported times 3 apart: dopri5 meets its tolerance, a single RK4 step does not.
    expect(Math.abs(solve()[1][0] - Math.exp(-3))).toBeLessThan(1e-6);
    expect(Math.abs(solve('rk4')[1][0] - Math.exp(-3))).toBeGreaterThan(1e-2);
    const trained = async (method?: OdeMethod) => {
      const model = compile('(* (- 0 k) y)', { params: { k: 0.5 }, inputs: ['y'], dtype: 'float64' });
      const data = { t: [0, 3], observations: [[1], [Math.exp(-3)]] };
      const r = await fit(model, data, { epochs: 3, lr: 0.1, ode: { state: ['y'], ...(method && { method }) } });
      model.dispose();
      return r;
    };
    expect(await trained()).toEqual(await trained('dopri5'));
    expect(await trained()).not.toEqual(await trained('rk4'));
    m.dispose();
  });
});
