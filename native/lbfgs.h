// L-BFGS with a backtracking (Armijo) line search that fit() uses: unlike libtorch's, a trial point
// whose loss or gradient is not finite (an ODE solution that blows up there) shrinks the step
// instead of failing, and a step says whether it ended because the fit converged.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

namespace nc {

/** Why an optimizer step ended before its iterations ran out. */
enum class Convergence {
  None,
  /** The largest absolute gradient entry is at most the gradient tolerance. */
  Gradient,
  /** The loss changed by at most the relative loss tolerance, or no step along the search direction lowers it. */
  Loss,
};

struct LbfgsSearchConfig {
  double lr;
  int64_t max_iter;
  int64_t history_size;
  double tolerance_grad;
  double tolerance_change;
};

class LbfgsSearch {
 public:
  LbfgsSearch(std::vector<at::Tensor> params, const LbfgsSearchConfig& config);
  /**
   * Up to max_iter iterations. The closure's first call is at the current parameters; every later
   * one is a trial point, where a non-finite loss or gradient shrinks the step. Returns the first loss.
   */
  at::Tensor step(const std::function<at::Tensor()>& closure);
  Convergence convergence() const { return convergence_; }
  const std::vector<at::Tensor>& params() const { return params_; }
  double lr = 0;

 private:
  at::Tensor flat_grad() const;
  void set_params(const at::Tensor& x);
  at::Tensor direction(const at::Tensor& g) const;

  std::vector<at::Tensor> params_;
  LbfgsSearchConfig config_;
  std::deque<at::Tensor> s_, y_;
  std::deque<double> rho_;
  double h_diag_ = 1;
  int64_t iterations_ = 0;
  Convergence convergence_ = Convergence::None;
};

}  // namespace nc
