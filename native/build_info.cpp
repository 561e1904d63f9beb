#include "build_info.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>
#include <torch/version.h>

#include "distributed.h"

namespace nc {
namespace {

// The headers' TORCH_VERSION is only what the addon was compiled against; the loaded library's own
// version is in show_config()'s "Build settings" line, e.g. "..., TORCH_VERSION=2.13.0, ...".
std::string loaded_torch_version() {
  const std::string config = at::show_config();
  const std::string key = "TORCH_VERSION=";
  auto start = config.find(key);
  if (start == std::string::npos) return "";
  start += key.size();
  return config.substr(start, config.find_first_of(", \n", start) - start);
}

// The shared object that defines one of libtorch_cpu's functions is the one the loader picked.
std::string libtorch_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&at::get_num_threads), &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

}  // namespace

BuildInfo build_info() {
  const auto& cuda = at::detail::getCUDAHooks();
  const bool cuda_built = cuda.isBuilt();
  return {TORCH_VERSION,
          loaded_torch_version(),
          libtorch_path(),
          cuda_built,
          cuda_built ? static_cast<int>(cuda.deviceCount()) : 0,
          at::get_num_threads(),
          nccl_version()};
}

}  // namespace nc
