// The fused elementwise plan on CUDA devices: its kernels (native/fused_cuda_source.cpp) compiled at run
// time by NVRTC, cached per source and architecture in memory and on disk, and launched on the current
// stream. On a build without CUDA these report that and never run (no tensor can be on a CUDA device).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <optional>
#include <string>
#include <vector>

#include "fused.h"

namespace nc {

/** Whether the CUDA kernels take these inputs: float32 or float64 on one CUDA device, full tensors of one size and
 * single elements. */
bool cuda_fusable(c10::ArrayRef<at::Tensor> inputs);

/** The program's result, by the forward kernel. */
at::Tensor cuda_fused_forward(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs);

/** The wanted inputs' gradients (undefined for the others) for the upstream gradient grad_out, by the backward kernel.
 */
std::vector<at::Tensor> cuda_fused_backward(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs,
                                            const at::Tensor& grad_out, const std::vector<char>& wanted);

struct CudaPtx {
  std::string ptx;
  std::string log;           // NVRTC's messages (warnings), empty when it had none
  std::string architecture;  // compute_XY
  int nvrtc_version = 0;     // major * 1000 + minor * 10, as CUDA_VERSION
  bool from_disk = false;    // read from the disk cache, not compiled now
};

/**
 * CUDA C to PTX for compute_<arch> with NVRTC, which needs no device or driver (arch 0: the oldest
 * architecture this NVRTC supports), through a disk cache: `cache_dir`, else the kernels' own
 * ($NC_CUDA_CACHE, else ~/.cache/neural-compiler/cuda-kernels); "off" bypasses it. Throws with NVRTC's
 * log when the source does not compile, and when this build has no CUDA or NVRTC cannot be loaded.
 */
CudaPtx cuda_compile_ptx(const std::string& source, int arch, const std::optional<std::string>& cache_dir);

}  // namespace nc
