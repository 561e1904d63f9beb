// A whole training loop over a compiled program: minibatches, optimizer steps, learning-rate
// schedule, gradient clipping, early stopping and cancellation, with no JS in between. It is meant
// to run on a worker thread; it touches only the tensors it was given.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graph.h"
#include "loss.h"
#include "ode.h"
#include "optim.h"
#include "tape.h"

namespace nc {

class Collective;

/** Algebraic fitting: every input carries the N samples in dimension 0; the target is [N, ...]. */
struct AlgebraicData {
  std::vector<at::Tensor> inputs;
  at::Tensor target;
};

/**
 * How the small-program tier takes an ODE fit's gradient (the libtorch path ignores it): a reverse
 * sweep over the kept steps, or forward sensitivities carried through the solve.
 */
enum class OdeGradient { Reverse, Forward };
/** Their names in enum order, as fit's TS side passes them (src/train/ode-gradient.ts). */
inline constexpr std::array<const char*, 2> kOdeGradientNames{"reverse", "forward"};

/** ODE fitting: the rhs integrated from observed states [T, n] taken at `times`. */
struct OdeData {
  OdeProblem problem;  // time_offsets are set by fit (multiple shooting)
  OdeConfig config;    // need_grad is set by fit
  at::Tensor observations;
  std::vector<double> times;
  /** Observation intervals per shooting window; 0 integrates one trajectory from the first row. */
  int64_t window_steps = 0;
  /**
   * Optional: trained start states [windows, n] (one row, [1, n], for the whole trajectory), one of
   * the task's params; each window is integrated from its row instead of its first observation.
   */
  at::Tensor starts;
  /** On the small-program tier: how the gradient is taken (fit's TS side chooses: ode.sensitivities). */
  OdeGradient gradient = OdeGradient::Reverse;
};

struct FitConfig {
  int64_t epochs = 1;
  /** Samples (algebraic) or windows (multiple shooting) per step; 0 is the full batch. */
  int64_t batch_size = 0;
  /** Seeds the generator that shuffles the minibatches. */
  uint64_t seed = 0;
  /** The learning rate of each step (the schedule, computed by the caller); empty keeps the optimizer's. */
  std::vector<double> lrs;
  /** Largest joint gradient norm (2-norm); 0 disables clipping. */
  double clip = 0;
  LossKind loss = LossKind::Mse;
  /** Report every this many steps (and the last step); 0 never reports. */
  int64_t progress_every = 0;
  /** Epochs without an improvement of more than min_delta before stopping; 0 disables early stopping. */
  int64_t patience = 0;
  double min_delta = 0;
  /** Whether a non-finite loss is an error; otherwise that step is skipped (no update). */
  bool stop_on_non_finite = true;
  /**
   * Full-batch first-order optimizers stop once the largest absolute gradient entry of a step is at
   * most this (L-BFGS checks its own tolerances inside its step).
   */
  double gradient_tolerance = 0;
  /**
   * The penalty strength * sum(p^2) over the params marked in `penalised` (the learned components'
   * weights), added to every step's loss and gradient; the reported final loss leaves it out.
   */
  double weight_penalty = 0;
  std::vector<char> penalised;
};

struct FitProgress {
  int64_t step = 0;                // 1-based optimizer steps taken
  double loss = 0;                 // this step's (minibatch) loss, before its update
  std::vector<at::Tensor> params;  // detached copies
};

/** Why a fit stopped: its epochs ran out, it converged (by gradient or loss), or it was cancelled. */
enum class FitStop { Epochs, GradientTolerance, LossPlateau, Aborted };
/** The reasons' names in enum order: src/train/fit.ts's StopReason. */
inline constexpr std::array<const char*, 4> kFitStopNames{"epochs", "gradient-tolerance", "loss-plateau", "aborted"};

struct FitResult {
  double loss = 0;  // on the whole data set, at the final parameters
  int64_t steps = 0;
  FitStop stopped = FitStop::Epochs;
  /** A distributed fit's time in collectives (summing losses and gradients over the ranks). */
  double communication_seconds = 0;
  /** Whether every gradient of the loss was taken in the fused pass over the rows (fused_loss_grad), none by autograd.
   */
  bool fused = false;
};

struct FitTask {
  std::shared_ptr<GraphModule> module;
  std::vector<at::Tensor> params;
  std::vector<std::string> names;  // for messages
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<AlgebraicData> algebraic;  // exactly one of algebraic and ode
  std::unique_ptr<OdeData> ode;
  FitConfig config;
  /**
   * Optional: the program on the small-program tier (scalar inputs and params; a scalar or a vector
   * literal of scalars as its result) and every param it reads, in its order (`params` are those of
   * them that train). Then each step's loss and gradient are computed there, without autograd.
   */
  std::shared_ptr<const TapeProgram> tape;
  std::vector<at::Tensor> tape_params;
  /**
   * Optional: the ranks of a data-parallel fit (distributed.h). Each rank computes the loss and the
   * gradient on its share of every step's samples and the shares are summed over the ranks, so every
   * rank takes the same steps. `agreement` names what the ranks must hold alike beyond the parameters'
   * shapes and the data, which fit compares itself (the caller's program text and settings).
   */
  std::shared_ptr<Collective> collective;
  std::vector<std::pair<std::string, std::string>> agreement;
};

/**
 * Trains task.params in place. Throws nc::Error for bad data (checked before the first step) and,
 * naming the step and the parameter values, for a non-finite loss or a failing step; an ODE that
 * blows up stays an OdeBlowUp. `cancel` is read before every step.
 */
FitResult fit(FitTask& task, const std::function<void(const FitProgress&)>& progress, const std::atomic<bool>& cancel);

/**
 * A turn to train: at most max_concurrent_fits() fits of the process train at once, so that fits
 * started together share the cores instead of oversubscribing them; the others wait here, in no
 * particular order, until a turn frees or `cancel` is set (then they go on without one, to stop at
 * once).
 */
class FitTurn {
 public:
  explicit FitTurn(const std::atomic<bool>& cancel);
  ~FitTurn();
  FitTurn(const FitTurn&) = delete;
  FitTurn& operator=(const FitTurn&) = delete;

 private:
  bool held_ = false;
};

/** Default: the number of hardware threads. */
int max_concurrent_fits();
void set_max_concurrent_fits(int n);

}  // namespace nc
