#include "ode_method.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "errors.h"

namespace nc {
namespace {

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

std::string num(double v) { return number_text(v, 8); }

}  // namespace

const Tableau& tableau(OdeMethod method) {
  switch (method) {
    case OdeMethod::Euler:
      return kEuler;
    case OdeMethod::Rk4:
      return kRk4;
    case OdeMethod::Dopri5:
      return kDopri5;
  }
  throw Error("odeint: unknown method");
}

double min_step(double t) { return 64 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(t)); }

double step_factor(double ratio) {
  if (ratio == 0) return kMaxFactor;
  if (!std::isfinite(ratio)) return kMinFactor;
  return std::clamp(kSafety * std::pow(ratio, -kExponent), kMinFactor, kMaxFactor);
}

double initial_step(double d0, double d1, double t0, const std::function<double(double)>& d2_of) {
  const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  const double d2 = d2_of(h0);
  const double dmax = std::max(d1, d2);
  const double h1 = dmax <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / dmax, kExponent);
  const double h = std::min(100 * h0, h1);
  // An infinite derivative would give h = 0 and pass for a collapsed step.
  if (!std::isfinite(d1) || !std::isfinite(h)) throw_infinite_start(t0);
  return h;
}

Attempt next_attempt(double t, double h, double target, const OdeConfig& cfg, int64_t& attempts) {
  if (h < min_step(t)) throw_collapsed_step(h, t);
  if (++attempts > cfg.max_steps) throw_too_many_steps(cfg, t, target);
  const double remaining = target - t;
  const bool lands = remaining - h <= min_step(target);
  return {lands ? remaining : h, lands};
}

std::vector<int64_t> fixed_substeps(const std::vector<double>& times, const OdeConfig& cfg) {
  // Counted up front, so a too-small step fails before any work.
  std::vector<int64_t> substeps;
  int64_t total = 0;
  for (size_t i = 1; i < times.size(); ++i) {
    const double dt = times[i] - times[i - 1];
    // The small slack keeps dt/step = 2.0000000001 from becoming 3 steps.
    const double n = cfg.step > 0 ? std::max(1.0, std::ceil(dt / cfg.step * (1 - 1e-12))) : 1;
    if (n > static_cast<double>(cfg.max_steps - total)) throw_too_many_steps(cfg, times[i - 1], times[i]);
    substeps.push_back(static_cast<int64_t>(n));
    total += substeps.back();
  }
  return substeps;
}

void throw_not_finite(double t) {
  throw OdeBlowUp("odeint: the solution is not finite at t = " + num(t) +
                  " (it blows up or overflows before this time)");
}

void throw_too_many_steps(const OdeConfig& cfg, double reached, double target) {
  throw Error("odeint: more than maxSteps = " + std::to_string(cfg.max_steps) +
              " steps needed to reach t = " + num(target) + " (reached t = " + num(reached) +
              "); the problem may be stiff or blow up, or raise maxSteps");
}

void throw_collapsed_step(double h, double t) {
  throw OdeBlowUp("odeint: dopri5's step size collapsed to " + num(h) + " at t = " + num(t) +
                  " (the solution may blow up there, or the problem is too stiff for rtol/atol)");
}

void throw_infinite_start(double t0) {
  throw OdeBlowUp("odeint: the right-hand side is not finite at the initial state (t = " + num(t0) + ")");
}

void check_times_and_config(const std::vector<double>& times, bool float32, const OdeConfig& cfg) {
  if (times.empty()) throw Error("odeint: at least one time is needed");
  for (size_t i = 0; i < times.size(); ++i) {
    const std::string at_i = "t[" + std::to_string(i) + "] = " + num(times[i]);
    if (!std::isfinite(times[i])) throw Error("odeint: times must be finite, but " + at_i);
    // The times become values of the state's dtype (the right-hand side reads t, steps add to it).
    if (float32 && std::abs(times[i]) > std::numeric_limits<float>::max())
      throw Error("odeint: " + at_i +
                  " is beyond the range of float32, the model's dtype; compile it with dtype 'float64'");
    if (i > 0 && !(times[i] > times[i - 1]))
      throw Error("odeint: times must be strictly increasing, but " + at_i + " follows t[" + std::to_string(i - 1) +
                  "] = " + num(times[i - 1]));
  }
  if (!(cfg.step >= 0 && std::isfinite(cfg.step))) throw Error("odeint: step must be a finite number >= 0");
  if (!(cfg.rtol >= 0 && cfg.atol >= 0) || cfg.rtol + cfg.atol <= 0)
    throw Error("odeint: rtol and atol must be >= 0 and not both 0");
  if (cfg.max_steps < 1) throw Error("odeint: maxSteps must be at least 1");
}

}  // namespace nc
