#include "ode.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "errors.h"
#include "ode_method.h"

namespace nc {
namespace {

using at::Tensor;

/** Feeds the state and time into the program's inputs and brings its result to the state's shape. */
class Rhs {
 public:
  Rhs(GraphModule& module, const OdeProblem& problem, const Tensor& y0, bool need_grad)
      : module_(module), problem_(problem), need_grad_(need_grad) {
    if (problem.time_offsets.defined()) offsets_ = problem.time_offsets.to(y0.options());
  }

  Tensor operator()(double t, const Tensor& y) { return eval(t, y, need_grad_); }

  Tensor eval(double t, const Tensor& y, bool grad) {
    std::vector<Tensor> inputs;
    inputs.reserve(problem_.slots.size());
    for (const OdeSlot& slot : problem_.slots) {
      switch (slot.kind) {
        case OdeSlot::Kind::State:
          inputs.push_back(y);
          break;
        case OdeSlot::Kind::Component:
          inputs.push_back(y.select(-1, slot.component));
          break;
        case OdeSlot::Kind::Time:
          inputs.push_back(offsets_.defined() ? offsets_ + t : at::scalar_tensor(t, y.options()));
          break;
        case OdeSlot::Kind::Constant:
          inputs.push_back(slot.value);
          break;
      }
    }
    return to_state_shape(module_.forward(inputs, grad), y);
  }

 private:
  GraphModule& module_;
  const OdeProblem& problem_;
  bool need_grad_;
  Tensor offsets_;

  // A per-sample scalar result is a 1-component derivative; a result that ignores the batched
  // inputs holds for every sample.
  Tensor to_state_shape(Tensor f, const Tensor& y) const {
    const int64_t sample_rank = f.dim() - (problem_.result_batched ? 1 : 0);
    if (sample_rank == 0) f = f.unsqueeze(-1);
    if (y.dim() == 2 && !problem_.result_batched) f = f.expand_as(y);
    if (!f.sizes().equals(y.sizes()))
      throw Error("odeint: the right-hand side returned shape " + c10::str(f.sizes()) + " but the state has shape " +
                  c10::str(y.sizes()));
    return f;
  }
};

/** y + h * sum_j w_j k_j, skipping zero weights. */
Tensor combine(const Tensor& y, double h, const std::vector<double>& w, const std::vector<Tensor>& k) {
  Tensor acc = y;
  for (size_t j = 0; j < w.size(); ++j)
    if (w[j] != 0) acc = acc.add(k[j], h * w[j]);
  return acc;
}

struct Step {
  Tensor y;
  std::vector<Tensor> k;
};

/** One step of the method from (t, y) whose first stage k1 = f(t, y) is already known. */
Step rk_step(Rhs& f, const Tableau& m, double t, const Tensor& y, double h, Tensor k1) {
  Step s{Tensor(), {std::move(k1)}};
  for (size_t i = 1; i < m.c.size(); ++i) {
    Tensor yi = combine(y, h, m.a[i], s.k);
    if (m.fsal && i + 1 == m.c.size()) s.y = yi;
    s.k.push_back(f(t + m.c[i] * h, yi));
  }
  if (!m.fsal) s.y = combine(y, h, m.b, s.k);
  return s;
}

/** RMS over the state of v / scale, worst sample of a batch. */
double rms_norm(const Tensor& v, const Tensor& scale) {
  return (v / scale).square().mean(-1).sqrt().max().item<double>();
}

/** The local error of a step relative to the tolerances (accept when <= 1); NaN when the step overflowed. */
double error_ratio(const Step& s, const Tableau& m, const Tensor& y, double h, const OdeConfig& cfg) {
  at::NoGradGuard no_grad;
  Tensor err = combine(at::zeros_like(y), h, m.e, s.k);
  Tensor scale = cfg.atol + cfg.rtol * at::maximum(y.abs(), s.y.abs());
  return rms_norm(err, scale);
}

/** Hairer's starting step: matches the first step to the scale of the state and of the derivative's change. */
double first_step(Rhs& f, double t0, const Tensor& y0, const Tensor& f0, const OdeConfig& cfg) {
  at::NoGradGuard no_grad;
  Tensor scale = cfg.atol + cfg.rtol * y0.abs();
  return initial_step(rms_norm(y0, scale), rms_norm(f0, scale), t0, [&](double h0) {
    Tensor f1 = f.eval(t0 + h0, y0.add(f0, h0), false);
    return rms_norm(f1 - f0, scale) / h0;
  });
}

void check_finite(const Tensor& y, double t) {
  if (!at::isfinite(y).all().item<bool>()) throw_not_finite(t);
}

void integrate_fixed(Rhs& f, const Tableau& m, const Tensor& y0, const std::vector<double>& times, const OdeConfig& cfg,
                     std::vector<Tensor>& out) {
  const std::vector<int64_t> substeps = fixed_substeps(times, cfg);
  Tensor y = y0;
  for (size_t i = 1; i < times.size(); ++i) {
    const double h = (times[i] - times[i - 1]) / static_cast<double>(substeps[i - 1]);
    for (int64_t s = 0; s < substeps[i - 1]; ++s) {
      const double t = times[i - 1] + static_cast<double>(s) * h;
      y = rk_step(f, m, t, y, h, f(t, y)).y;
    }
    check_finite(y, times[i]);
    out.push_back(y);
  }
}

void integrate_adaptive(Rhs& f, const Tableau& m, const Tensor& y0, const std::vector<double>& times,
                        const OdeConfig& cfg, std::vector<Tensor>& out) {
  double t = times.front();
  Tensor y = y0;
  Tensor k1 = f(t, y);
  double h = first_step(f, t, y, k1, cfg);
  int64_t attempts = 0;
  for (size_t i = 1; i < times.size(); ++i) {
    const double target = times[i];
    while (t < target) {
      const auto [h_try, lands] = next_attempt(t, h, target, cfg, attempts);
      Step s = rk_step(f, m, t, y, h_try, k1);
      const double ratio = error_ratio(s, m, y, h_try, cfg);
      if (ratio <= 1) {
        t = lands ? target : t + h_try;
        y = s.y;
        k1 = s.k.back();
      }
      h = h_try * step_factor(ratio);
    }
    check_finite(y, target);
    out.push_back(y);
  }
}

void check_arguments(const OdeProblem& problem, const Tensor& y0, const std::vector<double>& times,
                     const OdeConfig& cfg) {
  if (!y0.defined() || y0.dim() < 1 || y0.dim() > 2 || y0.size(-1) < 1 || y0.numel() < 1)
    throw Error("odeint: the initial state must have shape [n] or [B, n] with n, B >= 1");
  check_times_and_config(times, y0.scalar_type() == at::kFloat, cfg);
  for (const OdeSlot& slot : problem.slots) {
    if (slot.kind == OdeSlot::Kind::Component && (slot.component < 0 || slot.component >= y0.size(-1)))
      throw Error("odeint: state component " + std::to_string(slot.component) + " is out of range for a state of " +
                  std::to_string(y0.size(-1)));
    if (slot.kind == OdeSlot::Kind::Constant && !slot.value.defined())
      throw Error("odeint: a constant input has no value");
  }
  const Tensor& offsets = problem.time_offsets;
  if (offsets.defined() && (y0.dim() != 2 || offsets.dim() != 1 || offsets.size(0) != y0.size(0)))
    throw Error("odeint: per-sample start times need a batched state and one start time per sample");
}

}  // namespace

Tensor odeint(GraphModule& rhs, const OdeProblem& problem, const Tensor& y0, const std::vector<double>& times,
              const OdeConfig& config) {
  check_arguments(problem, y0, times, config);
  // Without gradients nothing records an autograd graph, not even the state updates here.
  c10::AutoGradMode grad_mode(config.need_grad);
  Rhs f(rhs, problem, y0, config.need_grad);
  std::vector<Tensor> out{y0};
  const Tableau& method = tableau(config.method);
  if (method.e.empty())
    integrate_fixed(f, method, y0, times, config, out);
  else
    integrate_adaptive(f, method, y0, times, config, out);
  return at::stack(out);
}

}  // namespace nc
