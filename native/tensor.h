// Tensors as the library sees them: creation from host data, conversion back, devices, dtypes,
// seeded randomness and the thread setting. Plain libtorch, no Node.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nc {

using Shape = std::vector<int64_t>;

/** "cpu" or "cuda[:N]"; throws nc::Error when this libtorch cannot serve the device. */
c10::Device parse_device(const std::string& name);
/** "float32" or "float64". */
c10::ScalarType parse_dtype(const std::string& name);
std::string dtype_name(c10::ScalarType t);
std::string device_name(const c10::Device& d);
bool cuda_available();

/** Copies host data of type `src` (float or double) into a new tensor of `dtype` on `device`. */
at::Tensor from_host(const void* data, c10::ScalarType src, const Shape& shape, c10::ScalarType dtype,
                     const c10::Device& device);
/** A CPU tensor over host memory the caller keeps alive while it is used: no copy. */
at::Tensor borrow_host(void* data, c10::ScalarType dtype, const Shape& shape);
at::Tensor full(const Shape& shape, double value, c10::ScalarType dtype, const c10::Device& device);
/** Standard normal samples; with a seed, drawn from a private generator so results are reproducible. */
at::Tensor randn(const Shape& shape, std::optional<uint64_t> seed, c10::ScalarType dtype, const c10::Device& device);
void manual_seed(uint64_t seed);

/** A contiguous CPU copy, ready to be read as host memory. */
at::Tensor to_host(const at::Tensor& t);

void set_num_threads(int n);
int num_threads();

/** Sets up process-wide defaults once (1 intra-op thread on these shared machines). */
void init_runtime();

}  // namespace nc
