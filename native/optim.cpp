#include "optim.h"

#include <ATen/core/grad_mode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/sgd.h>

#include <unordered_set>

#include "errors.h"

namespace nc {
namespace {

// libtorch accepts parameters without requires_grad (and then never updates them) and duplicates;
// checking everything here also gives each failure the parameter's position.
std::vector<at::Tensor> checked_params(const char* who, std::vector<at::Tensor> params) {
  if (params.empty()) throw Error(std::string(who) + ": the parameter list is empty");
  std::unordered_set<const void*> seen;
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    const std::string which = std::string(who) + ": parameter " + std::to_string(i);
    if (!p.defined()) throw Error(which + " is undefined");
    if (!p.is_floating_point()) throw Error(which + " is not a floating-point tensor");
    if (!p.requires_grad()) throw Error(which + " does not require a gradient; set requiresGrad = true on it");
    if (!p.is_leaf())
      throw Error(which + " is not a leaf tensor (it is computed from others); optimise the leaves it comes from");
    if (!seen.insert(p.unsafeGetTensorImpl()).second) throw Error(which + " appears more than once");
  }
  return params;
}

// Adam and AdamW share their options; only where the weight decay applies differs.
template <class Impl, class Options>
std::unique_ptr<torch::optim::Optimizer> adam_like(const char* who, std::vector<at::Tensor> params,
                                                   const AdamConfig& c) {
  auto options = Options(c.lr).betas(std::make_tuple(c.beta1, c.beta2)).eps(c.eps).weight_decay(c.weight_decay);
  return std::make_unique<Impl>(checked_params(who, std::move(params)), options);
}

}  // namespace

Optimizer::Optimizer(std::unique_ptr<torch::optim::Optimizer> impl, bool needs_closure)
    : impl_(std::move(impl)), needs_closure_(needs_closure) {}

Optimizer::Optimizer(std::unique_ptr<LbfgsSearch> search) : search_(std::move(search)), needs_closure_(true) {}

Optimizer::~Optimizer() = default;

std::unique_ptr<Optimizer> Optimizer::adam(std::vector<at::Tensor> params, const AdamConfig& c) {
  auto impl = c.decoupled ? adam_like<torch::optim::AdamW, torch::optim::AdamWOptions>("adamw", std::move(params), c)
                          : adam_like<torch::optim::Adam, torch::optim::AdamOptions>("adam", std::move(params), c);
  return std::unique_ptr<Optimizer>(new Optimizer(std::move(impl), false));
}

std::unique_ptr<Optimizer> Optimizer::sgd(std::vector<at::Tensor> params, const SgdConfig& c) {
  auto p = checked_params("sgd", std::move(params));
  auto options = torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay).nesterov(c.nesterov);
  return std::unique_ptr<Optimizer>(new Optimizer(std::make_unique<torch::optim::SGD>(std::move(p), options), false));
}

std::unique_ptr<Optimizer> Optimizer::lbfgs(std::vector<at::Tensor> params, const LbfgsConfig& c) {
  auto p = checked_params("lbfgs", std::move(params));
  // libtorch does not check these, and an empty history makes it pop from an empty deque.
  if (c.max_iter < 1) throw Error("lbfgs: maxIter must be at least 1");
  if (c.history_size < 1) throw Error("lbfgs: historySize must be at least 1");
  if (!(c.tolerance_grad >= 0) || !(c.tolerance_change >= 0)) throw Error("lbfgs: the tolerances must be numbers >= 0");
  if (c.line_search == "backtracking")
    return std::unique_ptr<Optimizer>(new Optimizer(std::make_unique<LbfgsSearch>(
        std::move(p), LbfgsSearchConfig{c.lr, c.max_iter, c.history_size, c.tolerance_grad, c.tolerance_change})));
  if (c.line_search && *c.line_search != "strong_wolfe")
    throw Error("lbfgs: the line searches are 'strong_wolfe' and 'backtracking', got '" + *c.line_search + "'");
  auto options = torch::optim::LBFGSOptions(c.lr)
                     .max_iter(c.max_iter)
                     .history_size(c.history_size)
                     .line_search_fn(c.line_search)
                     .tolerance_grad(c.tolerance_grad)
                     .tolerance_change(c.tolerance_change);
  return std::unique_ptr<Optimizer>(new Optimizer(std::make_unique<torch::optim::LBFGS>(std::move(p), options), true));
}

at::Tensor Optimizer::step(const LossClosure& closure) {
  if (!closure) {
    if (needs_closure_) throw Error("this optimizer's step() needs a closure that re-evaluates the loss");
    return impl_->step();
  }
  const auto checked = [&closure]() -> at::Tensor {
    // libtorch calls the closure under no-grad in places; the loss needs autograd to backpropagate.
    at::AutoGradMode enable_grad(true);
    at::Tensor loss = closure();
    if (!loss.defined() || loss.numel() != 1)
      throw Error("the step closure must return the loss as a single-element tensor");
    return loss;
  };
  return search_ ? search_->step(checked) : impl_->step(checked);
}

void Optimizer::zero_grad() {
  if (!search_) return impl_->zero_grad();
  for (const at::Tensor& p : search_->params()) p.mutable_grad().reset();
}

double Optimizer::lr() const { return search_ ? search_->lr : impl_->param_groups().at(0).options().get_lr(); }

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0)) throw Error("the learning rate must be a number >= 0");
  if (search_)
    search_->lr = lr;
  else
    for (auto& group : impl_->param_groups()) group.options().set_lr(lr);
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm, double norm_type) {
  if (!(max_norm >= 0)) throw Error("clipGradNorm: maxNorm must be a number >= 0");
  if (!(norm_type > 0)) throw Error("clipGradNorm: the norm type must be > 0 (or infinity)");
  return torch::nn::utils::clip_grad_norm_(params, max_norm, norm_type);
}

}  // namespace nc
