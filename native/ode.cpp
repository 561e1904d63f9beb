#include "ode.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "errors.h"

namespace nc {
namespace {

using at::Tensor;

std::string num(double v) { return number_text(v, 8); }

/** An explicit Runge-Kutta method. With `fsal` the last stage is evaluated at the new state, so it is the next step's
 * first stage. */
struct Tableau {
  std::vector<double> c;
  std::vector<std::vector<double>> a;  // a[i]: weights of stages 0..i-1 for stage i
  std::vector<double> b;
  std::vector<double> e;  // b minus the embedded lower-order weights: the local error estimate
  bool fsal = false;
};

const Tableau kEuler{{0}, {{}}, {1}, {}, false};
const Tableau kRk4{{0, 0.5, 0.5, 1}, {{}, {0.5}, {0, 0.5}, {0, 0, 1}}, {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6}, {}, false};
// Dormand & Prince (1980), the pair behind MATLAB's ode45 and torchdiffeq's dopri5.
const Tableau kDopri5{{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1},
                      {{},
                       {1.0 / 5},
                       {3.0 / 40, 9.0 / 40},
                       {44.0 / 45, -56.0 / 15, 32.0 / 9},
                       {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
                       {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
                       {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
                      {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0},
                      {71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40},
                      true};

// Step-size control (Hairer, Norsett & Wanner, Solving ODEs I, II.4): error ratios r give the next
// step h * clamp(safety * r^(-1/5), min, max); the exponent is 1 / (order of the error estimate + 1).
constexpr double kSafety = 0.9;
constexpr double kMinFactor = 0.2;
constexpr double kMaxFactor = 10;
constexpr double kExponent = 1.0 / 5;

/** The smallest step that still moves t by a meaningful amount in double precision. */
double min_step(double t) { return 64 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(t)); }

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
double initial_step(Rhs& f, double t0, const Tensor& y0, const Tensor& f0, const OdeConfig& cfg) {
  at::NoGradGuard no_grad;
  Tensor scale = cfg.atol + cfg.rtol * y0.abs();
  const double d0 = rms_norm(y0, scale);
  const double d1 = rms_norm(f0, scale);
  const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  Tensor f1 = f.eval(t0 + h0, y0.add(f0, h0), false);
  const double d2 = rms_norm(f1 - f0, scale) / h0;
  const double dmax = std::max(d1, d2);
  const double h1 = dmax <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / dmax, kExponent);
  const double h = std::min(100 * h0, h1);
  if (!std::isfinite(h))
    throw Error("odeint: the right-hand side is not finite at the initial state (t = " + num(t0) + ")");
  return h;
}

void check_finite(const Tensor& y, double t) {
  if (!at::isfinite(y).all().item<bool>())
    throw Error("odeint: the solution is not finite at t = " + num(t) + " (it blows up or overflows before this time)");
}

void too_many_steps(const OdeConfig& cfg, double reached, double target) {
  throw Error("odeint: more than maxSteps = " + std::to_string(cfg.max_steps) +
              " steps needed to reach t = " + num(target) + " (reached t = " + num(reached) +
              "); the problem may be stiff or blow up, or raise maxSteps");
}

void integrate_fixed(Rhs& f, const Tableau& m, const Tensor& y0, const std::vector<double>& times, const OdeConfig& cfg,
                     std::vector<Tensor>& out) {
  // Counted up front, so a too-small step fails before any work.
  std::vector<int64_t> substeps;
  int64_t total = 0;
  for (size_t i = 1; i < times.size(); ++i) {
    const double dt = times[i] - times[i - 1];
    // The small slack keeps dt/step = 2.0000000001 from becoming 3 steps.
    const double n = cfg.step > 0 ? std::max(1.0, std::ceil(dt / cfg.step * (1 - 1e-12))) : 1;
    if (n > static_cast<double>(cfg.max_steps - total)) too_many_steps(cfg, times[i - 1], times[i]);
    substeps.push_back(static_cast<int64_t>(n));
    total += substeps.back();
  }
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
  double h = initial_step(f, t, y, k1, cfg);
  int64_t attempts = 0;
  for (size_t i = 1; i < times.size(); ++i) {
    const double target = times[i];
    while (t < target) {
      if (h < min_step(t))
        throw Error("odeint: dopri5's step size collapsed to " + num(h) + " at t = " + num(t) +
                    " (the solution may blow up there, or the problem is too stiff for rtol/atol)");
      if (++attempts > cfg.max_steps) too_many_steps(cfg, t, target);
      // Land exactly on the reported time, also when only a sliver would remain.
      const double remaining = target - t;
      const bool lands = remaining - h <= min_step(target);
      const double h_try = lands ? remaining : h;
      Step s = rk_step(f, m, t, y, h_try, k1);
      const double ratio = error_ratio(s, m, y, h_try, cfg);
      if (ratio <= 1) {
        t = lands ? target : t + h_try;
        y = s.y;
        k1 = s.k.back();
      }
      const double factor = ratio == 0 ? kMaxFactor
                            : std::isfinite(ratio)
                                ? std::clamp(kSafety * std::pow(ratio, -kExponent), kMinFactor, kMaxFactor)
                                : kMinFactor;
      h = h_try * factor;
    }
    check_finite(y, target);
    out.push_back(y);
  }
}

void check_arguments(const OdeProblem& problem, const Tensor& y0, const std::vector<double>& times,
                     const OdeConfig& cfg) {
  if (!y0.defined() || y0.dim() < 1 || y0.dim() > 2 || y0.size(-1) < 1 || y0.numel() < 1)
    throw Error("odeint: the initial state must have shape [n] or [B, n] with n, B >= 1");
  if (times.empty()) throw Error("odeint: at least one time is needed");
  for (size_t i = 0; i < times.size(); ++i) {
    const std::string at_i = "t[" + std::to_string(i) + "] = " + num(times[i]);
    if (!std::isfinite(times[i])) throw Error("odeint: times must be finite, but " + at_i);
    // The times become values of the state's dtype (the right-hand side reads t, steps add to it).
    if (y0.scalar_type() == at::kFloat && std::abs(times[i]) > std::numeric_limits<float>::max())
      throw Error("odeint: " + at_i +
                  " is beyond the range of float32, the model's dtype; compile it with dtype 'float64'");
    if (i > 0 && !(times[i] > times[i - 1]))
      throw Error("odeint: times must be strictly increasing, but " + at_i + " follows t[" + std::to_string(i - 1) +
                  "] = " + num(times[i - 1]));
  }
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
  if (!(cfg.step >= 0 && std::isfinite(cfg.step))) throw Error("odeint: step must be a finite number >= 0");
  if (!(cfg.rtol >= 0 && cfg.atol >= 0) || cfg.rtol + cfg.atol <= 0)
    throw Error("odeint: rtol and atol must be >= 0 and not both 0");
  if (cfg.max_steps < 1) throw Error("odeint: maxSteps must be at least 1");
}

}  // namespace

Tensor odeint(GraphModule& rhs, const OdeProblem& problem, const Tensor& y0, const std::vector<double>& times,
              const OdeConfig& config) {
  check_arguments(problem, y0, times, config);
  // Without gradients nothing records an autograd graph, not even the state updates here.
  c10::AutoGradMode grad_mode(config.need_grad);
  Rhs f(rhs, problem, y0, config.need_grad);
  std::vector<Tensor> out{y0};
  switch (config.method) {
    case OdeMethod::Euler:
      integrate_fixed(f, kEuler, y0, times, config, out);
      break;
    case OdeMethod::Rk4:
      integrate_fixed(f, kRk4, y0, times, config, out);
      break;
    case OdeMethod::Dopri5:
      integrate_adaptive(f, kDopri5, y0, times, config, out);
      break;
  }
  return at::stack(out);
}

}  // namespace nc
