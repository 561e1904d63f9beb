#include "tensor.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/core/Generator.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <cstdlib>

#include "allocator.h"
#include "errors.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace nc {

bool cuda_available() { return at::globalContext().hasCUDA(); }

c10::Device parse_device(const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    throw Error("unknown device '" + name + "': use 'cpu' or 'cuda' (optionally 'cuda:N')");
  }
  if (device.is_cpu()) return device;
  if (!device.is_cuda()) throw Error("unsupported device '" + name + "': use 'cpu' or 'cuda'");
  const auto& cuda = at::detail::getCUDAHooks();
  if (!cuda.isBuilt())
    throw Error("device '" + name +
                "' was requested, but this build of libtorch has no CUDA support. To use a GPU, rebuild against a CUDA "
                "libtorch: `NC_TORCH=cuda npm install` (PyTorch 2.14.1 with CUDA 13, fetched with pip), or "
                "LIBTORCH=/path/to/libtorch-cuda npm run build. Use device 'cpu' meanwhile.");
  const int64_t count = cuda.deviceCount();
  if (count == 0)
    throw Error("device '" + name +
                "' was requested: this build has CUDA, but no CUDA device is visible (no GPU, no NVIDIA driver, "
                "or CUDA_VISIBLE_DEVICES hides them; `nvidia-smi` shows what the driver sees). Use device 'cpu' "
                "meanwhile.");
  if (device.has_index() && device.index() >= count)
    throw Error("device '" + name + "' does not exist: " + std::to_string(count) + " CUDA device" +
                (count == 1 ? " is" : "s are") + " visible (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
  return device;
}

c10::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return c10::kFloat;
  if (name == "float64") return c10::kDouble;
  throw Error("unknown dtype '" + name + "': use 'float32' or 'float64'");
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat:
      return "float32";
    case c10::kDouble:
      return "float64";
    case c10::kBool:
      return "bool";
    case c10::kLong:
      return "int64";
    default:
      return c10::toString(t);
  }
}

std::string device_name(const c10::Device& d) { return d.str(); }

static at::TensorOptions options(c10::ScalarType dtype, const c10::Device& device) {
  return at::TensorOptions().dtype(dtype).device(device);
}

at::Tensor from_host(const void* data, c10::ScalarType src, const Shape& shape, c10::ScalarType dtype,
                     const c10::Device& device) {
  // from_blob borrows the host memory; to() with copy=true makes the tensor own its data.
  auto view = at::from_blob(const_cast<void*>(data), shape, at::TensorOptions().dtype(src));
  return view.to(options(dtype, device), /*non_blocking=*/false, /*copy=*/true);
}

at::Tensor borrow_host(void* data, c10::ScalarType dtype, const Shape& shape) {
  return at::from_blob(data, shape, at::TensorOptions().dtype(dtype));
}

at::Tensor full(const Shape& shape, double value, c10::ScalarType dtype, const c10::Device& device) {
  return at::full(shape, value, options(dtype, device));
}

at::Tensor randn(const Shape& shape, std::optional<uint64_t> seed, c10::ScalarType dtype, const c10::Device& device) {
  if (!seed) return at::randn(shape, options(dtype, device));
  // Drawn on the CPU so that a seed gives the same numbers on every device.
  auto gen = at::detail::createCPUGenerator(*seed);
  return at::randn(shape, gen, options(dtype, c10::kCPU)).to(device);
}

void manual_seed(uint64_t seed) { at::manual_seed(seed); }

at::Tensor to_host(const at::Tensor& t) { return t.detach().to(c10::kCPU).contiguous(); }

void set_num_threads(int n) {
  if (n < 1 || n > 1024) throw Error("setNumThreads takes a whole number from 1 to 1024, got " + std::to_string(n));
  at::set_num_threads(n);
}

int num_threads() { return at::get_num_threads(); }

void init_runtime() {
  // A static's initialiser runs once even when several Node workers load the addon at the same time.
  static const bool done = [] {
    at::set_num_threads(1);
    // NC_MALLOC_DEFAULTS=1 keeps glibc's and libtorch's own allocation, for comparison.
    if (std::getenv("NC_MALLOC_DEFAULTS") != nullptr) return true;
#if defined(__GLIBC__)
    // glibc raises its mmap threshold as large blocks are freed, after which a training loop's
    // intermediates of many sizes came from the heap and fragmented it (an MLP fit grew to 24 GB).
    // Tensors now take their blocks from native/allocator.h, so the heap serves JS arrays and native
    // buffers. Fixed thresholds keep that predictable: blocks up to 32 MB (glibc's largest) come
    // from the heap and are reused resident, rather than mapped and page-faulted afresh on every
    // call, and up to 64 MB freed at the heap's top stays for reuse (emptyCpuCache() trims it).
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
    install_cpu_allocator();
    return true;
  }();
  (void)done;
}

}  // namespace nc
