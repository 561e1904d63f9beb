// `neuralc doctor`'s facts and self-test: what a user runs when something is wrong or slow. Every
// fact is gathered so that one failure (an addon that does not load) leaves the others readable.
import os from 'os';
import path from 'path';
import { compile } from '../api';
import { parseTree } from '../frontend';
import { CUDA_KERNELS, cudaCompilePtx, fusedCudaSource, fusedPlans } from '../runtime/cuda';
import { ADDON_PATH, native, type CpuMemoryStats, type NativeAddon } from '../runtime/native';
import type { Device } from '../runtime/tensor';
import { freePort } from '../train/distributed';
import { fit } from '../train/fit';
import { fitAddon } from '../train/native-fit';

/** One place scripts/libtorch.js looks for libtorch before fetching it, in its order. */
export interface LibtorchPlace {
  source: string;
  dir: string;
  found: boolean;
}

export interface SelfTest {
  name: string;
  ok: boolean;
  ms: number;
  error: string | null;
  /** Why it did not run (not applicable to this build); it then counts as ok. */
  skipped?: string;
}

export interface SelfTestCheck {
  name: string;
  run: () => void | Promise<void>;
}

export interface DoctorReport {
  /** Every self-test passed and the addon loaded. */
  ok: boolean;
  node: { version: string; napi: string; platform: string; arch: string; cores: number };
  addon: { path: string; loaded: boolean; error: string | null };
  libtorch: {
    /** What the addon was compiled against (null: the addon did not load). */
    compiledVersion: string | null;
    loadedVersion: string | null;
    /** The libtorch_cpu shared library the loader picked. */
    loadedFrom: string | null;
    /** Where `npm run build` looks, in order ($LIBTORCH alone when set), and the folder it would use. */
    searchPath: LibtorchPlace[];
    buildWouldUse: string | null;
    /** Why the search path cannot be listed (an unknown NC_TORCH); null when it can. */
    searchError: string | null;
  };
  cuda: { built: boolean; devices: number; summary: string } | null;
  /** NCCL, the 'nccl' backend of distributed fits: built into the addon, and the version libtorch_cuda loaded. */
  nccl: { built: boolean; version: string | null; summary: string } | null;
  /** libtorch's intra-op threads (setNumThreads; 1 by default). */
  threads: number | null;
  /** The caching CPU allocator's figures; null when NC_MALLOC_DEFAULTS keeps libtorch's own. */
  allocator: CpuMemoryStats | null;
  /** The variables that change how the addon is built or behaves, as set now. */
  environment: Record<string, string>;
  selfTest: SelfTest[];
}

const ENVIRONMENT = /^(LIBTORCH|NC_[A-Z_]+|XDG_CACHE_HOME|OMP_NUM_THREADS|CUDA_VISIBLE_DEVICES)$/;

const libtorchScript = (): { searchPath: () => LibtorchPlace[] } =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(path.join(__dirname, '..', '..', 'scripts', 'libtorch.js'));

function cudaSummary(built: boolean, devices: number): string {
  if (!built) return 'this build has no CUDA (a CPU-only libtorch)';
  return devices === 0 ? 'CUDA build, no device visible' : `CUDA build, ${devices} device(s) visible`;
}

function ncclSummary(cudaBuilt: boolean, version: string | null): string {
  if (version) return `NCCL ${version}, loaded with libtorch_cuda (distributed fits' 'nccl' backend)`;
  if (!cudaBuilt) return "no NCCL: this build has no CUDA (distributed fits use 'gloo')";
  return "not built: NCCL's or CCCL's headers were missing when the addon was built (reinstall with NC_TORCH=cuda npm install)";
}

async function timed(check: SelfTestCheck): Promise<SelfTest> {
  const start = performance.now();
  const ms = () => Math.round((performance.now() - start) * 100) / 100;
  try {
    await check.run();
    return { name: check.name, ok: true, ms: ms(), error: null };
  } catch (err) {
    return { name: check.name, ok: false, ms: ms(), error: (err as Error).message };
  }
}

/** Throws unless every value is within float32 rounding of its float64 reference. */
function expectClose(what: string, got: ArrayLike<number>, want: number[]): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, expected ${want.length}`);
  want.forEach((w, i) => {
    if (!(Math.abs(got[i] - w) <= 1e-5 * Math.max(1, Math.abs(w))))
      throw new Error(`${what}[${i}] is ${got[i]}, expected ${w} (computed in float64)`);
  });
}

// y = a sin(x) with a = 1.5: small enough to check by hand in JS float64.
const PROGRAM = '(* a (sin x))';
const A = 1.5;
const XS = [-1, 0.25, 0.5, 2, 3];

function checkForwardBackward(device: Device): void {
  const module = compile(PROGRAM, { params: { a: A }, device });
  try {
    const y = module.forward({ x: XS }, { batch: true });
    const total = y.sum();
    total.backward();
    expectClose(
      'forward',
      y.toTypedArray(),
      XS.map((x) => A * Math.sin(x)),
    );
    const grad = module.namedParameters().a.grad;
    if (!grad) throw new Error('backward left no gradient on the parameter a');
    expectClose('d(sum y)/da', grad.toTypedArray(), [XS.reduce((s, x) => s + Math.sin(x), 0)]);
    for (const t of [y, total, grad]) t.dispose();
  } finally {
    module.dispose();
  }
}

/** Fits k in k x to data of 3 x: L-BFGS must converge to 3. */
async function checkFit(device: Device): Promise<void> {
  const module = compile('(* k x)', { params: { k: 1 }, device });
  try {
    const xs = [1, 2, 3, 4];
    const result = await fit(module, { inputs: { x: xs }, target: xs.map((x) => 3 * x) }, { epochs: 50 });
    const k = result.params.k as number;
    if (!result.converged) throw new Error(`fit did not converge (stopped: ${result.stopReason}, k = ${k})`);
    expectClose('fitted k', [k], [3]);
  } finally {
    module.dispose();
  }
}

/**
 * c10d as distributed fits use it: a one-rank fit over 127.0.0.1 with the backend on the device (Gloo
 * on the CPU, after checking its layout as the addon declares it; NCCL on a CUDA device).
 */
async function checkDistributed(backend: 'gloo' | 'nccl', device: Device): Promise<void> {
  const problem = backend === 'gloo' ? fitAddon().glooLayoutProblem() : '';
  if (problem) throw new Error(`ProcessGroupGloo does not match the addon's declarations: ${problem}`);
  const init = `tcp://127.0.0.1:${await freePort()}`;
  const module = compile('(* k x)', { params: { k: 1 }, device });
  try {
    const xs = [1, 2, 3, 4];
    const data = { inputs: { x: xs }, target: xs.map((x) => 3 * x) };
    const distributed = { rank: 0, worldSize: 1, init, timeout: 20, backend };
    const result = await fit(module, data, { epochs: 50, distributed });
    expectClose('k fitted over c10d', [result.params.k as number], [3]);
  } finally {
    module.dispose();
  }
}

function checkTierValueAndGrad(): void {
  const module = compile(PROGRAM, { params: { a: A } });
  try {
    if (module.singleSampleTier() === undefined) throw new Error('the program did not reach the small-program tier');
    const x = 0.7;
    const { value, grads } = module.valueAndGrad({ x }, { wrt: ['x'] });
    expectClose('value', [value as number], [A * Math.sin(x)]);
    expectClose('grads', [grads.a as number, grads.x as number], [Math.sin(x), A * Math.cos(x)]);
  } finally {
    module.dispose();
  }
}

function checkGrammar(): void {
  const tree = parseTree('(define (f x) (* 2 x)) (f 3)');
  if (/ERROR|MISSING/.test(tree)) throw new Error(`the grammar misread a valid program: ${tree}`);
}

const GRAMMAR_CHECK: SelfTestCheck = { name: 'grammar: parse a program', run: checkGrammar };

/** The checks that need the addon: compile, run, backward and a fit on each device, the tier, c10d. */
function addonChecks(devices: Device[], nccl: boolean): SelfTestCheck[] {
  return [
    ...devices.flatMap((device) => [
      { name: `compile, forward a batch, backward (${device})`, run: () => checkForwardBackward(device) },
      { name: `fit one constant (${device})`, run: () => checkFit(device) },
    ]),
    { name: 'valueAndGrad on the small-program tier (cpu)', run: checkTierValueAndGrad },
    { name: 'distributed: a one-rank fit over c10d (Gloo, 127.0.0.1)', run: () => checkDistributed('gloo', 'cpu') },
    ...(nccl && devices.length > 1
      ? [
          {
            name: 'distributed: a one-rank fit over c10d (NCCL, cuda:0)',
            run: () => checkDistributed('nccl', 'cuda:0'),
          },
        ]
      : []),
  ];
}

/**
 * On a CUDA build: NVRTC compiles the fused kernels (forward and backward) of PROGRAM's batched graph
 * to PTX. It needs no GPU or driver, so it runs wherever the build has CUDA.
 */
function checkNvrtc(): void {
  const module = compile(PROGRAM, { params: { a: A } });
  try {
    module.forward({ x: XS }, { batch: true }).dispose();
    const plans = module.graph ? fusedPlans(module.graph, 'float32') : [];
    if (plans.length === 0) throw new Error(`${PROGRAM} compiled to no fused node`);
    const { ptx, architecture } = cudaCompilePtx(fusedCudaSource(plans[0]), 0, 'off'); // compiled now, not read back
    for (const kernel of [CUDA_KERNELS.forward, CUDA_KERNELS.backward])
      if (!ptx.includes(`.entry ${kernel}`)) throw new Error(`the PTX for ${architecture} has no kernel ${kernel}`);
  } finally {
    module.dispose();
  }
}

const NVRTC_CHECK = 'NVRTC: compile a fused plan to PTX';

/** A CPU build has no NVRTC: the check is listed as not applicable rather than left out. */
const nvrtcNotApplicable: SelfTest = {
  name: NVRTC_CHECK,
  ok: true,
  ms: 0,
  error: null,
  skipped: 'not applicable: this build has no CUDA',
};

/** The addon, or why it is unusable: a load error, or a build older than buildInfo(). */
function loadAddon(load: () => NativeAddon): { addon: NativeAddon | null; error: string | null } {
  try {
    const addon = load();
    if (typeof addon.buildInfo === 'function') return { addon, error: null };
    return {
      addon: null,
      error: `the native addon at ${ADDON_PATH} is out of date; rebuild it with \`npm run build\``,
    };
  } catch (err) {
    return { addon: null, error: (err as Error).message };
  }
}

function relevantEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => ENVIRONMENT.test(entry[0]) && entry[1] !== undefined,
    ),
  );
}

function buildWouldUse(places: LibtorchPlace[]): string | null {
  return places.find((place) => place.found)?.dir ?? null;
}

export interface DoctorOptions {
  /** The addon loader (tests pass one that fails). */
  load?: () => NativeAddon;
  /** Replaces the self-test's checks (tests pass one that fails). */
  checks?: SelfTestCheck[];
}

export async function doctorReport(options: DoctorOptions = {}): Promise<DoctorReport> {
  const { addon, error } = loadAddon(options.load ?? native);
  const info = addon?.buildInfo() ?? null;
  let searchPath: LibtorchPlace[] = [];
  let searchError: string | null = null;
  try {
    searchPath = libtorchScript().searchPath();
  } catch (err) {
    searchError = (err as Error).message;
  }
  const devices: Device[] = ['cpu', ...Array.from({ length: info?.cudaDevices ?? 0 }, (_, i) => `cuda:${i}` as Device)];
  const nvrtc = info?.cudaBuilt ? [{ name: NVRTC_CHECK, run: checkNvrtc }] : [];
  const ncclVersion = info?.ncclVersion ?? null;
  const checks = options.checks ?? [
    GRAMMAR_CHECK,
    ...(addon ? addonChecks(devices, ncclVersion !== null) : []),
    ...nvrtc,
  ];
  const selfTest: SelfTest[] = [];
  for (const check of checks) selfTest.push(await timed(check));
  if (info && !info.cudaBuilt) selfTest.push(nvrtcNotApplicable);
  return {
    ok: addon !== null && selfTest.every((t) => t.ok),
    node: {
      version: process.version,
      napi: process.versions.napi ?? 'unknown',
      platform: `${process.platform} ${os.release()}`,
      arch: process.arch,
      cores: os.availableParallelism(),
    },
    addon: { path: ADDON_PATH, loaded: addon !== null, error },
    libtorch: {
      compiledVersion: info?.compiledTorchVersion ?? null,
      loadedVersion: info?.loadedTorchVersion ?? null,
      loadedFrom: info?.libtorchPath ?? null,
      searchPath,
      buildWouldUse: buildWouldUse(searchPath),
      searchError,
    },
    cuda: info && {
      built: info.cudaBuilt,
      devices: info.cudaDevices,
      summary: cudaSummary(info.cudaBuilt, info.cudaDevices),
    },
    nccl: info && {
      built: ncclVersion !== null,
      version: ncclVersion,
      summary: ncclSummary(info.cudaBuilt, ncclVersion),
    },
    threads: info?.threads ?? null,
    allocator: addon?.cpuMemoryStats() ?? null,
    environment: relevantEnvironment(),
    selfTest,
  };
}
