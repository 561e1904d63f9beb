// fit() from several places at once: three fits (an ODE, an algebraic minibatch fit and a hybrid
// MLP) on three modules running together, with forward calls on a fourth module meanwhile, and the
// same fits inside worker threads, must give exactly the results of running them one after the
// other. Each fit is one single-threaded sequence of libtorch CPU operations (libtorch keeps one
// intra-op thread, and every fit has its own seeded generator), so the comparisons are bit for bit:
// any difference means one fit saw another's state. Misuse while a fit runs (disposing or freezing
// what it trains, a second fit on the same parameters) is a clear Error and never a crash; ending a
// worker or the process in the middle of a fit ends it promptly and cleanly.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import {
  compile,
  fit,
  getMaxConcurrentFits,
  nn,
  odeint,
  randn,
  setMaxConcurrentFits,
  tensor,
  type FitProgress,
  type FitResult,
  type Module,
} from '../src';
import { loader } from '../src/runtime/loader';
import { noisyLotkaVolterra } from '../src/fuzz/soak';
import { forwardCalls } from './helpers/forward-calls';

const LV = fs.readFileSync(path.join(__dirname, '..', 'examples', 'lotka_volterra.neural'), 'utf8');
const GRAVITY = '(/ (* G (* m1 m2)) (pow r 2))';
const SRC = path.join(__dirname, '..', 'src');

const lotkaVolterraData = () => noisyLotkaVolterra(LV, 101);

function gravityData(n = 64) {
  const m1 = Array.from({ length: n }, (_, i) => 1 + (i % 7));
  const m2 = Array.from({ length: n }, (_, i) => 2 + (i % 5) / 2);
  const r = Array.from({ length: n }, (_, i) => 1 + (i % 3));
  return { inputs: { m1, m2, r }, target: m1.map((a, i) => (2.5 * a * m2[i]) / r[i] ** 2) };
}

const SPEC = { lv: LV, gravity: GRAVITY, lvData: lotkaVolterraData(), gravityData: gravityData() };
type Spec = typeof SPEC;
interface Run {
  result: FitResult;
  /** Every step's [step, loss, ...parameter values]. */
  history: number[][];
}

/**
 * The three fits, one after the other or all at once, on fresh modules. Self-contained (no outer
 * names) so that worker threads run the very same code from its source text.
 */
async function runFits(
  api: { compile: typeof compile; fit: typeof fit; mlp: typeof nn.mlp },
  spec: Spec,
  together: boolean,
): Promise<Run[]> {
  const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
  const x = Array.from({ length: 32 }, (_, i) => i / 16 - 1);
  const jobs = [
    () => ({
      model: api.compile(spec.lv, { params: { alpha: 0.5, beta: 0.5, delta: 0.5, gamma: 0.5 } }),
      data: spec.lvData,
      options: {
        optimizer: 'adam',
        lr: 0.05,
        epochs: 12,
        batchSize: 2,
        seed: 5,
        clip: 5,
        ode: { state: ['x', 'y'], method: 'rk4', windowSteps: 20 },
      },
    }),
    () => ({
      model: api.compile(spec.gravity, { params: { G: 1 } }),
      data: spec.gravityData,
      options: { lr: 0.05, epochs: 12, batchSize: 8, seed: 9 },
    }),
    () => {
      const net = api.mlp([1, 8, 1], { seed: 3 });
      const model = api.compile('(+ (* a x) (f x))', { params: { a: 0 }, functions: { f: net } });
      return {
        model,
        net,
        data: { inputs: { x }, target: x.map((v) => 2 * v + Math.sin(3 * v)) },
        options: { lr: 0.02, epochs: 40, batchSize: 16, seed: 4, schedule: 'cosine', clip: 1 },
      };
    },
  ] as const;
  const one = async (job: (typeof jobs)[number]): Promise<Run> => {
    const { model, data, options, net } = job() as ReturnType<(typeof jobs)[2]>;
    const history: number[][] = [];
    const onProgress = (p: FitProgress) => history.push([p.step, p.loss, ...Object.values(p.params).flatMap(flat)]);
    const result = await api.fit(model, data as never, { ...(options as object), onProgress } as never);
    model.dispose();
    net?.dispose();
    return { result, history };
  };
  if (together) return Promise.all(jobs.map(one));
  const out: Run[] = [];
  for (const job of jobs) out.push(await one(job));
  return out;
}

const LOOP = '(loop ((k 0) (acc v)) (if (< k n) (recur (+ k 1) (+ (scale 0.5 acc) (sin (* G acc)))) acc))';
const loopModule = () => compile(LOOP, { inputs: { v: [3], n: 'scalar' }, params: { G: 1.3 }, dtype: 'float64' });
const api = { compile, fit, mlp: nn.mlp };

describe('fits running together', () => {
  let sequential: Run[];
  beforeAll(async () => {
    sequential = await runFits(api, SPEC, false);
  });

  test('the sequential runs are sound: each fit took its steps and lowered its loss', () => {
    expect(sequential.map((r) => r.result.steps)).toEqual([12 * 3, 12 * 8, 40 * 2]); // 5 shooting windows in minibatches of 2; 64 samples in 8s; 32 in 16s;
    for (const r of sequential) {
      expect(r.history.length).toBe(r.result.steps);
      expect(r.result.loss).toBeLessThan(r.history[0][1]);
    }
  });

  test('three fits on three modules at once, with forward calls on a fourth, equal the sequential runs bit for bit', async () => {
    const m = loopModule();
    const alone = forwardCalls(m, 300);
    const fits = runFits(api, SPEC, true);
    const during = forwardCalls(m, 300); // on the main thread while the fits run on worker threads
    const together = await fits;
    expect(together).toEqual(sequential);
    expect(during).toEqual(alone);
    m.dispose();
  }, 60000);

  test('the same fits inside two worker threads, and on the main thread meanwhile, equal the sequential runs bit for bit', async () => {
    const source = `${loader()}
const { parentPort, workerData } = require('worker_threads');
const { compile } = require(${JSON.stringify(path.join(SRC, 'api', 'module.ts'))});
const { fit } = require(${JSON.stringify(path.join(SRC, 'train', 'fit.ts'))});
const { mlp } = require(${JSON.stringify(path.join(SRC, 'nn', 'mlp.ts'))});
const runFits = ${runFits.toString()};
runFits({ compile, fit, mlp }, workerData, true).then((r) => parentPort.postMessage(r), (e) => parentPort.postMessage({ error: String(e && e.stack) }));`;
    const workers = [0, 1].map(() => new Worker(source, { eval: true, workerData: SPEC }));
    const results = workers.map(
      (w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject))),
    );
    const main = await runFits(api, SPEC, true);
    for (const r of await Promise.all(results)) expect(r).toEqual(sequential);
    expect(main).toEqual(sequential);
    await Promise.all(workers.map((w) => w.terminate()));
  }, 90000);

  test('two models sharing a frozen MLP train at once, each equal to its sequential run', async () => {
    const x = Array.from({ length: 32 }, (_, i) => i / 16 - 1);
    const data = { inputs: { x }, target: x.map((v) => 3 * v + Math.tanh(v)) };
    const options = { epochs: 50, lr: 0.05, batchSize: 8, seed: 1 };
    const pair = () => {
      const net = nn.mlp([1, 4, 1], { seed: 2 });
      net.freeze();
      return {
        net,
        a: compile('(+ (* a x) (f x))', { params: { a: 0 }, functions: { f: net } }),
        b: compile('(- (* b x) (f x))', { params: { b: 0 }, functions: { f: net } }),
      };
    };
    const s = pair();
    const one = [await fit(s.a, data, options), await fit(s.b, data, options)];
    const t = pair();
    const both = await Promise.all([fit(t.a, data, options), fit(t.b, data, options)]);
    expect(both).toEqual(one);
    expect(Object.keys(both[0].params)).toEqual(['a']); // the frozen MLP is read, not trained
    for (const p of [s, t]) [p.a, p.b, p.net].forEach((x) => x.dispose());
  });
});

describe('turns to train (setMaxConcurrentFits)', () => {
  const initial = getMaxConcurrentFits();
  afterEach(() => setMaxConcurrentFits(initial));
  const data = gravityData(16);

  test('the default is the number of hardware threads; the limit is a whole number from 1 to 1024', () => {
    // std::thread::hardware_concurrency() and os.cpus() both count the online CPUs
    expect(initial).toBe(Math.max(1, os.cpus().length));
    setMaxConcurrentFits(3);
    expect(getMaxConcurrentFits()).toBe(3);
    for (const bad of [0, 1025, 1.5, NaN, '2'])
      expect(() => setMaxConcurrentFits(bad as never)).toThrow(
        /^setMaxConcurrentFits: the limit must be a whole number >= 1 and < 1025/,
      );
    expect(getMaxConcurrentFits()).toBe(3);
  });

  test('with one turn, fits started together all finish, with the results of sequential runs', async () => {
    // (Which fit trains when is shown below; progress cannot show it, as the reports of different
    // fits reach JS in no fixed order.)
    setMaxConcurrentFits(1);
    const steps = [0, 0];
    const models = [1, 2].map(() => compile(GRAVITY, { params: { G: 1 } }));
    const options = (id: number) => ({ epochs: 20, lr: 0.05, batchSize: 4, seed: id, onProgress: () => steps[id]++ });
    const together = await Promise.all(models.map((m, i) => fit(m, data, options(i))));
    expect(steps).toEqual([80, 80]);
    setMaxConcurrentFits(initial);
    const fresh = [1, 2].map(() => compile(GRAVITY, { params: { G: 1 } }));
    const alone = [await fit(fresh[0], data, options(0)), await fit(fresh[1], data, options(1))];
    expect(together).toEqual(alone);
    [...models, ...fresh].forEach((m) => m.dispose());
  });

  test('a fit waiting for its turn is aborted at once, without a step; raising the limit starts the others', async () => {
    setMaxConcurrentFits(1);
    const models = [1, 2, 3].map(() => compile(GRAVITY, { params: { G: 1 } }));
    const controllers = models.map(() => new AbortController());
    // Events, not clocks: every progress report wakes the waiters, which check what they wait for.
    const started = new Set<number>();
    const reports = [0, 0, 0];
    let wake: (() => void)[] = [];
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise<void>((resolve) => wake.push(resolve));
    };
    const onProgress = (i: number) => () => {
      started.add(i);
      reports[i]++;
      const waiting = wake;
      wake = [];
      waiting.forEach((w) => w());
    };
    const runs = models.map((m, i) =>
      fit(m, data, {
        epochs: 1e8,
        lr: 1e-9,
        progressEvery: 50,
        signal: controllers[i].signal,
        onProgress: onProgress(i),
      }),
    );
    await until(() => started.size > 0);
    // The one that trains reports 20 more times (1,000 steps) while the others still wait their turn.
    const [first] = started;
    const seen = reports[first];
    await until(() => reports[first] >= seen + 20);
    expect(started.size).toBe(1); // one turn: one fit trains, two wait
    const waiting = [0, 1, 2].filter((i) => !started.has(i));
    controllers[waiting[0]].abort();
    const aborted = await runs[waiting[0]];
    expect(aborted).toMatchObject({ stopped: 'aborted', steps: 0, params: { G: 1 } });
    expect(reports[waiting[0]]).toBe(0);
    setMaxConcurrentFits(2);
    await until(() => started.has(waiting[1])); // a second turn: the last one starts (or the test times out)
    controllers.forEach((c) => c.abort());
    expect((await Promise.all(runs)).map((r) => r.stopped)).toEqual(['aborted', 'aborted', 'aborted']);
    models.forEach((m) => m.dispose());
  });
});

describe('misuse while a fit runs is a clear error, not a crash', () => {
  const LONG = 200_000; // epochs a misused fit would run if nothing stopped it
  const data = gravityData();

  test('a second fit on the same module, or on a model sharing its module or MLP, rejects; the first is unaffected', async () => {
    const reference = await (async () => {
      const m = compile(GRAVITY, { params: { G: 1 } });
      const r = await fit(m, data, { epochs: 30, lr: 0.05 });
      m.dispose();
      return r;
    })();
    const m = compile(GRAVITY, { params: { G: 1 } });
    const running = fit(m, data, { epochs: 30, lr: 0.05 });
    await expect(fit(m, data, { epochs: 1 })).rejects.toThrow(
      'fit: this module is already being trained by another fit(); await it first',
    );
    expect(await running).toEqual(reference);
    m.dispose();

    const shared = compile('(* k x)', { params: { k: 1 } });
    const net = nn.mlp([1, 4, 1], { seed: 1 });
    const a = compile('(+ (f x) (g x))', { functions: { f: shared, g: net } });
    const b = compile('(* 2 (f x))', { functions: { f: shared } });
    const c = compile('(g x)', { functions: { g: net } });
    const line = { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] };
    const first = fit(a, line, { epochs: 20, optimizer: 'adam' });
    await expect(fit(b, line, { epochs: 1 })).rejects.toThrow(
      "fit: the parameter 'f.k' is in use by another running fit() (the two models share the module or MLP it belongs to); await that fit first, or give each model its own copy",
    );
    await expect(fit(c, line, { epochs: 1 })).rejects.toThrow(
      "fit: the parameter 'g.0.weight' is in use by another running fit()",
    );
    await expect(fit(shared, line, { epochs: 1 })).rejects.toThrow('already being trained by another fit()');
    expect((await first).steps).toBe(20);
    // Once it settles, the others may train.
    expect((await fit(b, line, { epochs: 2, optimizer: 'adam' })).steps).toBe(2);
    for (const x of [a, b, c, shared, net]) x.dispose();
  });

  test('disposing or running the model, or a module it calls, throws and leaves the fit alone', async () => {
    const line = { inputs: { x: [1, 2, 3] }, target: [3, 5, 7] };
    const build = () => {
      const inner = compile('(* k x)', { params: { k: 1 } });
      return { inner, outer: compile('(+ (f x) c)', { params: { c: 0 }, functions: { f: inner } }) };
    };
    const ref = build();
    const reference = await fit(ref.outer, line, { epochs: 40, lr: 0.1 });
    const { inner, outer } = build();
    const errors: string[] = [];
    const attempt = (f: () => unknown) => {
      try {
        f();
        errors.push('no error');
      } catch (e) {
        errors.push((e as Error).message);
      }
    };
    const misuse = () =>
      [
        () => outer.dispose(),
        () => inner.dispose(),
        () => outer.forward({ x: 1 }),
        () => inner.forward({ x: 1 }),
      ].forEach(attempt);
    // Right after the start, and from a progress report (the fit is in flight both times).
    const running = fit(outer, line, {
      epochs: 40,
      lr: 0.1,
      progressEvery: 10,
      onProgress: (p) => p.step === 10 && misuse(),
    });
    misuse();
    const result = await running;
    expect(errors).toEqual(
      Array(8).fill(
        'module is being trained by fit() (itself, or a model that calls it); await that fit, or abort it through its signal, first',
      ),
    );
    expect(result).toEqual(reference);
    // Afterwards both work again.
    // float32 throughout: k * 2 rounded, plus c rounded
    const [k, c] = [result.params['f.k'] as number, result.params.c as number];
    expect(outer.forward({ x: 2 }).item()).toBe(Math.fround(Math.fround(k * 2) + c));
    for (const x of [inner, outer, ref.inner, ref.outer]) x.dispose();
  });

  test('an MLP whose weights a fit trains refuses forward() until the fit settles', async () => {
    const net = nn.mlp([1, 8, 1], { seed: 3 });
    const hybrid = compile('(+ (* a x) (f x))', { params: { a: 0 }, functions: { f: net } });
    const x = Array.from({ length: 32 }, (_, i) => i / 16 - 1);
    let refused = '';
    await fit(
      hybrid,
      { inputs: { x }, target: x },
      {
        epochs: 20,
        progressEvery: 5,
        onProgress: (p) => {
          if (p.step !== 5) return;
          try {
            net.forward([0.5]).dispose();
          } catch (e) {
            refused = (e as Error).message;
          }
        },
      },
    );
    expect(refused).toBe('this MLP is being trained by fit(); await that fit, or abort it through its signal, first');
    expect(net.forward([0.5]).shape).toEqual([1]);
    hybrid.dispose();
    net.dispose();
  });

  test('disposing a trained parameter, or the MLP it belongs to, stops the fit with an error saying so', async () => {
    const m = compile(GRAVITY, { params: { G: 1 } });
    await expect(
      fit(m, data, {
        epochs: LONG,
        lr: 1e-3,
        progressEvery: 10,
        onProgress: (p) => p.step === 10 && m.parameters()[0].dispose(),
      }),
    ).rejects.toThrow(
      "fit: the parameter 'G' was disposed while fit() was training it (directly, or by disposing the MLP or module it belongs to), so the trained values are lost; " +
        'keep the model, the functions it calls and their parameters alive until fit() settles',
    );
    const net = nn.mlp([1, 8, 1], { seed: 3 });
    const hybrid = compile('(+ (* a x) (f x))', { params: { a: 0 }, functions: { f: net } });
    const x = Array.from({ length: 32 }, (_, i) => i / 16 - 1);
    await expect(
      fit(
        hybrid,
        { inputs: { x }, target: x },
        { epochs: LONG, progressEvery: 10, onProgress: (p) => p.step === 10 && net.dispose() },
      ),
    ).rejects.toThrow("fit: the parameter 'f.0.weight' was disposed while fit() was training it");
    hybrid.dispose();
    // The module is not busy any more and says what is wrong with it.
    expect(() => m.dispose()).not.toThrow();
  });

  test('freezing a trained parameter stops the fit with an error saying so; the module refuses freeze() while busy', async () => {
    const m = compile(GRAVITY, { params: { G: 1 } });
    let refused = '';
    const freezeMidFit = (step: number) => {
      if (step !== 10) return;
      try {
        m.freeze();
      } catch (e) {
        refused = (e as Error).message;
      }
      m.parameters()[0].requiresGrad = false; // the tensor itself can still be frozen: the fit notices
    };
    await expect(
      fit(m, data, { epochs: LONG, lr: 1e-3, progressEvery: 10, onProgress: (p) => freezeMidFit(p.step) }),
    ).rejects.toThrow(
      "fit: the parameter 'G' was frozen (freeze() or requiresGrad = false) while fit() was training it; freeze parameters before calling fit() or after it settles",
    );
    expect(refused).toMatch(/^module is being trained by fit\(\)/);
    m.unfreeze();
    expect((await fit(m, data, { epochs: 2, optimizer: 'adam' })).steps).toBe(2);
    m.dispose();
  });

  test('disposing the data tensors it was given changes nothing: the fit holds its own references', async () => {
    const once = async (dispose: boolean) => {
      const m = compile(GRAVITY, { params: { G: 1 } });
      const inputs = { m1: tensor(data.inputs.m1), m2: tensor(data.inputs.m2), r: tensor(data.inputs.r) };
      const target = tensor(data.target);
      const all = [...Object.values(inputs), target];
      const running = fit(m, { inputs, target }, { epochs: 20, batchSize: 16, seed: 3, lr: 0.05 });
      if (dispose) all.forEach((t) => t.dispose()); // while the fit is in flight
      const r = await running;
      all.forEach((t) => t.dispose());
      m.dispose();
      return r;
    };
    expect(await once(true)).toEqual(await once(false));
  });

  test('a throwing onProgress stops the fit, and what it threw is the rejection', async () => {
    const m = compile(GRAVITY, { params: { G: 1 } });
    const boom = new Error('stop here');
    await expect(
      fit(m, data, {
        epochs: LONG,
        optimizer: 'adam',
        progressEvery: 10,
        onProgress: (p) => {
          if (p.step === 20) throw boom;
        },
      }),
    ).rejects.toBe(boom);
    await expect(
      fit(m, data, {
        epochs: LONG,
        optimizer: 'adam',
        progressEvery: 10,
        onProgress: () => {
          throw 'a string';
        },
      }),
    ).rejects.toBe('a string');
    expect((await fit(m, data, { epochs: 2, optimizer: 'adam' })).steps).toBe(2);
    m.dispose();
  });

  test('fits do not occupy the thread pool: file reads go on while more fits run than the pool has threads', async () => {
    const controller = new AbortController();
    const models = Array.from({ length: 6 }, () => compile(GRAVITY, { params: { G: 1 } }));
    const runs = models.map((m) => fit(m, data, { epochs: 1e8, lr: 1e-9, signal: controller.signal }));
    // libuv's pool has 4 threads; had the fits taken them, this read would wait for the fits, which wait for the abort.
    const text = await fs.promises.readFile(__filename, 'utf8');
    controller.abort();
    const results = await Promise.all(runs);
    expect(text).toContain('fits do not occupy the thread pool');
    expect(results.map((r) => r.stopped)).toEqual(Array(6).fill('aborted'));
    models.forEach((m) => m.dispose());
  });

  const endlessFit = (then: string) => `${loader()}
const { parentPort } = require('worker_threads');
const { compile } = require(${JSON.stringify(path.join(SRC, 'api', 'module.ts'))});
const { fit } = require(${JSON.stringify(path.join(SRC, 'train', 'fit.ts'))});
const m = compile('(* k x)', { params: { k: 1 } });
fit(m, { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] }, { epochs: 1e8, lr: 1e-9, progressEvery: 100, onProgress: (p) => p.step === 100 && (${then}) });`;

  test('terminating worker threads in the middle of their fits stops the fits and leaves the process working', async () => {
    const workers = Array.from(
      { length: 2 },
      () => new Worker(endlessFit("parentPort.postMessage('training')"), { eval: true }),
    );
    await Promise.all(
      workers.map((w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)))),
    );
    // Each is in the middle of a hundred million epochs; terminate() waits for the fit's current step only.
    expect(await Promise.all(workers.map((w) => w.terminate()))).toEqual([1, 1]);
    const m = compile(GRAVITY, { params: { G: 1 } });
    expect((await fit(m, data, { epochs: 3, optimizer: 'adam' })).steps).toBe(3);
    m.dispose();
  });

  test('a worker calling process.exit in the middle of a fit exits with its code', async () => {
    const w = new Worker(endlessFit('process.exit(7)'), { eval: true });
    expect(await new Promise((resolve) => w.once('exit', resolve))).toBe(7);
  });

  test('exiting the process in the middle of a fit exits at once with its code', () => {
    const script = `${loader()}
const { compile } = require(${JSON.stringify(path.join(SRC, 'api', 'module.ts'))});
const { fit } = require(${JSON.stringify(path.join(SRC, 'train', 'fit.ts'))});
const m = compile('(* k x)', { params: { k: 1 } });
fit(m, { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] }, { epochs: 1e8, lr: 1e-9, progressEvery: 100, onProgress: () => process.exit(3) });`;
    // Exiting stops the fit after its current step: not waiting for its thread would let exit()
    // destroy libtorch under it (a segfault), and waiting for the fit would take a hundred million epochs.
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 30000, encoding: 'utf8' });
    expect([r.status, r.signal, r.stderr]).toEqual([3, null, '']);
  });
});
