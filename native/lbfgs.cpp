#include "lbfgs.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nc {
namespace {

using at::Tensor;

constexpr double kArmijo = 1e-4;
constexpr int kMaxBacktracks = 25;

double max_abs(const Tensor& t) { return t.abs().max().item<double>(); }

}  // namespace

LbfgsSearch::LbfgsSearch(std::vector<Tensor> params, const LbfgsSearchConfig& config)
    : lr(config.lr), params_(std::move(params)), config_(config) {}

/** The gradients as one double vector (0 for a parameter without one); undefined when any is not finite. */
Tensor LbfgsSearch::flat_grad() const {
  std::vector<Tensor> parts;
  for (const Tensor& p : params_)
    parts.push_back(p.grad().defined() ? p.grad().detach().flatten().to(at::kDouble)
                                       : at::zeros({p.numel()}, p.options().dtype(at::kDouble)));
  Tensor g = at::cat(parts);
  return at::isfinite(g).all().item<bool>() ? g : Tensor();
}

void LbfgsSearch::set_params(const Tensor& x) {
  at::NoGradGuard no_grad;
  int64_t offset = 0;
  for (Tensor& p : params_) {
    p.copy_(x.slice(0, offset, offset + p.numel()).view(p.sizes()));
    offset += p.numel();
  }
}

/** The two-loop recursion: -H g with the stored curvature pairs. */
Tensor LbfgsSearch::direction(const Tensor& g) const {
  Tensor q = -g;
  const size_t m = s_.size();
  std::vector<double> alpha(m);
  for (size_t i = m; i-- > 0;) {
    alpha[i] = rho_[i] * s_[i].dot(q).item<double>();
    q -= alpha[i] * y_[i];
  }
  q *= h_diag_;
  for (size_t i = 0; i < m; ++i) q += s_[i] * (alpha[i] - rho_[i] * y_[i].dot(q).item<double>());
  return q;
}

Tensor LbfgsSearch::step(const std::function<Tensor()>& closure) {
  convergence_ = Convergence::None;
  Tensor first = closure();
  double f = first.item<double>();
  Tensor g = flat_grad();
  if (!std::isfinite(f) || !g.defined()) return first;  // the caller decides what a non-finite start means
  if (max_abs(g) <= config_.tolerance_grad) {
    convergence_ = Convergence::Gradient;
    return first;
  }
  Tensor x;
  {
    std::vector<Tensor> parts;
    for (const Tensor& p : params_) parts.push_back(p.detach().flatten().to(at::kDouble));
    x = at::cat(parts);
  }
  for (int64_t it = 0; it < config_.max_iter; ++it) {
    Tensor d = direction(g);
    double gtd = g.dot(d).item<double>();
    if (!(gtd < 0)) {  // not a descent direction (stale curvature): start again from steepest descent
      s_.clear(), y_.clear(), rho_.clear(), h_diag_ = 1;
      d = -g;
      gtd = -g.dot(g).item<double>();
    }
    // The first step ever is scaled down, as libtorch's is: the gradient's size says nothing about the distance.
    double t = lr * (iterations_ == 0 ? std::min(1.0, 1.0 / g.abs().sum().item<double>()) : 1.0);
    double f_new = std::numeric_limits<double>::quiet_NaN();
    Tensor g_new;
    bool accepted = false;
    for (int k = 0; k < kMaxBacktracks && !accepted; ++k) {
      set_params(x + t * d);
      f_new = closure().item<double>();
      g_new = std::isfinite(f_new) ? flat_grad() : Tensor();
      accepted = g_new.defined() && f_new <= f + kArmijo * t * gtd;
      if (accepted) break;
      // Where the loss is finite, the minimum of the quadratic through f, gtd and f_new, kept within
      // [0.1 t, 0.5 t]; where it is not (a blow-up), a tenth.
      const double quad = -gtd * t * t / (2 * (f_new - f - gtd * t));
      t = g_new.defined() && std::isfinite(quad) ? std::clamp(quad, 0.1 * t, 0.5 * t) : 0.1 * t;
    }
    if (!accepted) {
      set_params(x);
      if (!s_.empty()) {  // retry once along steepest descent before calling it a plateau
        s_.clear(), y_.clear(), rho_.clear(), h_diag_ = 1;
        continue;
      }
      convergence_ = Convergence::Loss;
      break;
    }
    ++iterations_;
    Tensor s = t * d;
    Tensor y = g_new - g;
    const double ys = y.dot(s).item<double>();
    if (ys > 1e-10) {
      if (static_cast<int64_t>(s_.size()) == config_.history_size) s_.pop_front(), y_.pop_front(), rho_.pop_front();
      s_.push_back(s), y_.push_back(y), rho_.push_back(1 / ys);
      h_diag_ = ys / y.dot(y).item<double>();
    }
    const double change = f - f_new;
    x = x + s, f = f_new, g = g_new;
    if (max_abs(g) <= config_.tolerance_grad) {
      convergence_ = Convergence::Gradient;
      break;
    }
    if (std::abs(change) <= config_.tolerance_change * std::abs(f + change)) {
      convergence_ = Convergence::Loss;
      break;
    }
  }
  return first;
}

}  // namespace nc
