// The fused plans as CUDA C (native/fused_cuda_source.cpp, issue 18). Every build: the source of the
// Feynman equations' plans is read, and its kernels are run on the host (the source compiled by g++ with
// CUDA's few built-ins emulated, one thread per block, so the grid-stride loops, the reverse sweep and the
// per-block atomicAdd run; the shared-memory halving of the block sums needs a GPU) against libtorch's
// unfused values and gradients in float64 and float32, on 13 of the 15 equations (two are one op). On a CUDA build, NVRTC compiles every plan to PTX, which needs no GPU; on a CPU
// build that part is skipped with a note.
import { spawnSync } from 'child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import os from 'os';
import path from 'path';
import { compile, tensor, type DType, type Module } from '../src';
import type { FusedNode, IrGraph, IrNode, LeafNode } from '../src/compiler/ir';
import { applyPointwise, op } from '../src/ops';
import { CUDA_KERNELS, cudaCompilePtx, fusedCudaSource, fusedPlans, type FusedCudaPlan } from '../src/runtime/cuda';
import { cudaBuilt } from './helpers/cuda';
import { FEYNMAN, declaredNames, feynmanSource, uniform } from './helpers/feynman';

const N = 1000;
const PARAM = 2;

interface Equation {
  name: string;
  build: (fuse: boolean, dtype: DType) => Module;
  inputs: string[];
}

const EQUATIONS: Equation[] = FEYNMAN.map((name) => {
  const source = feynmanSource(name);
  const { inputs, params } = declaredNames(source);
  const scalars = Object.fromEntries(inputs.map((i) => [i, 'scalar' as const]));
  const paramValues = Object.fromEntries(params.map((p) => [p, PARAM]));
  return {
    name,
    inputs,
    build: (fuse, dtype) => compile(source, { inputs: scalars, params: paramValues, dtype, fuse, tier: false }),
  };
});

/** The k-th input's samples. */
const inputData = (k: number) => uniform(N, k + 7);

// Hooke's law and Planck's relation are one multiplication each: nothing to fuse.
const FUSED = EQUATIONS.filter((eq) => !['hooke', 'planck'].includes(eq.name));

/** A per-call argument of a fused node (params, constants and ops on them) in float64, by the registry's semantics. */
function perCallValue(nodes: IrNode[], k: number): number {
  const n = nodes[k];
  if (n.op === 'param') return PARAM;
  if (n.op === 'const') return n.data[0];
  const def = op(n.op);
  if (n.batched || !def) throw new Error(`unexpected fused argument ${n.op}`);
  return applyPointwise(
    def,
    n.args.map((a) => perCallValue(nodes, a)),
    n.attrs,
  );
}

/** The module's batched graph, its whole program one fused node over inputs, params and constants. */
function fusedProgram(eq: Equation, dtype: DType): { graph: IrGraph; node: FusedNode; args: IrNode[] } | undefined {
  const m = eq.build(true, dtype);
  const feed = Object.fromEntries(eq.inputs.map((name, k) => [name, tensor(inputData(k), { shape: [N], dtype })]));
  m.forward(feed).dispose();
  const graph = m.graph!;
  m.dispose();
  const main = graph.regions[0];
  const node = main.nodes[main.results[0]];
  if (node.op !== 'fused') return undefined;
  return { graph, node, args: node.args.map((a) => main.nodes[a]) };
}

/** Values and gradients from libtorch's unfused kernels and autograd, with `weights` as the upstream gradient. */
function reference(eq: Equation, dtype: DType, weights: Float64Array | undefined) {
  const m = eq.build(false, dtype);
  const leaves = eq.inputs.map((_n, k) => tensor(inputData(k), { shape: [N], dtype, requiresGrad: true }));
  const out = m.forward(Object.fromEntries(eq.inputs.map((name, k) => [name, leaves[k]])));
  if (weights) {
    const w = tensor(weights, { shape: [N], dtype });
    out.backward(w);
    w.dispose();
  } else {
    const total = out.sum();
    total.backward();
    total.dispose();
  }
  const r = {
    value: Array.from(out.toTypedArray()),
    inputs: Object.fromEntries(eq.inputs.map((name, k) => [name, Array.from(leaves[k].grad!.toTypedArray())])),
    params: Object.fromEntries(Object.entries(m.namedParameters()).map(([name, p]) => [name, p.grad!.item()])),
  };
  for (const t of [out, ...leaves]) t.dispose();
  m.dispose();
  return r;
}

// CUDA's built-ins for one thread per block: blocks run one after another, so the grid-stride loops
// and the per-block reductions run as written (the reduction's other slots stay zero).
const EMULATION = `#include <math.h>
#include <cstdio>
struct Dim3 { unsigned x; };
static Dim3 blockIdx{0}, blockDim{1}, threadIdx{0}, gridDim{3};
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static
inline void __syncthreads() {}
template <class T> T atomicAdd(T* p, T v) { T old = *p; *p += v; return old; }
`;

const cArray = (name: string, ctype: string, values: ArrayLike<number>) =>
  `static ${ctype} ${name}[] = {${Array.from(values, (v) => v.toPrecision(17)).join(',')}};\n`;

/** Runs the plan's kernels on the host: the forward result, then every input's gradient, one per line. */
function runOnHost(plan: FusedCudaPlan, data: Float64Array[], upstream: Float64Array): number[][] {
  const ctype = plan.dtype === 'float64' ? 'double' : 'float';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nc-cuda-host-'));
  try {
    const ins = data.map((_d, k) => `in${k}`);
    let main = `int main() {\n  const long long n = ${N};\n  static ${ctype} out[${N}];\n`;
    const grads = plan.wanted.map((_w, k) => `grad${k}`);
    plan.broadcast.forEach((b, k) => (main += `  static ${ctype} grad${k}[${b ? 1 : N}];\n`));
    const launch = (kernel: string, args: string[]) =>
      `  for (unsigned b = 0; b < gridDim.x; ++b) { blockIdx.x = b; ${kernel}(${['n', ...args].join(', ')}); }\n`;
    main += launch(CUDA_KERNELS.forward, [...ins, 'out']);
    main += launch(CUDA_KERNELS.backward, [...ins, 'upstream', ...grads]);
    const print = (name: string, count: number) =>
      `  for (int i = 0; i < ${count}; ++i) std::printf("%.17g ", (double)${name}[i]);\n  std::printf("\\n");\n`;
    main += print('out', N);
    plan.broadcast.forEach((b, k) => (main += print(`grad${k}`, b ? 1 : N)));
    main += '  return 0;\n}\n';
    const arrays = data.map((d, k) => cArray(`in${k}`, ctype, d)).join('') + cArray('upstream', ctype, upstream);
    writeFileSync(path.join(dir, 'kernel.cu'), fusedCudaSource(plan));
    writeFileSync(path.join(dir, 'host.cpp'), `${EMULATION}#include "kernel.cu"\n${arrays}${main}`);
    const built = spawnSync('g++', ['-O1', '-std=c++17', '-o', path.join(dir, 'host'), path.join(dir, 'host.cpp')], {
      encoding: 'utf8',
    });
    if (built.status !== 0) throw new Error(`the generated source does not compile on the host:\n${built.stderr}`);
    const ran = spawnSync(path.join(dir, 'host'), { encoding: 'utf8' });
    return ran.stdout
      .trim()
      .split('\n')
      .map((line) => line.trim().split(' ').map(Number));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function expectClose(got: number[], want: number[], tolerance: number, what: string) {
  expect(got.length).toBe(want.length);
  let worst = 0;
  got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - want[i]) / Math.max(Math.abs(want[i]), 1e-3))));
  if (!(worst <= tolerance)) throw new Error(`${what}: worst relative difference ${worst} > ${tolerance}`);
}

describe.each([
  ['float64', 1e-12, 1e-10],
  ['float32', 2e-5, 2e-4],
] as const)('%s: the kernels run on the host against libtorch', (dtype, tolerance, sumTolerance) => {
  test.each(FUSED.map((eq) => [eq.name, eq] as const))('%s', (_name, eq) => {
    const fused = fusedProgram(eq, dtype);
    if (!fused) throw new Error(`${eq.name} did not compile to one fused node`);
    const { graph, node, args } = fused;
    // A full upstream gradient for float64, a sum's (one value) for float32: both forms of the backward kernel.
    const weighted = dtype === 'float64';
    const weights = weighted ? uniform(N, 99) : undefined;
    const plan = { ...fusedPlans(graph, dtype).find((p) => p.steps === node.steps)!, gradBroadcast: !weighted };
    const data = node.args.map((a, k) =>
      args[k].op === 'input'
        ? inputData(eq.inputs.indexOf(graph.inputs[(args[k] as LeafNode).index].name))
        : Float64Array.of(perCallValue(graph.regions[0].nodes, a)),
    );
    const [value, ...grads] = runOnHost(plan, data, weights ?? Float64Array.of(1));
    const want = reference(eq, dtype, weights);
    expectClose(value, want.value, tolerance, 'value');
    // A computed per-call argument ((- 0 m), say) has no reference gradient of its own, and a param that
    // also feeds one gets part of its gradient through it: only params used directly alone are compared.
    const throughComputed = new Set(args.flatMap((a) => (a.op === 'input' || a.op === 'param' ? [] : a.args)));
    args.forEach((a, k) => {
      if (a.op === 'input') expectClose(grads[k], want.inputs[graph.inputs[a.index].name], tolerance, `d/d input ${k}`);
      if (a.op === 'param' && !throughComputed.has(node.args[k]))
        expectClose(grads[k], [want.params[graph.params[a.index].name]], sumTolerance, 'd/d param');
    });
  });
});

describe('the source', () => {
  const plan = (steps: FusedNode['steps'], broadcast: boolean[], wanted: boolean[]): FusedCudaPlan => ({
    numInputs: broadcast.length,
    steps,
    dtype: 'float32',
    broadcast,
    wanted,
    gradBroadcast: true,
  });

  test('one statement per step; a broadcast operand read at 0; no backward kernel when no gradient is wanted', () => {
    const source = fusedCudaSource(
      plan(
        [
          { op: 'sin', args: [0], attrs: [] },
          { op: '*', args: [1, 2], attrs: [] },
        ],
        [true, false],
        [false, false],
      ),
    );
    expect(source).toContain('typedef float T;');
    expect(source).toContain('const T v0 = in0[0];');
    expect(source).toContain('const T v1 = in1[i];');
    expect(source).toContain('const T v2 = nc_sin(v0);');
    expect(source).toContain('const T v3 = (v1 * v2);');
    expect(source).toContain('out[i] = v3;');
    expect(source).not.toContain(CUDA_KERNELS.backward);
  });

  test('the reverse sweep only for values that lead to a wanted input; broadcast gradients summed per block', () => {
    const source = fusedCudaSource(
      plan(
        [
          { op: 'exp', args: [1], attrs: [] },
          { op: '*', args: [0, 2], attrs: [] },
        ],
        [true, false],
        [true, false],
      ),
    );
    // d/d in1 is not wanted: exp's adjoint is never formed.
    expect(source).toContain('g0 += (g3 * v2);');
    expect(source).not.toMatch(/g2 \+=|g1 \+=/);
    expect(source).toContain('const T g3 = grad_out[0];');
    expect(source).toContain('atomicAdd(grad0, partial[0]);');
    expect(source).not.toContain('grad1');
  });

  test('pow with an exponent known at compile time: the literal, so the kernel folds its case', () => {
    const source = fusedCudaSource(plan([{ op: 'pow-scalar', args: [0], attrs: [2.5] }], [false], [true]));
    expect(source).toContain('nc_pow(v0, T(2.5))');
    expect(source).toContain('grad0[i] = g0;');
    for (const e of [Infinity, NaN])
      expect(fusedCudaSource(plan([{ op: 'pow-scalar', args: [0], attrs: [e] }], [false], [false]))).toMatch(
        /nc_pow\(v0, T\(\((-?1|0)\.0 \/ 0\.0\)\)\)/,
      );
  });

  test('a step the fused kernels lack is an Error, not a kernel', () => {
    expect(() => fusedCudaSource(plan([{ op: 'floor', args: [0], attrs: [] }], [false], [false]))).toThrow(
      /op 'floor' with 1 arguments and 0 attributes cannot be fused/,
    );
  });
});

const onCudaBuild = cudaBuilt() ? describe : describe.skip;
if (!cudaBuilt())
  // eslint-disable-next-line no-console
  console.info('fused-cuda: NVRTC checks skipped: this build has no CUDA (NC_TORCH=cuda npm install makes one)');

onCudaBuild('NVRTC compiles every plan to PTX (no GPU needed)', () => {
  // A disk cache of the tests' own, not the user's.
  const cache = mkdtempSync(path.join(os.tmpdir(), 'nc-cuda-cache-'));
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  test.each(FUSED.map((eq) => [eq.name, eq] as const))('%s', (_name, eq) => {
    for (const dtype of ['float32', 'float64'] as const) {
      const fused = fusedProgram(eq, dtype)!;
      for (const plan of fusedPlans(fused.graph, dtype)) {
        const { ptx, architecture, nvrtcVersion } = cudaCompilePtx(fusedCudaSource(plan), 0, 'off');
        expect(architecture).toMatch(/^compute_\d+$/);
        expect(nvrtcVersion).toBeGreaterThanOrEqual(13000);
        expect(ptx).toContain(`.entry ${CUDA_KERNELS.forward}`);
        expect(ptx).toContain(`.entry ${CUDA_KERNELS.backward}`);
        expect(ptx).toContain(dtype === 'float64' ? '.f64' : '.f32');
      }
    }
  });

  test('PTX is kept on disk by source, architecture and NVRTC version; a damaged entry is compiled again', () => {
    const source = fusedCudaSource({
      numInputs: 2,
      steps: [
        { op: 'tanh', args: [0], attrs: [] },
        { op: '*', args: [2, 1], attrs: [] },
      ],
      dtype: 'float64',
      broadcast: [false, true],
      wanted: [true, true],
      gradBroadcast: false,
    });
    const first = cudaCompilePtx(source, 0, cache);
    const file = readdirSync(cache).find((f) => readFileSync(path.join(cache, f), 'utf8').includes(first.ptx))!;
    expect(file).toMatch(new RegExp(`^[0-9a-f]{16}-${first.architecture}-${first.nvrtcVersion}\\.ptx$`));
    const again = cudaCompilePtx(source, 0, cache);
    expect(again).toEqual({ ...first, log: '', fromDisk: true });
    writeFileSync(path.join(cache, file), '// nc-kernel 0 damaged\n.version 0.0\n');
    const rebuilt = cudaCompilePtx(source, 0, cache);
    expect(rebuilt.fromDisk).toBe(false);
    expect(rebuilt.ptx).toBe(first.ptx);
    expect(cudaCompilePtx(source, 0, cache).fromDisk).toBe(true);
    expect(cudaCompilePtx(source, 0, 'off').fromDisk).toBe(false);
  });

  test('a source that does not compile is an Error with NVRTC log', () => {
    expect(() => cudaCompilePtx('extern "C" __global__ void k() { undefined_name(); }', 0, 'off')).toThrow(
      /undefined_name/,
    );
  });
});
