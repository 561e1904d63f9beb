// Data-parallel fits: each rank evaluates its share of a step's samples and the shares' losses and
// gradients are summed over the ranks (distributed.h), inside the fit loop of fit.cpp. Every rank
// then holds the same loss and gradient, so its optimizer takes the same step.
#include <ATen/ATen.h>

#include <cstring>
#include <exception>

#include "distributed.h"
#include "errors.h"
#include "fit_objective.h"

namespace nc {
namespace {

using at::Tensor;

/** FNV-1a, 64 bits: a summary of what the ranks compare, not a secret. */
uint64_t fnv(const void* data, size_t bytes, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t fnv(const std::string& s) { return fnv(s.data(), s.size()); }

uint64_t fnv(const Tensor& t, uint64_t h) {
  const Tensor c = t.detach().to(at::kCPU).contiguous();
  const std::string shape = c10::str(c.sizes(), c.scalar_type());
  return fnv(c.data_ptr(), c.nbytes(), fnv(shape.data(), shape.size(), h));
}

uint64_t data_hash(const FitTask& task) {
  uint64_t h = 0;
  if (task.algebraic) {
    for (const Tensor& x : task.algebraic->inputs) h = fnv(x, h);
    return fnv(task.algebraic->target, h);
  }
  const OdeData& d = *task.ode;
  h = fnv(d.observations, fnv(d.times.data(), d.times.size() * sizeof(double), h));
  return fnv(&d.window_steps, sizeof d.window_steps, h);
}

std::string rank_of(const Collective& group) {
  return "rank " + std::to_string(group.spec().rank) + " of " + std::to_string(group.spec().world_size);
}

}  // namespace

void join_ranks(FitTask& task) {
  Collective& group = *task.collective;
  std::vector<std::pair<std::string, uint64_t>> parts;
  for (const auto& [what, text] : task.agreement) parts.emplace_back(what, fnv(text));
  std::string params;
  for (size_t i = 0; i < task.params.size(); ++i)
    params += task.names[i] + c10::str(task.params[i].sizes(), task.params[i].scalar_type()) + ";";
  parts.emplace_back("parameters (names, shapes or dtypes)", fnv(params));
  parts.emplace_back("data", data_hash(task));
  Tensor mine = at::empty({static_cast<int64_t>(parts.size())}, at::kLong);
  for (size_t i = 0; i < parts.size(); ++i) std::memcpy(mine.data_ptr<int64_t>() + i, &parts[i].second, 8);
  const Tensor all = group.allgather(mine.to(group.device())).to(at::kCPU);
  for (int64_t r = 1; r < all.size(0); ++r)
    for (size_t i = 0; i < parts.size(); ++i)
      if (all[r][i].item<int64_t>() != all[0][i].item<int64_t>())
        throw DistributedError("fit: ranks " + std::to_string(r) + " and 0 disagree on the " + parts[i].first +
                               " (seen by " + rank_of(group) + "): every rank of a distributed fit runs the same " +
                               "program on the same data with the same settings and parameter shapes, and takes its " +
                               "own share of the samples");
  std::vector<Tensor> flat;
  for (const Tensor& p : task.params) flat.push_back(p.detach().to(group.device(), at::kDouble).reshape(-1));
  Tensor values = at::cat(flat);
  group.broadcast(values);
  at::NoGradGuard no_grad;
  int64_t at = 0;
  for (Tensor& p : task.params) {
    p.detach().copy_(values.slice(0, at, at + p.numel()).view(p.sizes()));
    at += p.numel();
  }
}

Objective shared_objective(Objective local, FitTask& task, const std::atomic<bool>& cancel, bool& stop) {
  Collective& group = *task.collective;
  const int rank = group.spec().rank, world = group.spec().world_size;
  const int64_t samples = local.samples;
  // The full batch's share, one tensor for every evaluation (the libtorch path picks its rows once).
  const Tensor whole = at::arange(samples * rank / world, samples * (rank + 1) / world);
  LossFunction loss = [mine = std::move(local.loss), samples, whole, rank, world, &task, &group, &cancel, &stop](
                          const Tensor& index, bool grad, bool lenient) {
    const int64_t n = index.defined() ? index.numel() : samples;
    const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
    const Tensor share = index.defined() ? index.slice(0, begin, end) : whole;
    // Each share's loss is the mean over its samples (each sample has as many elements): weighted by
    // its part of the batch, the shares sum to the batch's mean, and so do their gradients.
    const double weight = static_cast<double>(end - begin) / static_cast<double>(n);
    // The buffer summed over the ranks, on the group's device: a head of the weighted loss; whether a
    // rank is cancelled; each rank's failure (1, or 2 for an OdeBlowUp); with grad, per param whether
    // it has a gradient; then, with grad, the weighted gradients (zeros for a param without one). The
    // head is written on the CPU and joins the gradients (which stay on their device) in one copy.
    const int64_t head_size = 2 + world + (grad ? static_cast<int64_t>(task.params.size()) : 0);
    Tensor head = at::zeros({head_size}, at::kDouble);
    double* b = head.data_ptr<double>();
    std::exception_ptr failure;
    if (end > begin) try {
        b[0] = mine(share, grad, lenient) * weight;
      } catch (const OdeBlowUp&) {
        failure = std::current_exception();
        b[2 + rank] = 2;
      } catch (...) {
        failure = std::current_exception();
        b[2 + rank] = 1;
      }
    b[1] = cancel.load() ? 1 : 0;
    const at::TensorOptions on = at::TensorOptions(group.device()).dtype(at::kDouble);
    std::vector<Tensor> parts{Tensor()};
    const bool sending = grad && !failure && std::isfinite(b[0]);
    for (size_t i = 0; grad && i < task.params.size(); ++i) {
      const Tensor& p = task.params[i];
      const bool has = sending && p.grad().defined();
      b[2 + world + i] = has ? 1 : 0;
      parts.push_back(has ? p.grad().reshape(-1).to(on) * weight : at::zeros({p.numel()}, on));
    }
    parts[0] = head.to(group.device());
    Tensor buffer = at::cat(parts);
    group.allreduce_sum(buffer);
    head = buffer.slice(0, 0, head_size).to(at::kCPU);
    b = head.data_ptr<double>();
    stop = b[1] > 0;
    for (int r = 0; r < world; ++r) {
      if (b[2 + r] == 0) continue;
      if (failure) std::rethrow_exception(failure);
      const std::string what = "fit: " + rank_of(group) + " stops: rank " + std::to_string(r) +
                               " failed on its share of the samples (its own error says why)";
      if (b[2 + r] == 2) throw OdeBlowUp(what + ": the ODE solution blew up there");
      throw Error(what);
    }
    if (!grad) return b[0];
    int64_t at = head_size;
    for (size_t i = 0; i < task.params.size(); ++i) {
      Tensor& p = task.params[i];
      if (std::isfinite(b[0]) && b[2 + world + i] > 0)
        // A copy even in the buffer's dtype: optimizers detach gradients in place, which a view refuses.
        p.mutable_grad() = buffer.slice(0, at, at + p.numel()).view(p.sizes()).to(p.options(), false, true);
      else
        p.mutable_grad().reset();  // no rank reached it, or the loss is not finite: no gradient, as on one rank
      at += p.numel();
    }
    return b[0];
  };
  return {samples, local.splittable, std::move(loss), local.unfused};
}

}  // namespace nc
