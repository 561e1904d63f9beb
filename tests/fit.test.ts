import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compile, fit, nn, odeint, randn, type Module } from '../src';
import { runMain } from './helpers/cli';
import { noisyLotkaVolterra } from '../src/fuzz/soak';

const LV = fs.readFileSync(path.join(__dirname, '..', 'examples', 'lotka_volterra.neural'), 'utf8');
const LV_TRUE = { alpha: 1.0, beta: 0.5, delta: 0.25, gamma: 0.5 };
const LV_START = { alpha: 0.5, beta: 0.5, delta: 0.5, gamma: 0.5 };
const GRAVITY = '(/ (* G (* m1 m2)) (pow r 2))';

/** Lotka-Volterra from (4, 1), RK4 with dt = 0.1 to t = 12, each value scaled by 1 + 0.02 * N(0, 1). */
const lotkaVolterraData = () => noisyLotkaVolterra(LV, 121);

function expectWithin(got: Record<string, unknown>, want: Record<string, number>, relative: number): void {
  for (const [name, value] of Object.entries(want))
    expect(Math.abs((got[name] as number) - value) / value).toBeLessThan(relative);
}

/** Samples of Newton's gravity with G = 2.5 (no noise). */
function gravityData(n = 64) {
  const m1 = Array.from({ length: n }, (_, i) => 1 + (i % 7));
  const m2 = Array.from({ length: n }, (_, i) => 2 + (i % 5) / 2);
  const r = Array.from({ length: n }, (_, i) => 1 + (i % 3));
  return { inputs: { m1, m2, r }, target: m1.map((a, i) => (2.5 * a * m2[i]) / r[i] ** 2) };
}

const runCli = (argv: string[]) => runMain(...argv);

describe('fit through the API', () => {
  const data = lotkaVolterraData();

  test('recovers the Lotka-Volterra constants within 2% (L-BFGS, multiple shooting)', async () => {
    const model = compile(LV, { params: LV_START });
    const result = await fit(model, data, {
      optimizer: 'lbfgs',
      epochs: 30,
      ode: { state: ['x', 'y'], method: 'rk4', windowSteps: 25 },
    });
    expectWithin(result.params, LV_TRUE, 0.02);
    // L-BFGS stops when it has converged, well before its 30 epochs
    expect([result.converged, result.stopped]).toEqual([true, 'early']);
    expect(result.steps).toBeLessThan(30);
    // The parameters were updated in place, and the loss is the data's noise level.
    // (the same float32 value: fit reports the tensor it trained)
    const trained = Object.fromEntries(Object.entries(model.namedParameters()).map(([k, t]) => [k, t.item()]));
    expect(trained).toEqual(result.params);
    expect(result.loss).toBeLessThan(0.01);
    model.dispose();
  });

  test('recovers the Lotka-Volterra constants with Adam, cosine decay and clipping', async () => {
    const model = compile(LV, { params: LV_START });
    const result = await fit(model, data, {
      optimizer: 'adam',
      lr: 0.05,
      schedule: 'cosine',
      clip: 5,
      epochs: 300,
      ode: { state: ['x', 'y'], windowSteps: 25 },
    });
    expectWithin(result.params, LV_TRUE, 0.05);
    model.dispose();
  });

  test("fits gravity's G to algebraic data", async () => {
    const model = compile(GRAVITY, { params: { G: 1 } });
    const result = await fit(model, gravityData(), { optimizer: 'lbfgs', epochs: 5 });
    expect(result.params.G).toBeCloseTo(2.5, 4);
    expect(result.loss).toBeLessThan(1e-6);
    model.dispose();
  });

  test('trains the weights of an MLP the program calls, in place', async () => {
    const net = nn.mlp([1, 8, 1], { seed: 3 });
    const model = compile('(+ (* a x) (f x))', { params: { a: 0 }, functions: { f: net } });
    const x = Array.from({ length: 32 }, (_, i) => i / 16 - 1);
    const before = net.parameters()[0].toArray();
    const result = await fit(
      model,
      { inputs: { x }, target: x.map((v) => 2 * v + Math.sin(3 * v)) },
      { epochs: 200, lr: 0.02 },
    );
    expect(net.parameters()[0].toArray()).not.toEqual(before);
    expect(Object.keys(result.params)).toEqual(expect.arrayContaining(['a', 'f.0.weight']));
    expect(result.loss).toBeLessThan(0.05);
    model.dispose();
    net.dispose();
  });

  test('keeps the event loop free while it trains, and the module busy', async () => {
    // Events, not a clock: a callback the event loop runs while the fit is still pending (scheduled
    // from a progress report) aborts it. A fit that held the loop could only be stopped by its epochs.
    const model = compile(LV, { params: LV_START });
    const controller = new AbortController();
    let settled = false;
    const ranWhileTraining: number[] = [];
    const EPOCHS = 1_000_000;
    const running = fit(model, data, {
      epochs: EPOCHS,
      optimizer: 'adam', // steps that go on until aborted (L-BFGS, the default here, would converge first)
      ode: { state: ['x', 'y'], windowSteps: 25 },
      signal: controller.signal,
      onProgress: (p) =>
        p.step === 3 && setImmediate(() => (ranWhileTraining.push(settled ? -1 : p.step), controller.abort())),
    });
    void running.finally(() => (settled = true));
    expect(() => model.forward({ x: 1, y: 1 })).toThrow(
      'module is being trained by fit() (itself, or a model that calls it); await that fit, or abort it through its signal, first',
    );
    expect(() => model.dispose()).toThrow(
      'module is being trained by fit() (itself, or a model that calls it); await that fit, or abort it through its signal, first',
    );
    await expect(fit(model, data, { epochs: 1, ode: { state: ['x', 'y'] } })).rejects.toThrow('already being trained');
    const result = await running;
    expect(ranWhileTraining).toEqual([3]);
    expect(result.stopped).toBe('aborted');
    expect(result.steps).toBeGreaterThanOrEqual(3);
    expect(result.steps).toBeLessThan(EPOCHS);
    const y = model.forward({ x: 1, y: 1 });
    expect(y.shape).toEqual([2]);
    y.dispose();
    model.dispose();
  });

  test('is deterministic with a seed (shuffled minibatches)', async () => {
    const once = async (seed: number) => {
      const model = compile(GRAVITY, { params: { G: 1 } });
      const r = await fit(model, gravityData(), { epochs: 3, batchSize: 5, lr: 0.05, seed });
      model.dispose();
      return r;
    };
    const [a, b, c] = [await once(11), await once(11), await once(12)];
    expect(a).toEqual(b);
    expect(a.steps).toBe(3 * Math.ceil(64 / 5));
    expect(c.params.G).not.toBe(a.params.G);
  });

  test('reports progress with the parameters', async () => {
    const model = compile(GRAVITY, { params: { G: 1 } });
    const seen: { step: number; loss: number; G: number }[] = [];
    await fit(model, gravityData(), {
      epochs: 10,
      lr: 0.1,
      progressEvery: 4,
      onProgress: (p) => seen.push({ step: p.step, loss: p.loss, G: p.params.G as number }),
    });
    expect(seen.map((p) => p.step)).toEqual([4, 8, 10]);
    expect(seen[2].G).toBeGreaterThan(seen[0].G);
    expect(seen[2].loss).toBeLessThan(seen[0].loss);
    model.dispose();
  });

  test('stops at the next step when aborted and resolves with the parameters so far', async () => {
    const model = compile(GRAVITY, { params: { G: 1 } });
    const controller = new AbortController();
    const result = await fit(model, gravityData(), {
      epochs: 10_000_000,
      lr: 1e-3,
      signal: controller.signal,
      onProgress: (p) => p.step === 20 && controller.abort(),
    });
    expect(result.stopped).toBe('aborted');
    expect(result.steps).toBeGreaterThanOrEqual(20);
    expect(result.steps).toBeLessThan(10_000_000);
    expect(result.params.G).toBeGreaterThan(1);
    const aborted = await fit(model, gravityData(), { epochs: 5, signal: AbortSignal.abort() });
    expect([aborted.steps, aborted.stopped]).toEqual([0, 'aborted']);
    model.dispose();
  });

  test('rejects a diverging fit naming the step and the parameters', async () => {
    const model = compile('(* k x)', { params: { k: 1 } });
    const data = { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] };
    await expect(fit(model, data, { epochs: 50, optimizer: 'sgd', lr: 1e20 })).rejects.toThrow(
      /fit: the loss is (nan|inf) at step 2 \(parameters: k = /,
    );
    // Without the check, steps with a non-finite loss update nothing and the fit carries on.
    const fresh = compile('(* k x)', { params: { k: 1 } });
    const seen: number[] = [];
    const skipped = await fit(fresh, data, {
      epochs: 4,
      optimizer: 'sgd',
      lr: 1e20,
      stopOnNonFinite: false,
      onProgress: (p) => seen.push(p.params.k as number),
    });
    expect(skipped.steps).toBe(4);
    expect(Number.isFinite(skipped.loss)).toBe(false);
    expect(seen[3]).toBe(seen[1]);
    fresh.dispose();
    model.dispose();
  });

  test('stops early when the loss stops improving', async () => {
    const model = compile(GRAVITY, { params: { G: 1 } });
    const result = await fit(model, gravityData(), {
      epochs: 100,
      lr: 0.01,
      earlyStopping: { patience: 2, minDelta: 1e9 },
    });
    expect([result.stopped, result.steps]).toEqual(['early', 3]);
    model.dispose();
  });

  test('rejects bad arguments with clear errors', async () => {
    const model = compile(GRAVITY, { params: { G: 1 } });
    await expect(fit(model, gravityData(), { epochs: 0 })).rejects.toThrow('fit: epochs must be a whole number >= 1');
    await expect(fit(model, gravityData(), { epochs: 1, optimizer: 'rmsprop' as never })).rejects.toThrow(
      new RangeError("fit: unknown optimizer 'rmsprop'; expected one of adam, adamw, sgd, lbfgs"),
    );
    await expect(fit(model, { inputs: { m1: [1], m2: [1] }, target: [1] }, { epochs: 1 })).rejects.toThrow(
      "data.inputs has no value for the input 'r'",
    );
    await expect(
      fit(model, { inputs: { m1: [1, 2], m2: [1, 2], r: [1, 2] }, target: [1] }, { epochs: 1 }),
    ).rejects.toThrow("input 'm1' has 2 samples but the target has 1");
    await expect(
      fit(model, { t: [0, 1], observations: [[1], [2]] }, { epochs: 1, ode: { state: ['m1'] } }),
    ).rejects.toThrow('fit: no value for the inputs m2, r; give constant values in ode.inputs');
    await expect(fit(model, gravityData(), { epochs: 1, batchsize: 2 } as never)).rejects.toThrow(
      "unknown option 'batchsize'",
    );
    const lv: Module = compile(LV, { params: LV_START });
    await expect(
      fit(
        lv,
        {
          t: [0, 1, 1.5],
          observations: [
            [1, 1],
            [1, 1],
            [1, 1],
          ],
        },
        { epochs: 1, ode: { state: ['x', 'y'], windowSteps: 1 } },
      ),
    ).rejects.toThrow('evenly spaced windows');
    await expect(
      fit(
        lv,
        {
          t: [0, 1],
          observations: [
            [1, 1],
            [1, 1],
          ],
        },
        { epochs: 1, batchSize: 1, ode: { state: ['x', 'y'] } },
      ),
    ).rejects.toThrow('a single trajectory is one sample');
    lv.dispose();
    model.dispose();
  });
});

describe('neuralc fit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuralc-fit-'));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const lvProgram = path.join(__dirname, '..', 'examples', 'lotka_volterra.neural');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('recovers the Lotka-Volterra constants within 2% from a CSV', async () => {
    const { t, observations } = lotkaVolterraData();
    const csv = write(
      'lv.csv',
      `t,x,y\n${t.map((ti, i) => `${ti},${observations[i][0]},${observations[i][1]}`).join('\n')}\n`,
    );
    const { code, stdout, stderr } = await runCli([
      'fit',
      lvProgram,
      '--data',
      csv,
      '--params',
      JSON.stringify(LV_START),
      '--ode',
      '--state',
      'x,y',
      '--window',
      '25',
      '--optimizer',
      'lbfgs',
      '--epochs',
      '30',
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(Object.keys(result)).toEqual([
      'params',
      'loss',
      'steps',
      'stopped',
      'converged',
      'stopReason',
      'optimizer',
      'tier',
    ]);
    expect([result.optimizer, result.tier]).toEqual(['lbfgs', true]);
    expectWithin(result.params, LV_TRUE, 0.02);
    expect(result.converged).toBe(true);
    expect(result.steps).toBeLessThan(30);
  });

  test('fits an algebraic program to its input columns and the target column', async () => {
    const { inputs, target } = gravityData(16);
    const csv = write(
      'g.csv',
      `m1,m2,r,force\n${target.map((f, i) => `${inputs.m1[i]},${inputs.m2[i]},${inputs.r[i]},${f}`).join('\n')}\n`,
    );
    const program = write('gravity.neural', GRAVITY);
    const { code, stdout } = await runCli([
      'fit',
      program,
      '--data',
      csv,
      '--params',
      '{"G": 1}',
      '--optimizer',
      'lbfgs',
      '--epochs',
      '5',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /fitted by lbfgs in [1-5] steps \(converged: (gradient-tolerance|loss-plateau)\), final loss/,
    );
    expect(Number(/G = ([\d.e-]+)/.exec(stdout)![1])).toBeCloseTo(2.5, 3);
  });

  test('--target picks the target column (default: the last non-input column)', async () => {
    const { inputs, target } = gravityData(16);
    // decoy: three times the force, last, so it is the default target
    const rows = target.map((f, i) => `${inputs.m1[i]},${inputs.m2[i]},${inputs.r[i]},${f},${3 * f}`);
    const csv = write('targets.csv', `m1,m2,r,force,decoy\n${rows.join('\n')}\n`);
    const program = write('gravity.neural', GRAVITY);
    const G = async (...extra: string[]) => {
      const argv = ['fit', program, '--data', csv, '--params', '{"G": 1}', '--optimizer', 'lbfgs', '--epochs', '5'];
      argv.push('--json');
      const r = await runCli([...argv, ...extra]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      return JSON.parse(r.stdout).params.G as number;
    };
    // exact data: L-BFGS lands on the least-squares G to float32 precision
    expect(Math.abs((await G('--target', 'force')) - 2.5)).toBeLessThan(2.5 * 1e-5);
    expect(Math.abs((await G()) - 7.5)).toBeLessThan(7.5 * 1e-5);
    const base = ['fit', program, '--data', csv, '--params', '{"G": 1}'];
    const asInput = await runCli([...base, '--target', 'm1', '--epochs', '1']);
    const inputMessage = '--target m1 is an input of the program, not a target';
    expect([asInput.code, asInput.stderr]).toEqual([1, expect.stringContaining(inputMessage)]);
    const withOde = await runCli([...base, '--target', 'force', '--ode', '--state', 'm1']);
    const odeMessage = '--target is for algebraic fits; with --ode the --state columns are the targets';
    expect([withOde.code, withOde.stderr]).toEqual([2, expect.stringContaining(odeMessage)]);
  });

  describe('--ode with --time and --method: dx/dt = -k x on x = exp(-0.7 t), sampled every 0.1', () => {
    const h = 0.1;
    const tau = Array.from({ length: 21 }, (_, i) => i * h);
    const csv = () => write('decay.csv', `tau,x\n${tau.map((t) => `${t},${Math.exp(-0.7 * t)}`).join('\n')}\n`);
    const program = () => write('decay.neural', '(* (- 0 k) x)');
    const decay = () => ['fit', program(), '--data', csv(), '--params', '{"k": 1}', '--ode', '--state', 'x'];
    const k = async (method: string) => {
      const r = await runCli(
        [...decay(), '--time', 'tau', '--method', method, '--optimizer', 'lbfgs', '--epochs', '30'].concat('--json'),
      );
      expect([r.code, r.stderr]).toEqual([0, '']);
      return JSON.parse(r.stdout).params.k as number;
    };
    test('euler takes one step per interval: the data are matched exactly by 1 - k h = exp(-0.7 h)', async () => {
      // the Euler solution is (1 - k h)^n, so the fitted k is (1 - exp(-0.07)) / 0.1 = 0.6761, not 0.7
      const euler = (1 - Math.exp(-0.7 * h)) / h;
      expect(Math.abs((await k('euler')) - euler)).toBeLessThan(euler * 1e-4);
    });
    test('rk4 and dopri5 recover k = 0.7', async () => {
      // RK4's factor 1 + z + z^2/2 + z^3/6 + z^4/24 matches exp(z) to 3e-9 at z = -0.07
      expect(Math.abs((await k('rk4')) - 0.7)).toBeLessThan(0.7 * 1e-4);
      expect(Math.abs((await k('dopri5')) - 0.7)).toBeLessThan(0.7 * 1e-3);
    });
    test('without --time the time column is t; a bad --method is a usage error', async () => {
      const r = await runCli([...decay(), '--epochs', '1']);
      const noT = "decay.csv: there is no column 't' (the columns are tau, x)";
      expect([r.code, r.stderr]).toEqual([1, expect.stringContaining(noT)]);
      const m = await runCli([...decay(), '--time', 'tau', '--method', 'rk45']);
      // A usage error (exit 2), found before any file is read, like every other choice.
      const badMethod = "--method: unknown ODE method 'rk45'; expected one of euler, rk4, dopri5";
      expect([m.code, m.stderr]).toEqual([2, expect.stringContaining(badMethod)]);
    });
  });

  test('--seed is accepted (full-batch fits are the same for any seed) and checked', async () => {
    const { inputs, target } = gravityData(16);
    const lines = target.map((f, i) => `${inputs.m1[i]},${inputs.m2[i]},${inputs.r[i]},${1.1 * f}`);
    const csv = write('seed.csv', `m1,m2,r,target\n${lines.join('\n')}\n`);
    const program = write('gravity.neural', GRAVITY);
    const once = (seed: string) =>
      runCli(['fit', program, '--data', csv, '--params', '{"G": 1}', '--epochs', '20', '--seed', seed, '--json']);
    const [a, b] = [await once('1'), await once('2')];
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stdout).toBe(b.stdout);
    // and it is the API's fit with the CLI's Adam defaults (cosine decay, clipping at 5)
    const model = compile(GRAVITY, { params: { G: 1 } });
    const scaled = { inputs, target: target.map((f) => 1.1 * f) };
    const api = await fit(model, scaled, { epochs: 20, schedule: 'cosine', clip: 5, seed: 1 });
    model.dispose();
    const { params: p, loss, steps, stopped, converged, stopReason, optimizer, tier } = api;
    expect(JSON.parse(a.stdout)).toEqual({ params: p, loss, steps, stopped, converged, stopReason, optimizer, tier });
    for (const bad of ['-1', 'x', '1.5']) {
      const r = await once(bad);
      const message = `--seed must be a whole number >= 0, got ${bad}`;
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(message)]);
    }
  });

  const bad = async (csvText: string, extra: string[] = []) => {
    const csv = write('bad.csv', csvText);
    const program = write('gravity.neural', GRAVITY);
    return runCli(['fit', program, '--data', csv, '--params', '{"G": 1}', '--epochs', '2', ...extra]);
  };

  test.each([
    [
      'a missing input column',
      'm1,m2,target\n1,2,3\n2,3,4\n',
      [],
      "bad.csv: there is no column 'r' (the columns are m1, m2, target)",
    ],
    [
      'a non-numeric cell',
      'm1,m2,r,target\n1,2,3,4\n1,x2,3,4\n',
      [],
      "bad.csv:3:2: 'x2' in column 'm2' is not a finite number",
    ],
    ['a short row', 'm1,m2,r,target\n1,2,3\n', [], 'bad.csv:2: the row has 3 cells but the header names 4 columns'],
    ['too few rows', 'm1,m2,r,target\n1,2,3,4\n', [], 'bad.csv: at least 2 data rows are needed, got 1'],
    ['an empty file', '', [], 'bad.csv: the file is empty'],
    [
      'an unknown param',
      'm1,m2,r,target\n1,2,3,4\n2,3,4,5\n',
      ['--params', '{"G": 1, "H": 2}'],
      "unknown param 'H': the program never reads it (its parameters are G)",
    ],
    [
      'divergence',
      'm1,m2,r,target\n1,2,1,4\n2,3,1,5\n',
      ['--optimizer', 'sgd', '--lr', '1e30', '--epochs', '5'],
      'at step 2 (parameters: G = ',
    ],
  ])('%s is a clear error', async (_what, csvText, extra, message) => {
    const { code, stdout, stderr } = await bad(csvText, extra as string[]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test('usage errors exit with 2', async () => {
    expect((await runCli(['fit', lvProgram, '--params', '{}'])).code).toBe(2);
    expect((await runCli(['fit', lvProgram, '--data', 'x.csv', '--params', '{"alpha": 1}', '--ode'])).stderr).toContain(
      '--ode needs --state',
    );
    expect(
      (await runCli(['fit', lvProgram, '--data', 'x.csv', '--params', '{"alpha": 1}', '--window', '3'])).stderr,
    ).toContain('--window needs --ode');
  });
});
