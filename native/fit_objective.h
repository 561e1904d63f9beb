// What fit() minimises: a loss over samples that can be drawn in minibatches, with its gradient.
// The libtorch path (fit.cpp) predicts through GraphModule and odeint and backpropagates; the
// small-program tier's (tier_fit.cpp) computes the loss and its gradient sample by sample.
#pragma once
#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "fit.h"

namespace nc {

/**
 * The loss on the samples in `index` (all of them when undefined). With `grad`, a finite loss
 * leaves its gradient in the trained params' .grad (a non-finite one leaves none); with `lenient`,
 * an ODE solution that blows up is a NaN loss instead of an OdeBlowUp.
 */
using LossFunction = std::function<double(const at::Tensor& index, bool grad, bool lenient)>;

struct Objective {
  int64_t samples = 1;
  bool splittable = true;
  LossFunction loss;
  /**
   * Set once an evaluation of the gradient did not take the fused pass (fused_loss_grad): from then on
   * none tries it. FitResult::fused is its negation (for an objective that has the pass).
   */
  std::shared_ptr<bool> unfused = std::make_shared<bool>(true);
};

/**
 * The ODE data's samples: its shooting windows (1 for the whole trajectory), checked: there is at
 * least one, they all have window 0's spacing (they integrate as one batch over the same relative
 * times), and trained start states hold one row per window, like the observations.
 */
int64_t shooting_windows(const OdeData& d);

/** The task's objective on the small-program tier (task.tape is set): algebraic or ODE, as the task's data. */
Objective tier_objective(FitTask& task);

/**
 * Before a distributed fit's first step: checks that every rank runs the same fit (the agreement,
 * the parameters' names and shapes, the data), then gives every rank rank 0's parameter values.
 */
void join_ranks(FitTask& task);

/**
 * One rank's share of a distributed fit's objective: the loss (and gradient) on its share of each
 * evaluation's samples, summed with the other ranks' as the whole batch's mean. A failure on any
 * rank fails every rank at the same evaluation; `stop` becomes whether any rank has `cancel` set.
 */
Objective shared_objective(Objective local, FitTask& task, const std::atomic<bool>& cancel, bool& stop);

}  // namespace nc
