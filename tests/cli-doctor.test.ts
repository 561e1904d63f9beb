// `neuralc doctor`: the facts and the self-test (issue 18), in process and through the real CLI, and
// the report of a failing check or an addon that does not load, built with an injected check or loader.
import { spawnSync } from 'child_process';
import { printReport } from '../src/cli/commands/doctor';
import type { NativeAddon } from '../src/runtime/native';
import { doctorReport } from '../src/tools/doctor';
import { runMain } from './helpers/cli';
import { cliArgs } from './helpers/cli-process';
import { native } from '../src/runtime/native';
import { cudaBuilt } from './helpers/cuda';

// The pinned libtorch of each build (scripts/libtorch.js): the default CPU one, or NC_TORCH=cuda's.
const TORCH = cudaBuilt() ? '2.14.1' : '2.13.0';
const DEVICES = native().buildInfo().cudaDevices;
const CUDA_SUMMARY = !cudaBuilt()
  ? 'this build has no CUDA'
  : DEVICES === 0
    ? 'CUDA build, no device visible'
    : `CUDA build, ${DEVICES} device(s) visible`;
// The NCCL the CUDA wheel pins (nvidia-nccl-cu13==2.30.7 in scripts/libtorch.js), which CUDA builds compile in.
const NCCL = cudaBuilt() ? '2.30.7' : null;
const NCCL_SUMMARY = NCCL ? `NCCL ${NCCL}, loaded with libtorch_cuda` : 'no NCCL: this build has no CUDA';

const capture = () => {
  const out = { stdout: '', stderr: '' };
  const io = {
    stdout: (t: string) => void (out.stdout += t),
    stderr: (t: string) => void (out.stderr += t),
    readFile: () => new Uint8Array(),
  };
  return { out, io };
};

test('--json: one document with every fact typed, the self-test passing and CUDA reported as built or not', async () => {
  const r = await runMain('doctor', '--json');
  expect(r.code).toBe(0);
  const doc = JSON.parse(r.stdout);
  expect(doc).toMatchObject({
    ok: true,
    version: expect.any(String),
    node: {
      version: process.version,
      napi: expect.any(String),
      platform: expect.any(String),
      arch: expect.any(String),
      cores: expect.any(Number),
    },
    addon: { path: expect.stringMatching(/neural_compiler\.node$/), loaded: true, error: null },
    libtorch: {
      compiledVersion: TORCH,
      loadedVersion: TORCH,
      loadedFrom: expect.stringMatching(/libtorch_cpu\.so$/),
      buildWouldUse: expect.any(String),
    },
    cuda: { built: cudaBuilt(), devices: DEVICES, summary: expect.stringContaining(CUDA_SUMMARY) },
    nccl: { built: NCCL !== null, version: NCCL, summary: expect.stringContaining(NCCL_SUMMARY) },
    threads: 1,
    allocator: {
      liveBytes: expect.any(Number),
      peakBytes: expect.any(Number),
      cachedBytes: expect.any(Number),
      cacheLimitBytes: expect.any(Number),
    },
    environment: expect.any(Object),
  });
  for (const place of doc.libtorch.searchPath)
    expect(place).toEqual({ source: expect.any(String), dir: expect.any(String), found: expect.any(Boolean) });
  // The libtorch that was loaded is the one a rebuild would use.
  expect(doc.libtorch.loadedFrom.startsWith(doc.libtorch.buildWouldUse)).toBe(true);
  const names = doc.selfTest.map((t: { name: string }) => t.name);
  expect(names).toEqual([
    'grammar: parse a program',
    ...['cpu', ...Array.from({ length: DEVICES }, (_, i) => `cuda:${i}`)].flatMap((device) => [
      `compile, forward a batch, backward (${device})`,
      `fit one constant (${device})`,
    ]),
    'valueAndGrad on the small-program tier (cpu)',
    'distributed: a one-rank fit over c10d (Gloo, 127.0.0.1)',
    ...(NCCL && DEVICES > 0 ? ['distributed: a one-rank fit over c10d (NCCL, cuda:0)'] : []),
    'NVRTC: compile a fused plan to PTX',
  ]);
  for (const t of doc.selfTest)
    expect(t).toMatchObject({ name: expect.any(String), ok: true, ms: expect.any(Number), error: null });
  // The PTX check needs no GPU: it runs on every CUDA build and is listed as not applicable on the others.
  expect(doc.selfTest.at(-1).skipped).toBe(cudaBuilt() ? undefined : 'not applicable: this build has no CUDA');
});

test('the readable report says what the JSON says', async () => {
  const r = await runMain('doctor');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`libtorch   ${TORCH} (the addon was compiled against ${TORCH})\n`);
  expect(r.stdout).toContain(`CUDA       ${CUDA_SUMMARY}`);
  expect(r.stdout).toContain(`NCCL       ${NCCL_SUMMARY}`);
  expect(r.stdout).toContain('npm run build would use');
  expect(r.stdout).toMatch(/^ {2}ok +[\d.]+ ms {2}fit one constant \(cpu\)$/m);
  expect(r.stdout).toContain('all self-tests passed');
});

test('an unknown NC_TORCH: the other facts still, and the build line says why a build would stop', async () => {
  const saved = process.env.NC_TORCH;
  process.env.NC_TORCH = 'gpu';
  try {
    const report = await doctorReport({ checks: [] });
    expect(report.libtorch.searchPath).toEqual([]);
    expect(report.libtorch.searchError).toMatch(
      /^neural-compiler: NC_TORCH=gpu is not a libtorch build this project knows/,
    );
    expect(report.addon.loaded).toBe(true);
    const { out, io } = capture();
    printReport(report, io, false);
    expect(out.stdout).toContain('npm run build would stop: neural-compiler: NC_TORCH=gpu is not');
  } finally {
    if (saved === undefined) delete process.env.NC_TORCH;
    else process.env.NC_TORCH = saved;
  }
});

test('a failing check makes exit 1 and names itself and its error', async () => {
  const report = await doctorReport({
    checks: [
      { name: 'passes', run: () => {} },
      {
        name: 'wrong reference',
        run: () => {
          throw new Error('forward[0] is 1, expected 2 (computed in float64)');
        },
      },
    ],
  });
  expect(report.ok).toBe(false);
  expect(report.selfTest.map((t) => [t.name, t.ok, t.error])).toEqual([
    ['passes', true, null],
    ['wrong reference', false, 'forward[0] is 1, expected 2 (computed in float64)'],
    // Injected checks replace the NVRTC one too; a CPU build still lists it as not applicable.
    ...(cudaBuilt() ? [] : [['NVRTC: compile a fused plan to PTX', true, null]]),
  ]);
  const { out, io } = capture();
  expect(printReport(report, io, true)).toBe(1);
  expect(JSON.parse(out.stdout).selfTest[1].ok).toBe(false);
  const text = capture();
  expect(printReport(report, text.io, false)).toBe(1);
  expect(text.out.stdout).toMatch(/FAIL .* wrong reference\n +forward\[0\] is 1, expected 2/);
});

test('an addon that does not load: the other facts and the load error, exit 1, no stack trace', async () => {
  const message = 'neural-compiler: the native addon is not built (expected /x/neural_compiler.node).';
  const report = await doctorReport({
    load: () => {
      throw new Error(message);
    },
  });
  expect(report).toMatchObject({
    ok: false,
    addon: { loaded: false, error: message },
    libtorch: { compiledVersion: null, loadedFrom: null, searchPath: expect.any(Array) },
    cuda: null,
    nccl: null,
    threads: null,
    allocator: null,
  });
  // The grammar needs no addon, so it is still checked; the checks that need it are not run.
  expect(report.selfTest.map((t) => [t.name, t.ok])).toEqual([['grammar: parse a program', true]]);
  const { out, io } = capture();
  expect(printReport(report, io, false)).toBe(1);
  expect(out.stderr).toBe(`error: ${message}\n`);
  expect(out.stdout).toContain('CUDA       unknown (the addon did not load)');
  expect(out.stdout).toContain('NCCL       unknown (the addon did not load)');
  expect(`${out.stdout}${out.stderr}`).not.toMatch(/\n\s+at /);
  const json = capture();
  expect(printReport(report, json.io, true)).toBe(1);
  expect(JSON.parse(json.out.stdout).addon.error).toBe(message);
});

test('an addon built before buildInfo() existed is reported as out of date, with the rebuild command', async () => {
  const report = await doctorReport({ load: () => ({}) as NativeAddon });
  expect(report.ok).toBe(false);
  expect(report.addon.error).toMatch(/out of date; rebuild it with `npm run build`$/);
});

test('usage errors exit 2 (one JSON document with --json), and --help documents the flags', async () => {
  const bogus = await runMain('doctor', '--bogus', '--json');
  expect(bogus.code).toBe(2);
  expect(JSON.parse(bogus.stdout)).toEqual({
    error: { code: 'usage', message: 'unknown option --bogus', line: null, column: null },
  });
  expect((await runMain('doctor', 'extra')).code).toBe(2);
  const help = await runMain('doctor', '--help');
  expect(help.stdout).toContain('neuralc doctor [--json]');
  expect((await runMain('--help')).stdout).toContain('neuralc doctor [--json]');
});

test('the CLI as a child process: exit 0 and one JSON document on stdout', () => {
  const r = spawnSync(process.execPath, cliArgs('doctor', '--json'), { encoding: 'utf8', timeout: 120_000 });
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout).ok).toBe(true);
}, 120_000);
