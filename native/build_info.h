// What the addon was built against and what it runs on, for `neuralc doctor`. Plain libtorch, no Node.
#pragma once
#include <string>

namespace nc {

struct BuildInfo {
  /** TORCH_VERSION of the headers the addon was compiled against. */
  std::string compiled_torch_version;
  /** The version the loaded libtorch states in its build settings; empty when it states none. */
  std::string loaded_torch_version;
  /** The file the loaded libtorch_cpu was mapped from; empty when the loader cannot tell. */
  std::string libtorch_path;
  /** The loaded libtorch has CUDA compiled in (its CUDA hooks are registered). */
  bool cuda_built;
  /** CUDA devices visible now (0 on a build without CUDA, or with no device or driver). */
  int cuda_devices;
  /** libtorch's intra-op threads (1 unless setNumThreads changed it). */
  int threads;
  /** The NCCL libtorch_cuda loaded, as it reports it; empty in a build without NCCL (distributed.h). */
  std::string nccl_version;
};

BuildInfo build_info();

}  // namespace nc
