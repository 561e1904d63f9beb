// Optimizers over any set of leaf parameter tensors, backed by libtorch's own torch::optim
// implementations, plus gradient-norm clipping. The header stays free of the heavy torch::optim
// headers so that the binding compiles quickly.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lbfgs.h"

namespace torch::optim {
class Optimizer;
}

namespace nc {

// Every setting is the caller's choice (src/train/optim.ts decides the defaults and the policy);
// these structs have no defaults of their own.

enum class OptimizerAlgorithm { Adam, Sgd, Lbfgs };
/** The algorithms' names in enum order, as src/train/optim.ts's configs name them (tests/train-settings.test.ts). */
inline constexpr std::array<const char*, 3> kOptimizerAlgorithmNames{"adam", "sgd", "lbfgs"};

struct AdamConfig {
  double lr;
  double beta1;
  double beta2;
  double eps;
  double weight_decay;
  /** AdamW: weight decay shrinks the parameters directly instead of being added to the gradient. */
  bool decoupled;
};

struct SgdConfig {
  double lr;
  double momentum;
  double weight_decay;
  bool nesterov;
};

struct LbfgsConfig {
  double lr;
  int64_t max_iter;
  int64_t history_size;
  /**
   * "strong_wolfe" (libtorch's), "backtracking" (nc's LbfgsSearch: shrinks at non-finite trial
   * points, reports convergence), or none for fixed steps of size lr.
   */
  std::optional<std::string> line_search;
  /** A step ends when the largest absolute gradient entry is at most this. */
  double tolerance_grad;
  /** ... or when the loss changes by at most this (libtorch: absolute; backtracking: relative). */
  double tolerance_change;
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
  /** Whether the last step ended because it converged (only the backtracking L-BFGS says so). */
  Convergence convergence() const { return search_ ? search_->convergence() : Convergence::None; }

 private:
  Optimizer(std::unique_ptr<torch::optim::Optimizer> impl, bool needs_closure);
  explicit Optimizer(std::unique_ptr<LbfgsSearch> search);
  std::unique_ptr<torch::optim::Optimizer> impl_;
  std::unique_ptr<LbfgsSearch> search_;  // instead of impl_
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
