// A multilayer perceptron: linear layers with one activation between them and none after the last.
// It is also a Callable, so a compiled program can call it on per-sample scalars and vectors.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "callable.h"

namespace nc {

enum class Activation { Tanh, Relu, Gelu, Silu, Softplus };

/** "tanh", "relu", "gelu" (exact erf form), "silu" or "softplus" (beta 1, threshold 20). */
Activation parse_activation(const std::string& name);

class Mlp : public Callable {
 public:
  /**
   * sizes = [in, hidden..., out]. Initialisation follows torch.nn.Linear: weights by Kaiming-uniform
   * with a = sqrt(5) (bound 1/sqrt(fan_in)), biases uniform in +-1/sqrt(fan_in), drawn layer by layer
   * (weight, then bias) in the given dtype on the CPU. With a seed the draws come from a private
   * generator, so a seed gives the same weights on every run and device; without one they come
   * from the global generator.
   */
  Mlp(std::vector<int64_t> sizes, Activation activation, std::optional<uint64_t> seed, c10::ScalarType dtype,
      const c10::Device& device);

  /** x of shape [in] or [B, in] -> [out] or [B, out]. */
  at::Tensor forward(const at::Tensor& x) const;

  /**
   * Concatenates the arguments' features (scalars count as one; unbatched arguments are expanded to
   * the batch), runs forward, and drops the feature dimension when out_features is 1.
   */
  at::Tensor call(const std::vector<at::Tensor>& args, const std::vector<bool>& batched) override;
  int64_t in_features() const override { return sizes_.front(); }
  int64_t out_features() const override { return sizes_.back(); }

  /** Leaf tensors requiring grad, named "<layer>.weight" / "<layer>.bias" (layer counts linear layers from 0). */
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 private:
  std::vector<int64_t> sizes_;
  Activation activation_;
  std::vector<at::Tensor> weights_;  // layer i: [sizes[i+1], sizes[i]]
  std::vector<at::Tensor> biases_;   // layer i: [sizes[i+1]]
};

/** Overwrites dst's values with src's (same shape and dtype) without recording autograd history. */
void assign_values(const at::Tensor& dst, const at::Tensor& src);

}  // namespace nc
