// ODE integration over a compiled right-hand side: dy/dt = rhs(t, y). The whole loop runs here,
// calling GraphModule::forward once per stage, so autograd sees one graph from the parameters and
// y0 to every reported state. The state is [n], or [B, n] for a batch of initial conditions that
// integrate together (adaptive methods share one step size across the batch).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "graph.h"

namespace nc {

enum class OdeMethod { Euler, Rk4, Dopri5 };

/** What one input of the rhs program receives at each stage. */
struct OdeSlot {
  enum class Kind { State, Component, Time, Constant };
  Kind kind = Kind::Constant;
  int64_t component = 0;  // Component: which column of the state
  at::Tensor value;       // Constant: the value, shared across the batch
};

struct OdeProblem {
  std::vector<OdeSlot> slots;  // one per program input, in program order
  /** Whether the program's result carries the batch dimension when the state does (it does not when it ignores the
   * state). */
  bool result_batched = true;
  /** Optional [B] start times added to the integration time, making the time input [B] (multiple shooting). */
  at::Tensor time_offsets;
};

struct OdeConfig {
  OdeMethod method = OdeMethod::Dopri5;
  double step = 0;  // Euler/RK4: largest step; 0 = one step per reported interval
  double rtol = 1e-6;
  double atol = 1e-8;
  int64_t max_steps = 10000;  // step attempts, over the whole integration
  bool need_grad = false;
};

/** The state at each of `times` (strictly increasing; times[0] is y0's time): [T, n] or [T, B, n]. */
at::Tensor odeint(GraphModule& rhs, const OdeProblem& problem, const at::Tensor& y0, const std::vector<double>& times,
                  const OdeConfig& config);

}  // namespace nc
