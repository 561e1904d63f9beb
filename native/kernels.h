// The native half of the op registry: one kernel per op name the compiler emits. Kernels are
// batch-agnostic torch calls; every decision about shapes and batching is made by the compiler and
// arrives as explicit ops (unsqueeze, expand) or as attributes. Eager tensor arithmetic in the JS
// API runs through the same table.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <string>
#include <vector>

namespace nc {

using Kernel = at::Tensor (*)(c10::ArrayRef<at::Tensor> args, c10::ArrayRef<double> attrs);

// A registry op's kernel k_<id> (native/ops.generated.h names the ids): defined in kernels.cpp or in
// a feature area's file whose header declares it, so the table in kernels.cpp sees every one.
#define NC_KERNEL(id) \
  at::Tensor k_##id([[maybe_unused]] c10::ArrayRef<at::Tensor> a, [[maybe_unused]] c10::ArrayRef<double> at)

struct KernelInfo {
  Kernel fn;
  size_t min_args;
  size_t max_args;  // SIZE_MAX for n-ary
  size_t num_attrs = 0;
};

/** The kernel for an op name; throws nc::Error for an unknown name or wrong argument/attribute counts. */
const KernelInfo& find_kernel(const std::string& name, size_t num_args, size_t num_attrs);
/** Every op name this build provides (the compiler's table must match it; a test checks). */
std::vector<std::string> kernel_names();
/**
 * Tests: whether kernels with a CPU fast path (tridiagonal-solve, stencil-step) take their
 * device-agnostic ATen path on the CPU too, so that path runs in a CPU-only build.
 */
bool device_paths_on_cpu();
void set_device_paths_on_cpu(bool on);
/** Runs a kernel by name: throws nc::Error for an unknown name or a wrong argument count. */
at::Tensor apply_kernel(const std::string& name, c10::ArrayRef<at::Tensor> args, c10::ArrayRef<double> attrs = {});

}  // namespace nc
