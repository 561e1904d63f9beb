// Loads the native addon once, with an actionable error when it is missing or broken. Everything
// else reaches native code through `native()`, typed by the interface below.
import * as fs from 'fs';
import * as path from 'path';
import type { CudaPtx, FusedCudaPlan } from './cuda';

export type DTypeName = 'float32' | 'float64';

/** The opaque tensor handle the addon hands out. */
export interface NativeTensor {
  shape(): number[];
  dtype(): string;
  device(): string;
  toTypedArray(): Float32Array | Float64Array;
  item(): number;
  requiresGrad(): boolean;
  setRequiresGrad(on: boolean): void;
  backward(grad?: NativeTensor): void;
  grad(): NativeTensor | undefined;
  zeroGrad(): void;
  detach(): NativeTensor;
  /** Copies values of the same shape in, under no-grad (a parameter reset between fits). */
  assign(values: NativeTensor): void;
  to(dtype: string, device: string): NativeTensor;
  reshape(shape: number[]): NativeTensor;
  dispose(): void;
  isDisposed(): boolean;
}

export interface NativeGraph {
  forward(inputs: NativeTensor[], needGrad: boolean): NativeTensor;
  /**
   * The value (written to `out`) and the gradients of its sum, per param (null: none needed or
   * none found) and per wanted input, when the result is a fused node; null otherwise. Inputs are
   * typed arrays of the graph's dtype: `batch` values when batched, else one.
   */
  valueAndSumGrad(
    inputs: (Float32Array | Float64Array)[],
    batched: boolean[],
    batch: number,
    out: Float32Array | Float64Array,
    wanted: boolean[],
  ): { params: (NativeTensor | null)[]; inputs: (NativeTensor | null)[] } | null;
  dispose(): void;
}

/** The caching CPU allocator's figures (native/allocator.h). */
export interface CpuMemoryStats {
  /** Bytes held by live CPU tensors (whole blocks, bookkeeping included). */
  liveBytes: number;
  /** The most liveBytes has been since the last resetCpuPeak() (or since the addon loaded). */
  peakBytes: number;
  /** Bytes of freed blocks kept for reuse. */
  cachedBytes: number;
  /** The most the cache keeps: NC_CPU_CACHE_MB, or the smaller of 512 MiB and an eighth of RAM. */
  cacheLimitBytes: number;
}

/** What the addon was built against and runs on (native/build_info.h). */
export interface NativeBuildInfo {
  /** TORCH_VERSION of the headers the addon was compiled against. */
  compiledTorchVersion: string;
  /** The version the loaded libtorch states; null when it states none. */
  loadedTorchVersion: string | null;
  /** The libtorch_cpu shared library the loader picked; null when it cannot tell. */
  libtorchPath: string | null;
  /** The loaded libtorch has CUDA compiled in. */
  cudaBuilt: boolean;
  /** CUDA devices visible now. */
  cudaDevices: number;
  threads: number;
  /** The NCCL libtorch_cuda loaded (distributed fits' 'nccl' backend); null in a build without NCCL. */
  ncclVersion: string | null;
}

/** A program of the small-program tier (binding/tape_wrap.h): runs on caller-owned typed arrays. */
export interface NativeTape {
  /** On the bound params; the param gradients' sums go to the bound buffer. */
  run(
    inputs: (Float32Array | Float64Array)[],
    batch: number,
    out: Float32Array | Float64Array,
    inputGrads: (Float32Array | Float64Array | null)[],
  ): void;
  /**
   * The single-sample buffers of runBound (one value per input, params, out, param and input
   * gradients). Params: the tape's scalar params, then its weight blocks; paramGrads: one sum per
   * scalar param, then one per weight block element.
   */
  bind(
    inputs: (Float32Array | Float64Array)[],
    params: NativeTensor[],
    out: Float32Array | Float64Array,
    paramGrads: Float64Array,
    inputGrads: (Float32Array | Float64Array)[],
  ): void;
  /** One sample from the bound buffers; bit i of `wanted` asks for input i's gradient. */
  runBound(wanted: number): void;
  /** The program on tensors (per-sample scalars) and the bound params; recorded, with a grad_fn. */
  forward(inputs: NativeTensor[], record: boolean): NativeTensor;
}

export interface NativeAddon {
  NativeTensor: Function;
  NativeTape: new (spec: unknown, dtype: string) => NativeTape;
  NativeGraph: new (
    spec: unknown,
    params: { name: string; tensor: NativeTensor }[],
    dtype: string,
    device: string,
    callables: unknown[],
  ) => NativeGraph;
  fromHost(data: Float32Array | Float64Array, shape: number[], dtype: string, device: string): NativeTensor;
  full(shape: number[], value: number, dtype: string, device: string): NativeTensor;
  randn(shape: number[], seed: number | undefined, dtype: string, device: string): NativeTensor;
  apply(op: string, args: NativeTensor[], attrs?: number[]): NativeTensor;
  kernelNames(): string[];
  setNumThreads(n: number): void;
  /** Tests: the device-agnostic paths of tridiagonal-solve and stencil-step on the CPU too (else their CPU loops). */
  setDevicePathsOnCpu(on: boolean): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  manualSeed(seed: number): void;
  cpuMemoryStats(): CpuMemoryStats | null;
  buildInfo(): NativeBuildInfo;
  emptyCpuCache(): void;
  resetCpuPeak(): void;
  checkDevice(device: string): string;
  fusedCudaSource(plan: FusedCudaPlan): string;
  cudaCompilePtx(source: string, arch: number, cacheDir?: string): CudaPtx;
}

const ROOT = path.resolve(__dirname, '..', '..');
export const ADDON_PATH = path.join(ROOT, 'build', 'Release', 'neural_compiler.node');

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  if (!fs.existsSync(ADDON_PATH)) {
    throw new Error(
      `neural-compiler: the native addon is not built (expected ${ADDON_PATH}).\n` +
        `Run \`npm install\` (or \`npm run build\`) in ${ROOT}; it fetches libtorch and builds the addon.`,
    );
  }
  try {
    addon = require(ADDON_PATH) as NativeAddon;
  } catch (e) {
    throw new Error(
      `neural-compiler: the native addon at ${ADDON_PATH} failed to load: ${(e as Error).message}\n` +
        'It is usually built against a libtorch that moved or was removed. Rebuild it with `npm run build` ' +
        '(set LIBTORCH=/path/to/libtorch to choose a libtorch).',
    );
  }
  return addon;
}
