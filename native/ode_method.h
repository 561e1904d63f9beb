// What the two integrators share (odeint over libtorch tensors in ode.cpp, the small-program tier's
// in tier_fit.cpp): the Runge-Kutta tableaus, the step-size control, the fixed methods' substeps and
// the failures' messages, so that both take the same steps and fail with the same words.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "ode.h"

namespace nc {

/** An explicit Runge-Kutta method. With `fsal` the last stage is evaluated at the new state, so it is the next
 * step's first stage. */
struct Tableau {
  std::vector<double> c;
  std::vector<std::vector<double>> a;  // a[i]: weights of stages 0..i-1 for stage i
  std::vector<double> b;
  std::vector<double> e;  // b minus the embedded lower-order weights: the local error estimate
  bool fsal = false;
};

const Tableau& tableau(OdeMethod method);

/** The smallest step that still moves t by a meaningful amount in double precision. */
double min_step(double t);

/** The factor from a step's error ratio (accepted when <= 1) to the next step size. */
double step_factor(double ratio);

/**
 * Hairer's starting step from the RMS norms of the state (d0) and of its derivative (d1), both in
 * units of the tolerances; `d2_of(h0)` is the norm of the derivative's change over a trial step h0,
 * divided by h0. Throws OdeBlowUp for a derivative that is not finite at t0.
 */
double initial_step(double d0, double d1, double t0, const std::function<double(double)>& d2_of);

/** An adaptive step's next attempt toward the reported time `target`: its size, and whether it lands there. */
struct Attempt {
  double h;
  bool lands;
};

/**
 * From t with the proposed step h: lands exactly on `target` when only a sliver would remain.
 * Counts the attempt; throws OdeBlowUp for a collapsed step, nc::Error past cfg.max_steps.
 */
Attempt next_attempt(double t, double h, double target, const OdeConfig& cfg, int64_t& attempts);

/** The fixed methods' substeps per reported interval (the largest step cfg.step, or one). */
std::vector<int64_t> fixed_substeps(const std::vector<double>& times, const OdeConfig& cfg);

[[noreturn]] void throw_not_finite(double t);
[[noreturn]] void throw_too_many_steps(const OdeConfig& cfg, double reached, double target);
[[noreturn]] void throw_collapsed_step(double h, double t);
[[noreturn]] void throw_infinite_start(double t0);

/** Checks the times and the configuration (the state's shape and dtype are the caller's to check). */
void check_times_and_config(const std::vector<double>& times, bool float32, const OdeConfig& cfg);

}  // namespace nc
