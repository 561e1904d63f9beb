// A fused elementwise plan as CUDA C source: a forward kernel and a backward kernel, compiled at run
// time by NVRTC (native/fused_cuda.cpp). Plain C++ with no CUDA headers, so every build (CPU ones too)
// can print the source and the tests can read it.
#pragma once
#include <string>
#include <vector>

#include "fused.h"

namespace nc {

/** What a source is specialised for besides the plan: the element type and how each operand is read. */
struct CudaSignature {
  bool is_double = false;
  /** Per input: one value, read at index 0 (a broadcast scalar); otherwise one value per element. */
  std::vector<char> broadcast;
  /** Per input: the backward kernel writes its gradient. */
  std::vector<char> wanted;
  /** The upstream gradient is one value (a sum's, expanded). */
  bool grad_broadcast = false;
};

/** Threads per block of every launch; the backward kernel's reductions assume it. */
constexpr int kCudaThreads = 256;
constexpr const char* kCudaForwardKernel = "nc_fused_forward";
constexpr const char* kCudaBackwardKernel = "nc_fused_backward";

/**
 * The kernels for a program: `nc_fused_forward(n, in..., out)` writes the result; with a wanted input,
 * `nc_fused_backward(n, in..., grad_out, grad...)` recomputes the forward values in registers, runs the
 * reverse sweep and writes each wanted full input's gradient, and adds each wanted broadcast input's
 * (summed over the block, then one atomicAdd per block) into its zeroed one-element gradient. Grid-stride
 * loops over 64-bit indices; values are T (float or double) throughout.
 */
std::string fused_cuda_source(const FusedProgram& program, const CudaSignature& signature);

}  // namespace nc
