#include "fit.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "distributed.h"
#include "errors.h"
#include "fit_objective.h"

namespace nc {
namespace {

using at::Tensor;

std::string num(double v) { return number_text(v, 6); }

/** "k = 1.5, w = [0.1, 0.2]", with large tensors summarised, for error messages. */
std::string describe_params(const FitTask& task) {
  std::string out;
  for (size_t i = 0; i < task.params.size(); ++i) {
    Tensor v = task.params[i].detach().to(at::kCPU, at::kDouble).contiguous().flatten();
    const double* d = v.data_ptr<double>();
    std::string value;
    if (task.params[i].dim() == 0)
      value = num(d[0]);
    else if (v.numel() <= 6) {
      for (int64_t j = 0; j < v.numel(); ++j) value += (j ? ", " : "") + num(d[j]);
      value = "[" + value + "]";
    } else {
      value = std::to_string(v.numel()) + " values" + (at::isfinite(v).all().item<bool>() ? "" : ", some not finite");
    }
    out += (i ? ", " : "") + task.names[i] + " = " + value;
  }
  return out;
}

/**
 * "k is inf" or "w has 3 of 64 values not finite", for the first parameter whose gradient is not
 * finite; empty when every gradient is.
 */
std::string non_finite_gradient(const FitTask& task) {
  for (size_t i = 0; i < task.params.size(); ++i) {
    const Tensor& g = task.params[i].grad();
    if (!g.defined()) continue;
    const int64_t bad = g.numel() - at::isfinite(g).sum().item<int64_t>();
    if (bad == 0) continue;
    if (g.numel() == 1) return task.names[i] + " is " + num(g.item<double>());
    return task.names[i] + " has " + std::to_string(bad) + " of " + std::to_string(g.numel()) + " values not finite";
  }
  return "";
}

Tensor pick(const Tensor& t, const Tensor& index, int64_t dim) {
  return index.defined() ? t.index_select(dim, index) : t;
}

Tensor loss_of(LossKind kind, const Tensor& y, const Tensor& target) {
  switch (kind) {
    case LossKind::Mse:
      return at::mse_loss(y, target);
    case LossKind::Mae:
      return at::l1_loss(y, target);
    case LossKind::Huber:
      return at::huber_loss(y, target, at::Reduction::Mean, 1.0);
  }
  throw Error("fit: unknown loss");
}

/**
 * The libtorch path's loss: the prediction and its target for the samples in `index`, from
 * `predict`, under the fit's loss; with `grad`, a finite loss is backpropagated.
 */
using Prediction = std::function<std::pair<Tensor, Tensor>(const Tensor& index, bool grad, bool lenient)>;
LossFunction autograd_loss(LossKind kind, Prediction predict) {
  return [kind, predict = std::move(predict)](const Tensor& index, bool grad, bool lenient) {
    auto [y, target] = predict(index, grad, lenient);
    Tensor loss = loss_of(kind, y, target);
    const double value = loss.item<double>();
    if (grad && std::isfinite(value)) loss.backward();
    return value;
  };
}

Objective algebraic_objective(GraphModule& module, const AlgebraicData& d, LossKind kind) {
  if (!d.target.defined() || d.target.dim() < 1 || d.target.size(0) < 1)
    throw Error("fit: the target needs at least one sample");
  const int64_t n = d.target.size(0);
  for (size_t i = 0; i < d.inputs.size(); ++i)
    if (d.inputs[i].dim() < 1 || d.inputs[i].size(0) != n)
      throw Error("fit: input " + std::to_string(i) + " does not hold the target's " + std::to_string(n) +
                  " samples in its first dimension");
  // The rows of the last index, kept while the same index tensor comes again: a distributed fit's
  // share of the full batch is the same rows every evaluation (distributed_fit.cpp).
  struct Picked {
    Tensor index;
    std::vector<Tensor> in;
    Tensor target;
  };
  auto last = std::make_shared<Picked>();
  auto rows = [&d, last](const Tensor& index) -> const Picked& {
    if (!index.defined() || !index.is_same(last->index)) {
      last->in.clear();
      for (const Tensor& x : d.inputs) last->in.push_back(pick(x, index, 0));
      last->target = pick(d.target, index, 0);
      last->index = index;
    }
    return *last;
  };
  LossFunction autograd = autograd_loss(kind, [&module, rows](const Tensor& index, bool grad, bool) {
    const Picked& picked = rows(index);
    Tensor y = module.forward(picked.in, grad);
    if (!y.sizes().equals(picked.target.sizes()))
      throw Error("fit: the program returns shape " + c10::str(y.sizes()) + " for the batch but the target has shape " +
                  c10::str(picked.target.sizes()));
    return std::make_pair(y, picked.target);
  });
  // A result that is one fused node: forward, the loss and backward in one pass over the rows.
  // It declines alike for every batch (the result is not a fused node, the data not on the CPU, ...):
  // after a first decline, which may have evaluated the operands, it is not tried again.
  Objective objective{n, true, {}, std::make_shared<bool>(false)};
  objective.loss = [&module, rows, kind, autograd, unfused = objective.unfused](const Tensor& index, bool grad,
                                                                                bool lenient) {
    if (grad && !*unfused) {
      const Picked& picked = rows(index);
      if (const std::optional<double> loss = module.loss_backward(picked.in, picked.target, kind)) return *loss;
      *unfused = true;
    }
    return autograd(index, grad, lenient);
  };
  return objective;
}

/**
 * The objective plus strength * sum(p^2) over the penalised params, the penalty's gradient (2 strength p)
 * added to theirs where the step asks for gradients: it keeps learned components from taking over what
 * the named constants should explain.
 */
Objective with_weight_penalty(Objective objective, const FitTask& task) {
  std::vector<Tensor> penalised;
  for (size_t k = 0; k < task.params.size(); ++k)
    if (task.config.penalised[k]) penalised.push_back(task.params[k]);
  const double strength = task.config.weight_penalty;
  objective.loss = [inner = std::move(objective.loss), penalised, strength](const Tensor& index, bool grad,
                                                                            bool lenient) {
    const double value = inner(index, grad, lenient);
    at::NoGradGuard no_grad;
    Tensor sum = at::zeros({}, at::kDouble);
    for (const Tensor& p : penalised) sum += p.pow(2).sum().to(at::kDouble);
    // A non-finite loss leaves its step without gradients (nothing moves): the penalty's are no exception.
    if (grad && std::isfinite(value))
      for (const Tensor& p : penalised) {
        Tensor& g = const_cast<Tensor&>(p).mutable_grad();
        if (g.defined())
          g.add_(p, 2 * strength);
        else
          g = p.detach() * (2 * strength);
      }
    return value + strength * sum.item<double>();
  };
  return objective;
}

}  // namespace

int64_t shooting_windows(const OdeData& d) {
  const int64_t T = static_cast<int64_t>(d.times.size());
  const int64_t k = d.window_steps;
  const int64_t windows = k == 0 ? 1 : (T - 1) / k;
  if (windows < 1)
    throw Error("fit: windows of " + std::to_string(k) + " steps need at least " + std::to_string(k + 1) +
                " observations, got " + std::to_string(T));
  for (int64_t w = 1; k > 0 && w < windows; ++w)
    for (int64_t j = 1; j <= k; ++j) {
      const double want = d.times[j] - d.times[0];
      const double got = d.times[w * k + j] - d.times[w * k];
      if (std::abs(got - want) > 1e-9 * std::max(1.0, std::abs(d.times[w * k + j])))
        throw Error("fit: multiple shooting needs evenly spaced windows, but window " + std::to_string(w) +
                    " differs from window 0 at step " + std::to_string(j));
    }
  const Tensor& s = d.starts;
  if (s.defined() && (s.dim() != 2 || s.size(0) != windows || s.size(1) != d.observations.size(1) ||
                      s.scalar_type() != d.observations.scalar_type() || s.device() != d.observations.device()))
    throw Error("fit: internal: the trained start states must be [" + std::to_string(windows) + ", " +
                std::to_string(d.observations.size(1)) + "] like the observations, got " + c10::str(s.sizes()));
  return windows;
}

namespace {

/**
 * odeint, or, when lenient (non-finite losses are skipped rather than errors, or this is a line
 * search's trial point), a NaN prediction of `like`'s shape for a solution that blows up: it then
 * counts as a non-finite loss like any other.
 */
Tensor solve(GraphModule& module, const OdeProblem& problem, const Tensor& y0, const std::vector<double>& times,
             const OdeConfig& config, bool lenient, const Tensor& like) {
  try {
    return odeint(module, problem, y0, times, config);
  } catch (const OdeBlowUp&) {
    if (!lenient) throw;
    return at::full(like.sizes(), std::numeric_limits<double>::quiet_NaN(), like.options());
  }
}

Objective ode_objective(GraphModule& module, OdeData& d, LossKind kind) {
  const Tensor& obs = d.observations;
  const int64_t T = static_cast<int64_t>(d.times.size());
  if (!obs.defined() || obs.dim() != 2 || obs.size(0) != T || obs.size(1) < 1)
    throw Error("fit: the observations must have shape [T, n] with one row per time");
  if (T < 2) throw Error("fit: at least 2 observations are needed, got " + std::to_string(T));
  const int64_t windows = shooting_windows(d);
  const int64_t k = d.window_steps;
  if (k == 0)
    return {1, false, autograd_loss(kind, [&module, &d](const Tensor&, bool grad, bool lenient) {
              OdeConfig config = d.config;
              config.need_grad = grad;
              const Tensor y0 = d.starts.defined() ? d.starts[0] : d.observations[0];
              return std::make_pair(solve(module, d.problem, y0, d.times, config, lenient, d.observations),
                                    d.observations);
            })};
  std::vector<double> relative;
  for (int64_t j = 0; j <= k; ++j) relative.push_back(d.times[j] - d.times[0]);
  // targets[j, w] = observation w*k + j; row 0 holds the window starts.
  Tensor rows = at::arange(k + 1).unsqueeze(1) + at::arange(windows).unsqueeze(0) * k;
  Tensor targets = obs.index_select(0, rows.flatten()).view({k + 1, windows, obs.size(1)});
  std::vector<double> starts;
  for (int64_t w = 0; w < windows; ++w) starts.push_back(d.times[w * k]);
  Tensor offsets = at::tensor(starts, at::kDouble);
  return {windows, true,
          autograd_loss(kind, [&module, &d, relative, targets, offsets](const Tensor& index, bool grad, bool lenient) {
            OdeProblem problem = d.problem;
            problem.time_offsets = pick(offsets, index, 0);
            OdeConfig config = d.config;
            config.need_grad = grad;
            Tensor target = pick(targets, index, 1);
            const Tensor y0 = d.starts.defined() ? pick(d.starts, index, 0) : target[0];
            return std::make_pair(solve(module, problem, y0, relative, config, lenient, target), target);
          })};
}

/** Marks an error whose message already names the step and the parameters. */
struct Named {};

/** A named error of the cause's type, so that an OdeBlowUp stays one on its way out (to JS, as its kind). */
template <class Cause>
struct NamedError : Cause, Named {
  using Cause::Cause;
};
using StepError = NamedError<Error>;

/** Runs f, rethrowing a failure with when it happened and the parameter values then. */
template <class F>
double naming_state(const FitTask& task, const std::string& what, F&& f) {
  const auto named = [&](const std::string& cause) {
    return what + ": " + cause + " (parameters: " + describe_params(task) + ")";
  };
  try {
    return f();
  } catch (const Named&) {
    throw;
  } catch (const c10::Error& e) {
    throw StepError(named(std::string("libtorch: ") + e.what_without_backtrace()));
  } catch (const OdeBlowUp& e) {
    throw NamedError<OdeBlowUp>(named(e.what()));
  } catch (const DistributedError& e) {
    throw NamedError<DistributedError>(e.what());
  } catch (const Error& e) {
    throw StepError(named(e.what()));
  }
}

/** One optimizer step on the samples in `index`; returns the loss before the update. */
double take_step(FitTask& task, Objective& objective, const Tensor& index, int64_t step) {
  const FitConfig& c = task.config;
  const std::string where = " at step " + std::to_string(step);
  // The first evaluation is at the step's parameters; later ones (L-BFGS) are trial points, where a
  // non-finite loss or gradient only tells the line search to shrink the step.
  int evaluations = 0;
  auto closure = [&]() -> Tensor {
    const bool trial = evaluations++ > 0;
    task.optimizer->zero_grad();
    const double value = objective.loss(index, true, trial || !c.stop_on_non_finite);
    const Tensor loss = at::scalar_tensor(value, at::kDouble);
    if (!std::isfinite(value)) {
      if (c.stop_on_non_finite && !trial)
        throw StepError("fit: the loss is " + num(value) + where + " (parameters: " + describe_params(task) +
                        "); lower the learning rate, clip the gradients or start closer to the solution");
      return loss;  // no gradient: the gradients stay undefined and this step updates nothing
    }
    // A finite loss with a non-finite gradient would make the parameters NaN silently, and the
    // next step's loss would then point at the wrong step and the wrong cause.
    const std::string bad = non_finite_gradient(task);
    if (!bad.empty() && trial) {
      for (Tensor& p : task.params) p.mutable_grad().reset();
      return at::scalar_tensor(std::numeric_limits<double>::quiet_NaN(), at::kDouble);
    }
    if (!bad.empty()) {
      if (c.stop_on_non_finite)
        throw StepError("fit: the gradient of " + bad + where + ", where the loss is " + num(value) +
                        " (parameters: " + describe_params(task) +
                        "); the program's derivative is not finite there (sqrt, log or a division at 0?): " +
                        "use safe-sqrt or safe-log, or start elsewhere");
      for (Tensor& p : task.params) p.mutable_grad().reset();  // like a non-finite loss: this step updates nothing
      return loss;
    }
    if (c.clip > 0) clip_grad_norm(task.params, c.clip, 2);
    return loss;
  };
  return naming_state(task, "fit: failed" + where, [&] { return task.optimizer->step(closure).item<double>(); });
}

/** The loss on all the data at the trained parameters. */
double final_loss(FitTask& task, Objective& objective, int64_t steps) {
  const std::string where = " after step " + std::to_string(steps);
  const double value = naming_state(task, "fit: evaluating the final loss failed" + where, [&] {
    at::NoGradGuard no_grad;
    return objective.loss(Tensor(), false, !task.config.stop_on_non_finite);
  });
  if (!std::isfinite(value) && task.config.stop_on_non_finite)
    throw Error("fit: the loss is " + num(value) + where + " (parameters: " + describe_params(task) + ")");
  return value;
}

/**
 * Whether the step just taken converged: L-BFGS says so itself; for the other optimizers, on the
 * full batch, the step's gradient (at its start) is within the gradient tolerance.
 */
FitStop convergence(const FitTask& task, bool full_batch) {
  switch (task.optimizer->convergence()) {
    case Convergence::Gradient:
      return FitStop::GradientTolerance;
    case Convergence::Loss:
      return FitStop::LossPlateau;
    case Convergence::None:
      break;
  }
  if (!full_batch || task.config.gradient_tolerance <= 0) return FitStop::Epochs;
  double largest = 0;
  for (const Tensor& p : task.params) {
    if (!p.grad().defined()) return FitStop::Epochs;  // a skipped (non-finite) step
    largest = std::max(largest, p.grad().abs().max().item<double>());
  }
  return largest <= task.config.gradient_tolerance ? FitStop::GradientTolerance : FitStop::Epochs;
}

std::vector<Tensor> snapshot(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.detach().clone());
  return out;
}

// The turns to train: how many fits hold one, and how many may.
std::mutex g_turns_mutex;
std::condition_variable g_turn_freed;
int g_training = 0;
int g_max_training = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

}  // namespace

FitTurn::FitTurn(const std::atomic<bool>& cancel) {
  std::unique_lock<std::mutex> lock(g_turns_mutex);
  // Cancellation sets a flag without notifying: waking now and then to look at it is simpler than
  // giving every canceller the condition variable.
  while (g_training >= g_max_training && !cancel.load()) g_turn_freed.wait_for(lock, std::chrono::milliseconds(20));
  if (g_training < g_max_training) {
    ++g_training;
    held_ = true;
  }
}

FitTurn::~FitTurn() {
  if (!held_) return;
  {
    std::lock_guard<std::mutex> lock(g_turns_mutex);
    --g_training;
  }
  g_turn_freed.notify_one();
}

int max_concurrent_fits() {
  std::lock_guard<std::mutex> lock(g_turns_mutex);
  return g_max_training;
}

void set_max_concurrent_fits(int n) {
  if (n < 1 || n > 1024)
    throw Error("setMaxConcurrentFits takes a whole number from 1 to 1024, got " + std::to_string(n));
  {
    std::lock_guard<std::mutex> lock(g_turns_mutex);
    g_max_training = n;
  }
  g_turn_freed.notify_all();
}

FitResult fit(FitTask& task, const std::function<void(const FitProgress&)>& progress, const std::atomic<bool>& cancel) {
  if (!task.module || !task.optimizer || task.names.size() != task.params.size() || !task.algebraic == !task.ode)
    throw Error("fit: internal: incomplete task");
  const FitConfig& c = task.config;
  if (c.epochs < 0)
    throw Error("fit: epochs must not be negative");  // 0: only the final loss (an abort before the start)
  if (!c.penalised.empty() && c.penalised.size() != task.params.size())
    throw Error("fit: internal: one penalty flag per parameter");
  if (task.collective) join_ranks(task);
  Objective data = task.tape        ? tier_objective(task)
                   : task.algebraic ? algebraic_objective(*task.module, *task.algebraic, c.loss)
                                    : ode_objective(*task.module, *task.ode, c.loss);
  // A distributed fit stops where every rank does: when any rank is cancelled, as the shares' sum says.
  bool cancelled_somewhere = false;
  const double communicated = task.collective ? task.collective->seconds() : 0;
  // The ranks share the data's loss; the penalty, on parameters every rank holds alike, comes after.
  if (task.collective) data = shared_objective(std::move(data), task, cancel, cancelled_somewhere);
  const bool penalty =
      c.weight_penalty > 0 && std::find(c.penalised.begin(), c.penalised.end(), 1) != c.penalised.end();
  Objective objective = penalty ? with_weight_penalty(data, task) : data;
  if (c.batch_size > 0 && !objective.splittable)
    throw Error(
        "fit: batchSize needs samples to draw from, but a single trajectory is one sample; give ode.windowSteps for "
        "multiple shooting");
  const int64_t batch = c.batch_size > 0 ? std::min(c.batch_size, objective.samples) : objective.samples;
  const int64_t per_epoch = (objective.samples + batch - 1) / batch;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(c.seed);

  FitResult result;
  double best = std::numeric_limits<double>::infinity();
  int64_t stale = 0;
  int64_t reported = 0;
  double last = 0;
  auto report = [&] {
    if (progress && c.progress_every > 0 && result.steps > reported) {
      progress({result.steps, last, snapshot(task.params)});
      reported = result.steps;
    }
  };
  for (int64_t epoch = 0; epoch < c.epochs && result.stopped == FitStop::Epochs; ++epoch) {
    Tensor order = batch < objective.samples ? at::randperm(objective.samples, generator) : Tensor();
    double sum = 0;
    int64_t finite = 0;
    for (int64_t b = 0; b < per_epoch; ++b) {
      if (task.collective ? cancelled_somewhere : cancel.load()) {
        result.stopped = FitStop::Aborted;
        break;
      }
      Tensor index =
          order.defined() ? order.slice(0, b * batch, std::min(objective.samples, (b + 1) * batch)) : Tensor();
      if (!c.lrs.empty()) task.optimizer->set_lr(c.lrs[std::min<size_t>(result.steps, c.lrs.size() - 1)]);
      last = take_step(task, objective, index, result.steps + 1);
      ++result.steps;
      if (const FitStop converged = convergence(task, per_epoch == 1); converged != FitStop::Epochs) {
        result.stopped = converged;
        break;
      }
      if (std::isfinite(last)) {
        sum += last;
        ++finite;
      }
      if (c.progress_every > 0 && result.steps % c.progress_every == 0) report();
    }
    if (result.stopped != FitStop::Epochs || c.patience == 0 || finite == 0) continue;
    const double mean = sum / static_cast<double>(finite);
    if (mean < best - c.min_delta) {
      best = mean;
      stale = 0;
    } else if (++stale >= c.patience) {
      result.stopped = FitStop::LossPlateau;
    }
  }
  report();
  result.loss = final_loss(task, data, result.steps);
  result.fused = result.steps > 0 && !*objective.unfused;
  if (task.collective) result.communication_seconds = task.collective->seconds() - communicated;
  return result;
}

}  // namespace nc
