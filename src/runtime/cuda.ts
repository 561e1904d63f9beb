// The fused CUDA kernels seen from TypeScript: a fused node of an op graph as the plan the native
// source generator takes (native/fused_cuda_source.cpp), its CUDA C, and NVRTC's PTX for it. Used by
// `neuralc doctor` (the PTX self-test, which needs no GPU) and by the tests that read the source.
import type { FusedNode, IrGraph } from '../compiler/ir';
import { native } from './native';

/** The kernels' names in every source (native/fused_cuda_source.h). */
export const CUDA_KERNELS = { forward: 'nc_fused_forward', backward: 'nc_fused_backward' } as const;

export interface FusedCudaPlan {
  numInputs: number;
  steps: FusedNode['steps'];
  dtype: 'float32' | 'float64';
  /** Per input: one value for every element (a per-call scalar), else one per element. */
  broadcast: boolean[];
  /** Per input: the backward kernel writes its gradient (none: no backward kernel). */
  wanted: boolean[];
  /** The upstream gradient is one value, as a sum's is. */
  gradBroadcast: boolean;
}

export interface CudaPtx {
  ptx: string;
  /** NVRTC's messages; empty when it had none. */
  log: string;
  /** compute_XY */
  architecture: string;
  /** major * 1000 + minor * 10 */
  nvrtcVersion: number;
  /** Read from the disk cache ($NC_CUDA_CACHE, else ~/.cache/neural-compiler/cuda-kernels), not compiled now. */
  fromDisk: boolean;
}

/**
 * Every fused node of a graph as a plan: batched arguments are read per element, the others are
 * broadcast; `wanted` chooses gradients (by default every input's, the backward kernel's widest form).
 */
export function fusedPlans(
  graph: IrGraph,
  dtype: FusedCudaPlan['dtype'],
  wanted: (node: FusedNode, arg: number) => boolean = () => true,
): FusedCudaPlan[] {
  return graph.regions.flatMap((region) =>
    region.nodes.flatMap((node) =>
      node.op !== 'fused'
        ? []
        : [
            {
              numInputs: node.args.length,
              steps: node.steps,
              dtype,
              broadcast: node.args.map((a) => !region.nodes[a].batched),
              wanted: node.args.map((_a, k) => wanted(node, k)),
              gradBroadcast: false,
            },
          ],
    ),
  );
}

/** The plan's kernels as CUDA C (any build: the generator is plain C++). */
export const fusedCudaSource = (plan: FusedCudaPlan): string => native().fusedCudaSource(plan);

/**
 * CUDA C to PTX with NVRTC (arch 0: the oldest it supports). Needs a CUDA build, not a device. Through
 * a disk cache: `cacheDir`, else the kernels' own ($NC_CUDA_CACHE as the process started, else
 * ~/.cache/neural-compiler/cuda-kernels); 'off' bypasses it.
 */
export const cudaCompilePtx = (source: string, arch = 0, cacheDir?: string): CudaPtx =>
  native().cudaCompilePtx(source, arch, cacheDir);
