// c10d's ProcessGroupNCCL as libtorch_cuda.so exports it, compiled only in builds with NCCL (see
// CMakeLists.txt). Unlike gloo's, NCCL's header ships with the CUDA wheel: nccl.h of the
// nvidia-nccl wheel that torch's metadata pins, the NCCL libtorch_cuda was built with and loads, so
// ProcessGroupNCCL.hpp compiles as it did for libtorch (none of its members depends on a macro).
#include "distributed_nccl.h"

#include <torch/csrc/cuda/nccl.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "distributed.h"

namespace nc {

c10::intrusive_ptr<c10d::Backend> nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                               std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  // The communicator is made at the first collective, on the device of its tensors.
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
}

std::string nccl_version() {
  const uint64_t v = torch::cuda::nccl::version();  // major << 32 | minor << 16 | patch
  return std::to_string(v >> 32) + "." + std::to_string((v >> 16) & 0xffff) + "." + std::to_string(v & 0xffff);
}

}  // namespace nc
