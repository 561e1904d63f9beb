// Optimizers over any set of leaf parameter tensors, backed by libtorch's own torch::optim
// implementations, plus gradient-norm clipping. The header stays free of the heavy torch::optim
// headers so that the binding compiles quickly.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace nc {

struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  /** AdamW: weight decay shrinks the parameters directly instead of being added to the gradient. */
  bool decoupled = false;
};

struct SgdConfig {
  double lr = 1e-2;
  double momentum = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

struct LbfgsConfig {
  double lr = 1;
  int64_t max_iter = 20;
  int64_t history_size = 100;
  /** "strong_wolfe", or none for fixed steps of size lr. */
  std::optional<std::string> line_search;
};

/** Re-evaluates the loss: clears gradients, computes the loss, calls backward, returns the loss. */
using LossClosure = std::function<at::Tensor()>;

class Optimizer {
 public:
  /** Each factory checks the parameters (non-empty, distinct, floating, leaf, requiring grad). */
  static std::unique_ptr<Optimizer> adam(std::vector<at::Tensor> params, const AdamConfig& config);
  static std::unique_ptr<Optimizer> sgd(std::vector<at::Tensor> params, const SgdConfig& config);
  static std::unique_ptr<Optimizer> lbfgs(std::vector<at::Tensor> params, const LbfgsConfig& config);
  ~Optimizer();

  /** One update. Returns the closure's first loss, or an undefined tensor without a closure. */
  at::Tensor step(const LossClosure& closure);
  /** Drops the parameters' gradients (they read as undefined until the next backward). */
  void zero_grad();
  double lr() const;
  void set_lr(double lr);

 private:
  Optimizer(std::unique_ptr<torch::optim::Optimizer> impl, bool needs_closure);
  std::unique_ptr<torch::optim::Optimizer> impl_;
  // L-BFGS re-evaluates the loss several times per step and cannot run without a closure.
  bool needs_closure_;
};

/**
 * Scales the gradients of `params` in place so that their joint norm of order `norm_type` (inf for
 * the max norm) is at most `max_norm`, as torch.nn.utils.clip_grad_norm_ does: the factor is
 * max_norm / (norm + 1e-6) when that is below 1. Returns the norm before clipping; parameters
 * without a gradient are skipped.
 */
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm, double norm_type);

}  // namespace nc
