#include "mlp.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "errors.h"
#include "tensor.h"

namespace nc {
namespace {

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

at::Tensor activate(Activation a, const at::Tensor& x) {
  switch (a) {
    case Activation::Tanh:
      return at::tanh(x);
    case Activation::Relu:
      return at::relu(x);
    case Activation::Gelu:
      return at::gelu(x);  // approximate = "none": x * Phi(x) with erf
    case Activation::Silu:
      return at::silu(x);
    case Activation::Softplus:
      return at::softplus(x, /*beta=*/1, /*threshold=*/20);
  }
  throw Error("unknown activation");
}

// The bounds exactly as torch.nn.Linear.reset_parameters computes them, so that a seed draws the same
// values as torch.manual_seed(seed) followed by building the layers in PyTorch.
double weight_bound(int64_t fan_in) {
  double a = std::sqrt(5.0);
  double gain = std::sqrt(2.0 / (1 + a * a));
  return std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(fan_in)));
}
double bias_bound(int64_t fan_in) { return 1 / std::sqrt(static_cast<double>(fan_in)); }

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  if (name == "gelu") return Activation::Gelu;
  if (name == "silu") return Activation::Silu;
  if (name == "softplus") return Activation::Softplus;
  throw Error("unknown activation '" + name + "' (expected tanh, relu, gelu, silu or softplus)");
}

Mlp::Mlp(std::vector<int64_t> sizes, Activation activation, std::optional<uint64_t> seed, c10::ScalarType dtype,
         const c10::Device& device)
    : sizes_(std::move(sizes)), activation_(activation) {
  if (sizes_.size() < 2) throw Error("an MLP needs at least two sizes, [in, out]");
  // A layer's weight must stay far below what would overflow or exhaust memory.
  constexpr int64_t kMaxLayer = int64_t{1} << 31;
  for (size_t i = 0; i < sizes_.size(); ++i) {
    if (sizes_[i] < 1 || sizes_[i] > kMaxLayer)
      throw Error("MLP size " + std::to_string(i) + " must be a whole number >= 1");
    if (i > 0 && sizes_[i] > kMaxLayer / sizes_[i - 1])
      throw Error("MLP layer " + std::to_string(i - 1) + " is too large (" + std::to_string(sizes_[i - 1]) + " x " +
                  std::to_string(sizes_[i]) + " weights)");
  }
  if (dtype != c10::kFloat && dtype != c10::kDouble) throw Error("an MLP's dtype must be float32 or float64");
  std::optional<at::Generator> gen;
  if (seed) gen = at::detail::createCPUGenerator(*seed);
  auto cpu = at::TensorOptions().dtype(dtype).device(c10::kCPU);
  for (size_t i = 0; i + 1 < sizes_.size(); ++i) {
    int64_t fan_in = sizes_[i];
    auto w = at::empty({sizes_[i + 1], fan_in}, cpu);
    w.uniform_(-weight_bound(fan_in), weight_bound(fan_in), gen);
    auto b = at::empty({sizes_[i + 1]}, cpu);
    b.uniform_(-bias_bound(fan_in), bias_bound(fan_in), gen);
    weights_.push_back(w.to(device));
    biases_.push_back(b.to(device));
    weights_.back().set_requires_grad(true);
    biases_.back().set_requires_grad(true);
  }
}

at::Tensor Mlp::forward(const at::Tensor& x) const {
  const at::Tensor& w0 = weights_.front();
  if (!x.defined()) throw Error("MLP input is undefined");
  if (x.scalar_type() != w0.scalar_type() || x.device() != w0.device())
    throw Error("MLP input is " + dtype_name(x.scalar_type()) + " on " + x.device().str() + " but the MLP is " +
                dtype_name(w0.scalar_type()) + " on " + w0.device().str());
  if ((x.dim() != 1 && x.dim() != 2) || x.size(-1) != in_features())
    throw Error("MLP input must have shape [" + std::to_string(in_features()) + "] or [batch, " +
                std::to_string(in_features()) + "], got " + shape_text(x));
  at::Tensor h = x;
  for (size_t i = 0; i < weights_.size(); ++i) {
    h = at::linear(h, weights_[i], biases_[i]);
    if (i + 1 < weights_.size()) h = activate(activation_, h);
  }
  return h;
}

at::Tensor Mlp::call(const std::vector<at::Tensor>& args, const std::vector<bool>& batched) {
  if (args.size() != batched.size())
    throw Error("MLP call: " + std::to_string(args.size()) + " arguments but " + std::to_string(batched.size()) +
                " batching flags");
  if (args.empty())
    throw Error("MLP call: no arguments, but the MLP takes " + std::to_string(in_features()) + " inputs");
  std::optional<int64_t> batch;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i].defined()) throw Error("MLP call: argument " + std::to_string(i + 1) + " is undefined");
    int64_t per_sample = args[i].dim() - (batched[i] ? 1 : 0);
    if (per_sample < 0 || per_sample > 1)
      throw Error("MLP call: argument " + std::to_string(i + 1) +
                  " must be a scalar or a vector per sample, got shape " + shape_text(args[i]) +
                  (batched[i] ? " with a batch dimension" : ""));
    if (!batched[i]) continue;
    if (batch && *batch != args[i].size(0))
      throw Error("MLP call: argument " + std::to_string(i + 1) + " has a batch of " + std::to_string(args[i].size(0)) +
                  " but an earlier argument has a batch of " + std::to_string(*batch));
    batch = args[i].size(0);
  }
  std::vector<at::Tensor> features;
  int64_t total = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    bool scalar = args[i].dim() == (batched[i] ? 1 : 0);
    at::Tensor f = scalar ? args[i].unsqueeze(-1) : args[i];
    if (batch && !batched[i]) f = f.unsqueeze(0).expand({*batch, f.size(-1)});
    total += f.size(-1);
    features.push_back(f);
  }
  if (total != in_features())
    throw Error("MLP call: the arguments give " + std::to_string(total) + " features, but the MLP takes " +
                std::to_string(in_features()));
  at::Tensor y = forward(features.size() == 1 ? features[0] : at::cat(features, -1));
  return out_features() == 1 ? y.squeeze(-1) : y;
}

std::vector<std::pair<std::string, at::Tensor>> Mlp::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < weights_.size(); ++i) {
    out.emplace_back(std::to_string(i) + ".weight", weights_[i]);
    out.emplace_back(std::to_string(i) + ".bias", biases_[i]);
  }
  return out;
}

void assign_values(const at::Tensor& dst, const at::Tensor& src) {
  if (!dst.defined() || !src.defined()) throw Error("assign: both tensors must be defined");
  if (dst.sizes() != src.sizes() || dst.scalar_type() != src.scalar_type())
    throw Error("assign: cannot copy a " + dtype_name(src.scalar_type()) + " tensor of shape " + shape_text(src) +
                " into a " + dtype_name(dst.scalar_type()) + " tensor of shape " + shape_text(dst));
  at::NoGradGuard no_grad;
  dst.copy_(src);
}

}  // namespace nc
