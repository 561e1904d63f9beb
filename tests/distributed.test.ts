// Data-parallel fits over c10d (native/distributed.cpp): two processes on 127.0.0.1 against the same
// fit in one process, a rank killed mid-fit, a rank that never arrives, ranks running different
// programs, the layout of libtorch's ProcessGroupGloo as the addon declares it, and the choice of
// backend (Gloo, or NCCL where the model is on CUDA and the build has it).
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compile, fit, nn, type Module } from '../src';
import { runMain } from './helpers/cli';
import { freePort } from '../src/train/distributed';
import { loader } from '../src/runtime/loader';
import { distributedSpec, groupSpec, rankDevice, type BackendSupport } from '../src/train/distributed';
import { native } from '../src/runtime/native';
import { cudaBuilt, noCudaDevice } from './helpers/cuda';
import { fitAddon } from '../src/train/native-fit';
import { getMaxConcurrentFits, setMaxConcurrentFits } from '../src/train/fit';
import { cliArgs } from './helpers/cli-process';

const SRC = path.join(__dirname, '..', 'src');
/** How long any child may run before it is killed (jest's own timeout is the outer guard). */
const CHILD_LIMIT_MS = 50000;

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A node child with `args`, killed if it outlives CHILD_LIMIT_MS; `onLine` sees each stdout line as it comes. */
function child(args: string[], onLine: (line: string) => void = () => {}) {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '',
    stderr = '';
  const limit = setTimeout(() => proc.kill('SIGKILL'), CHILD_LIMIT_MS);
  let seen = 0; // stdout up to here went to onLine, line by line (a chunk may end inside a line)
  proc.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    const end = stdout.lastIndexOf('\n') + 1;
    stdout
      .slice(seen, end)
      .split('\n')
      .forEach((line) => line && onLine(line));
    seen = Math.max(seen, end);
  });
  proc.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<Finished>((resolve) =>
    proc.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    }),
  );
  return { proc, done };
}

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-distributed-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function csv(name: string, header: string[], rows: number[][]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, [header.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n');
  return file;
}

/** a and b of y = a x + b sin(3 x) by least squares, in float64 (the normal equations). */
function leastSquares(rows: number[][]): { a: number; b: number } {
  let xx = 0,
    xs = 0,
    ss = 0,
    xy = 0,
    sy = 0;
  for (const [x, y] of rows) {
    const s = Math.sin(3 * x);
    [xx, xs, ss, xy, sy] = [xx + x * x, xs + x * s, ss + s * s, xy + x * y, sy + s * y];
  }
  const det = xx * ss - xs * xs;
  return { a: (xy * ss - sy * xs) / det, b: (xx * sy - xs * xy) / det };
}

/** Both params within `rel` of the reference's, relatively. */
function expectClose(got: Record<string, unknown>, want: Record<string, unknown>, rel: number): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [name, value] of Object.entries(want))
    expect(Math.abs((got[name] as number) - (value as number))).toBeLessThanOrEqual(rel * Math.abs(value as number));
}

test("ProcessGroupGloo as the addon declares it is the loaded libtorch's (size and members)", () => {
  expect(fitAddon().glooLayoutProblem()).toBe('');
});

describe('neuralc fit --nproc 2 gives the one-process fit', () => {
  test('algebraic, 7 noisy samples (shares of 3 and 4: the means are weighted by share)', async () => {
    // y = 2 x + 0.5 sin(3 x) + noise: the least-squares constants depend on every sample's weight.
    const xs = [0, 0.4, 0.9, 1.3, 2, 2.2, 3.1];
    const rows = xs.map((x, i) => [x, 2 * x + 0.5 * Math.sin(3 * x) + 0.3 * Math.sin(17 * i + 1)]);
    const data = csv('alg.csv', ['x', 'y'], rows);
    const args = ['fit', '-e', '(+ (* a x) (* b (sin (* 3 x))))', '--data', data, '--params', '{"a": 1, "b": 1}'];
    const one = await runMain(...args, '--json');
    const two = await child(cliArgs(...args, '--json', '--nproc', '2', '--timeout', '20')).done;
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    const ref = JSON.parse(one.stdout),
      got = JSON.parse(two.stdout);
    expect(got.worldSize).toBe(2);
    expect(got.backend).toBe('gloo'); // auto, for a model on the CPU
    expect(got.communicationSeconds).toBeGreaterThan(0);
    expect(got.steps).toBe(ref.steps);
    // float32 L-BFGS stops a few ulps apart; the mean of the shares' means (the 3-sample share's samples
    // weighed 4/3 times too much) would move b by 4 %.
    expectClose(got.params, ref.params, 2e-5);
    expect(Math.abs(got.loss - ref.loss)).toBeLessThanOrEqual(1e-5 * ref.loss);
    expectClose(ref.params, leastSquares(rows), 1e-4);
  });

  test('ODE, 7 shooting windows (shares of 3 and 4)', async () => {
    // Logistic growth y' = r y (1 - y / K), r 0.9, K 50, from 2, observed exactly at t = 0, 0.5, ..., 14.
    const t = Array.from({ length: 29 }, (_, i) => i / 2);
    const rows = t.map((x) => [x, 50 / (1 + 24 * Math.exp(-0.9 * x))]);
    const data = csv('ode.csv', ['t', 'y'], rows);
    const args = ['fit', '-e', '(* r y (- 1 (/ y K)))', '--data', data, '--params', '{"r": 0.7, "K": 40}'];
    const ode = ['--ode', '--state', 'y', '--window', '4', '--method', 'rk4'];
    const one = await runMain(...args, ...ode, '--json');
    const two = await child(cliArgs(...args, ...ode, '--json', '--nproc', '2', '--timeout', '20')).done;
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    const ref = JSON.parse(one.stdout),
      got = JSON.parse(two.stdout);
    expect(got.worldSize).toBe(2);
    expect(got.steps).toBe(ref.steps);
    expectClose(got.params, ref.params, 1e-5);
    expectClose(ref.params, { r: 0.9, K: 50 }, 1e-2);
  });
});

/** A rank of a long Adam fit, as a child: prints "stepping" at its first step (rank 0), then the outcome as JSON. */
function rankScript(rank: number, init: string): string[] {
  const script = `${loader()}
const { compile, fit } = require(${JSON.stringify(SRC)});
const model = compile('(* a x)', { params: { a: 0.5 } });
const xs = Array.from({ length: 64 }, (_, i) => i / 64);
fit(model, { inputs: { x: xs }, target: xs.map((x) => 3 * x) }, {
  epochs: 1e8, optimizer: 'adam', lr: 1e-4, progressEvery: 1,
  onProgress: (p) => { if (p.step === 1) console.log('stepping'); },
  distributed: { rank: ${rank}, worldSize: 2, init: ${JSON.stringify(init)}, timeout: 20 },
}).then(
  (r) => console.log(JSON.stringify({ steps: r.steps })),
  (e) => console.log(JSON.stringify({ error: e.message, kind: e.kind })),
);`;
  return ['-e', script];
}

describe('faults end every rank with an Error', () => {
  test('a rank killed mid-fit: the other rejects (kind distributed) instead of waiting', async () => {
    const init = `tcp://127.0.0.1:${await freePort()}`;
    const one = child(rankScript(1, init));
    const zero = child(rankScript(0, init), (line) => line === 'stepping' && one.proc.kill('SIGKILL'));
    const [z, o] = await Promise.all([zero.done, one.done]);
    expect(o.code).toBeNull(); // killed
    const outcome = JSON.parse(z.stdout.trim().split('\n').pop()!);
    expect(outcome.kind).toBe('distributed');
    expect(outcome.error).toMatch(
      /^fit: rank 0 of 2: summing the gradients over the ranks failed \(.*\); another rank/,
    );
  });

  test('a rank that never arrives: rank 0 rejects after the timeout', async () => {
    const model = compile('(* a x)', { params: { a: 0.5 } });
    const init = `tcp://127.0.0.1:${await freePort()}`;
    const run = fit(
      model,
      { inputs: { x: [1, 2] }, target: [2, 4] },
      {
        epochs: 5,
        distributed: { rank: 0, worldSize: 2, init, timeout: 0.5 },
      },
    );
    await expect(run).rejects.toThrow(
      /^fit: rank 0 of 2 could not meet the other ranks at tcp:\/\/127\.0\.0\.1:\d+ within 0\.5 s/,
    );
    await expect(run).rejects.toMatchObject({ kind: 'distributed' });
    model.dispose();
  });

  test('ranks running different programs: both reject at the start, naming what differs', async () => {
    const a = compile('(* a x)', { params: { a: 0.5 } });
    const b = compile('(* a x x)', { params: { a: 0.5 } });
    const data = { inputs: { x: [1, 2, 3] }, target: [2, 4, 6] };
    const outcomes = await twoRanksHere((rank, init) =>
      fit([a, b][rank], data, { epochs: 5, distributed: { rank, worldSize: 2, init, timeout: 20 } }),
    );
    for (const [rank, outcome] of outcomes.entries()) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason.message).toMatch(
        new RegExp(`^fit: ranks 1 and 0 disagree on the program \\(seen by rank ${rank} of 2\\): every rank`),
      );
    }
    a.dispose();
    b.dispose();
  });
});

/** Two ranks of one fit in this process (each native fit trains on a thread of its own). */
async function twoRanksHere<T>(run: (rank: number, init: string) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  const before = getMaxConcurrentFits();
  setMaxConcurrentFits(2);
  try {
    const init = `tcp://127.0.0.1:${await freePort()}`;
    return await Promise.allSettled([0, 1].map((rank) => run(rank, init)));
  } finally {
    setMaxConcurrentFits(before);
  }
}

describe('every rank ends with the same parameters', () => {
  const xs = Array.from({ length: 11 }, (_, i) => i / 4);
  const data = { inputs: { x: xs }, target: xs.map((x, i) => 1.5 * x + Math.sin(2 * x) + 0.1 * Math.cos(7 * i)) };
  const source = '(+ (* a x) (sin (* w x)))';
  const options = { epochs: 6, batchSize: 4, optimizer: 'adam' as const, lr: 0.05, seed: 3 };

  test.each([true, false])(
    "minibatches of 4 (shares of 2 and 2, the last of 1 and 2): one process's steps, float64, tier %s",
    async (tier) => {
      const one = compile(source, { params: { a: 1, w: 1.5 }, dtype: 'float64', tier });
      const ref = await fit(one, data, options);
      const outcomes = await twoRanksHere(async (rank, init) => {
        // Rank 1 starts elsewhere: every rank takes rank 0's values at the start.
        const model = compile(source, { params: { a: rank ? 7 : 1, w: 1.5 }, dtype: 'float64', tier });
        try {
          return await fit(model, data, { ...options, distributed: { rank, worldSize: 2, init, timeout: 20 } });
        } finally {
          model.dispose();
        }
      });
      const [zero, first] = outcomes.map((o) => (o as PromiseFulfilledResult<Awaited<ReturnType<typeof fit>>>).value);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(first.params).toEqual(zero.params);
      expect(zero.steps).toBe(ref.steps);
      expectClose(zero.params, ref.params, 1e-12);
      expect(zero.tier).toBe(tier);
      expect(zero.distributed).toMatchObject({ rank: 0, worldSize: 2, backend: 'gloo' });
      expect(first.distributed).toMatchObject({ rank: 1, worldSize: 2 });
      one.dispose();
    },
  );

  test("a hybrid with an MLP and weightPenalty: one process's steps, float64", async () => {
    const hybrid = () =>
      compile('(+ (* k x) (net x))', {
        params: { k: 1 },
        functions: { net: nn.mlp([1, 4, 1], { seed: 7, dtype: 'float64' }) },
        dtype: 'float64',
      });
    const xs = [0.5, 1, 1.5, 2, 2.5, 3, 3.5];
    const hybridData = { inputs: { x: xs }, target: xs.map((x) => 2 * x + Math.sin(x)) };
    const hybridOptions = { optimizer: 'adam' as const, lr: 0.01, epochs: 20, weightPenalty: 0.01 };
    const snapshot = (m: Module) =>
      Object.values(m.namedParameters()).flatMap((t) => Array.from(t.toTypedArray() as Float64Array));
    const one = hybrid();
    const ref = await fit(one, hybridData, hybridOptions);
    const want = snapshot(one);
    const outcomes = await twoRanksHere(async (rank, init) => {
      const model = hybrid();
      await fit(model, hybridData, { ...hybridOptions, distributed: { rank, worldSize: 2, init, timeout: 20 } });
      return { values: snapshot(model), model };
    });
    for (const outcome of outcomes) {
      const { values, model } = (outcome as PromiseFulfilledResult<{ values: number[]; model: Module }>).value;
      values.forEach((v, i) =>
        expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want[i]))),
      );
      model.dispose();
    }
    expect(ref.steps).toBe(20);
    one.dispose();
  });

  test('aborting rank 0 stops both after the same step', async () => {
    const outcomes = await twoRanksHere(async (rank, init) => {
      const model = compile(source, { params: { a: 1, w: 1.5 }, dtype: 'float64' });
      const abort = new AbortController();
      try {
        return await fit(model, data, {
          ...options,
          epochs: 1e6,
          signal: abort.signal,
          onProgress: (p) => p.step === 5 && abort.abort(), // rank 0's only
          distributed: { rank, worldSize: 2, init, timeout: 20 },
        });
      } finally {
        model.dispose();
      }
    });
    const [zero, first] = outcomes.map((o) => (o as PromiseFulfilledResult<Awaited<ReturnType<typeof fit>>>).value);
    expect(zero.stopReason).toBe('aborted');
    expect(first.stopReason).toBe('aborted');
    expect(first.steps).toBe(zero.steps);
    expect(first.params).toEqual(zero.params);
  });
});

test('neuralc fit: the launcher and rank flags say what is wrong', async () => {
  const fitArgs = ['fit', '-e', '(* a x)', '--data', 'none.csv', '--params', '{"a": 1}', '--json'];
  const usage = async (...flags: string[]) => JSON.parse((await runMain(...fitArgs, ...flags)).stdout).error.message;
  expect(await usage('--nnodes', '2')).toMatch(/--nnodes and --node-rank need --nproc N/);
  expect(await usage('--nproc', '2', '--rank', '1')).toMatch(/--rank is set by --nproc for each rank it starts/);
  expect(await usage('--nproc', '2', '--nnodes', '2', '--node-rank', '1')).toMatch(
    /--nnodes > 1 needs --init tcp:\/\/host:port/,
  );
  expect(await usage('--nproc', '2', '--nnodes', '2', '--node-rank', '2', '--init', 'tcp://h:1')).toMatch(
    /--node-rank must be below --nnodes \(2\), got 2/,
  );
  expect(await usage('--nproc', '2', '--backend', 'mpi')).toMatch(
    /^--backend: unknown backend 'mpi'; expected one of auto, gloo, nccl$/,
  );
  expect(await usage('--backend', 'nccl')).toMatch(/^--backend is for distributed fits: give --nproc N/);
  expect(await usage('--device', 'gpu')).toMatch(/^--device must be cpu, cuda or cuda:N, got 'gpu'$/);
});

describe('the distributed option', () => {
  const who = 'fit';
  test("defaults to torchrun's environment variables", () => {
    const env = { RANK: '1', WORLD_SIZE: '3', MASTER_ADDR: '10.0.0.7', MASTER_PORT: '29500' };
    expect(distributedSpec(who, {}, env)).toEqual({
      host: '10.0.0.7',
      port: 29500,
      rank: 1,
      worldSize: 3,
      timeoutMs: 60000,
      backend: 'auto',
    });
    expect(distributedSpec(who, { init: 'tcp://[::1]:7000', rank: 0, timeout: 2.5 }, env)).toMatchObject({
      host: '::1',
      port: 7000,
      rank: 0,
      timeoutMs: 2500,
    });
  });

  test('bad values say what and how to fix', () => {
    expect(() => distributedSpec(who, { worldSize: 2, init: 'tcp://h:1' }, {})).toThrow(
      /^fit: distributed\.rank is required: give it, or set the RANK environment variable$/,
    );
    expect(() => distributedSpec(who, { rank: 2, worldSize: 2, init: 'tcp://h:1' }, {})).toThrow(
      /^fit: distributed\.rank must be below worldSize \(2\), got 2$/,
    );
    expect(() => distributedSpec(who, { rank: 0, worldSize: 2, init: 'h:1' }, {})).toThrow(
      /^fit: distributed\.init must be 'tcp:\/\/host:port' .*got 'h:1'$/,
    );
    expect(() => distributedSpec(who, { rank: 0, worldSize: 2 }, {})).toThrow(/set MASTER_ADDR and MASTER_PORT/);
    expect(() => distributedSpec(who, { rank: 0, worldSize: 2, init: 'tcp://h:1', port: 3 }, {})).toThrow(
      /unknown option 'port'/,
    );
    expect(() => distributedSpec(who, { rank: 0 }, { WORLD_SIZE: 'two' })).toThrow(
      /the WORLD_SIZE environment variable \(distributed\.worldSize\) must be a whole number >= 1 and < 65536, got the string "two"/,
    );
    expect(() => distributedSpec(who, { worldSize: 2 }, { RANK: '70000' })).toThrow(
      /the RANK environment variable \(distributed\.rank\) must be a whole number >= 0 and < 65536, got number 70000/,
    );
    expect(() => distributedSpec(who, { rank: 0, worldSize: 1, init: 'tcp://h:1', backend: 'mpi' }, {})).toThrow(
      /^fit: unknown distributed\.backend 'mpi'; expected one of auto, gloo, nccl$/,
    );
  });
});

describe('the backend', () => {
  const spec = distributedSpec('fit', { rank: 0, worldSize: 2, init: 'tcp://127.0.0.1:1' }, {})!;
  const nccl = { ...spec, backend: 'nccl' as const };
  const cpuBuild: BackendSupport = { cudaBuilt: false, cudaDevices: 0, ncclVersion: null };
  const noNccl: BackendSupport = { cudaBuilt: true, cudaDevices: 2, ncclVersion: null };
  const noDevice: BackendSupport = { cudaBuilt: true, cudaDevices: 0, ncclVersion: '2.30.7' };
  const gpus: BackendSupport = { cudaBuilt: true, cudaDevices: 2, ncclVersion: '2.30.7' };
  const chosen = (s: typeof spec, devices: string[], build: BackendSupport) => {
    const { backend, cudaDevice } = groupSpec('fit', s, devices, build);
    return { backend, cudaDevice };
  };
  /** The Error groupSpec throws, with its kind. */
  const failure = (s: typeof spec, devices: string[], build: BackendSupport) => {
    try {
      groupSpec('fit', s, devices, build);
    } catch (e) {
      return { message: (e as Error).message, kind: (e as Error & { kind?: string }).kind };
    }
    return undefined;
  };

  test("auto is NCCL for a model on CUDA where the build has NCCL, else Gloo; 'gloo' is Gloo anywhere", () => {
    expect(chosen(spec, ['cuda:1', 'cuda:1'], gpus)).toEqual({ backend: 'nccl', cudaDevice: 1 });
    expect(chosen(spec, ['cpu'], gpus)).toEqual({ backend: 'gloo', cudaDevice: 0 });
    expect(chosen(spec, ['cuda:0'], noNccl)).toEqual({ backend: 'gloo', cudaDevice: 0 });
    expect(chosen(spec, ['cuda:0', 'cuda:1'], gpus)).toEqual({ backend: 'gloo', cudaDevice: 0 });
    expect(chosen({ ...spec, backend: 'gloo' }, ['cuda:0'], gpus)).toEqual({ backend: 'gloo', cudaDevice: 0 });
    expect(chosen(nccl, ['cuda:0'], gpus)).toEqual({ backend: 'nccl', cudaDevice: 0 });
  });

  test("'nccl' where it cannot run is an Error of kind distributed saying why", () => {
    expect(failure(nccl, ['cpu'], cpuBuild)).toEqual({
      kind: 'distributed',
      message: expect.stringMatching(/^fit: distributed\.backend 'nccl' needs a CUDA build, and this one has no CUDA/),
    });
    expect(failure(nccl, ['cuda:0'], noNccl)?.message).toMatch(/this CUDA build was made without NCCL's headers/);
    expect(failure(nccl, ['cpu'], noDevice)?.message).toMatch(
      /needs a CUDA device: this build has CUDA, but no CUDA device is visible .*; use backend 'gloo'$/,
    );
    expect(failure(nccl, ['cpu'], gpus)?.message).toMatch(
      /sums CUDA tensors, and the model's parameters are on cpu: compile the model with device 'cuda:LOCAL_RANK'/,
    );
    expect(failure(nccl, ['cuda:0', 'cuda:1'], gpus)?.message).toMatch(/parameters are on cuda:0 and cuda:1/);
  });

  test("a launched rank's 'cuda' is cuda:LOCAL_RANK, as torchrun's", () => {
    expect(rankDevice('cuda', { LOCAL_RANK: '1' })).toBe('cuda:1');
    expect(rankDevice('cuda', {})).toBe('cuda');
    expect(rankDevice('cuda:0', { LOCAL_RANK: '1' })).toBe('cuda:0');
    expect(rankDevice('cpu', { LOCAL_RANK: '1' })).toBe('cpu');
  });

  // On this build, asking for NCCL fails at once, before any rendezvous (rank 1 never comes).
  const build = native().buildInfo();
  const here = !build.ncclVersion
    ? cudaBuilt()
      ? /made without NCCL's headers/
      : /needs a CUDA build, and this one has no CUDA/
    : build.cudaDevices === 0
      ? /no CUDA device is visible/
      : /the model's parameters are on cpu/;

  test("fit with backend 'nccl' on this build rejects at once, naming why", async () => {
    const model = compile('(* a x)', { params: { a: 0.5 } });
    const run = fit(
      model,
      { inputs: { x: [1, 2] }, target: [2, 4] },
      { epochs: 5, distributed: { rank: 0, worldSize: 2, init: 'tcp://127.0.0.1:1', timeout: 20, backend: 'nccl' } },
    );
    await expect(run).rejects.toThrow(here);
    await expect(run).rejects.toMatchObject({ kind: 'distributed' });
    model.dispose();
  });

  test("neuralc fit --backend nccl on this build: exit 1, naming why, and --json's backend", async () => {
    const data = csv(
      'line.csv',
      ['x', 'y'],
      [
        [0, 0],
        [1, 2],
        [2, 4],
      ],
    );
    const args = ['fit', '-e', '(* a x)', '--data', data, '--params', '{"a": 1}', '--json'];
    const one = ['--rank', '0', '--world-size', '1', '--init', `tcp://127.0.0.1:${await freePort()}`];
    const r = await runMain(...args, ...one, '--backend', 'nccl');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.message).toMatch(here);
    const gloo = await runMain(...args, ...one, '--backend', 'gloo');
    expect(JSON.parse(gloo.stdout)).toMatchObject({ params: { a: 2 }, worldSize: 1, backend: 'gloo' });
    // --device cuda: the model on cuda:LOCAL_RANK (unset here: cuda), which needs a visible device.
    const cuda = JSON.parse((await runMain(...args, '--device', 'cuda')).stdout);
    if (build.cudaDevices === 0) expect(cuda.error.message).toMatch(noCudaDevice());
    else expect(cuda.params.a).toBeCloseTo(2, 5);
  });

  test('the native group refuses NCCL where it cannot run', () => {
    const group = () => fitAddon().distributedGroup({ ...spec, worldSize: 1, backend: 'nccl', cudaDevice: 0 });
    if (!build.ncclVersion)
      expect(group).toThrow(
        cudaBuilt() ? /was built without NCCL's headers/ : /needs a CUDA build with NCCL, and this one has no CUDA/,
      );
    else if (build.cudaDevices === 0) expect(group).toThrow(noCudaDevice());
    else fitAddon().closeDistributedGroup(group());
  });
});

// Two ranks of one process each take a GPU of their own (NCCL puts one rank on a device).
const twoGpus = native().buildInfo().ncclVersion !== null && native().buildInfo().cudaDevices >= 2;
(twoGpus ? describe : describe.skip)('NCCL on two GPUs (skipped: needs a build with NCCL and 2 visible GPUs)', () => {
  test("a 2-rank NCCL fit gives the 2-rank Gloo fit's parameters, float64", async () => {
    const xs = Array.from({ length: 11 }, (_, i) => i / 4);
    const data = { inputs: { x: xs }, target: xs.map((x) => 1.5 * x + Math.sin(2 * x)) };
    const options = { epochs: 6, batchSize: 4, optimizer: 'adam' as const, lr: 0.05, seed: 3 };
    const run = (backend: 'gloo' | 'nccl') =>
      twoRanksHere(async (rank, init) => {
        const model = compile('(+ (* a x) (sin (* w x)))', {
          params: { a: 1, w: 1.5 },
          dtype: 'float64',
          device: `cuda:${rank}`,
        });
        try {
          return await fit(model, data, {
            ...options,
            distributed: { rank, worldSize: 2, init, timeout: 20, backend },
          });
        } finally {
          model.dispose();
        }
      });
    const values = async (backend: 'gloo' | 'nccl') =>
      (await run(backend)).map((o) => (o as PromiseFulfilledResult<Awaited<ReturnType<typeof fit>>>).value);
    const [gloo, nccl] = [await values('gloo'), await values('nccl')];
    expect(nccl.map((r) => r.distributed?.backend)).toEqual(['nccl', 'nccl']);
    expect(nccl[1].params).toEqual(nccl[0].params);
    expectClose(nccl[0].params, gloo[0].params, 1e-12);
  });
});
