#include "checkpoint.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>

#include "errors.h"

namespace nc {
namespace {

using at::Tensor;
using Tensors = std::vector<Tensor>;

/** The state entering one iteration: where a segment of the recomputation starts. */
struct Checkpoint {
  int64_t iteration;
  Tensors state;
};

/**
 * The segment starts the forward run keeps: every `stride` iterations. Doubling starts at stride 1
 * and, when the checkpoints outnumber twice the stride, keeps every other one and doubles it: after
 * N iterations at most 2s + 1 checkpoints remain, s < sqrt(2N) + 1, and a segment is s iterations.
 */
class Checkpoints {
 public:
  explicit Checkpoints(int64_t segment) : doubling_(segment == kCheckpointDoubling), stride_(doubling_ ? 1 : segment) {}

  void offer(int64_t iteration, const Tensors& state) {
    if (iteration % stride_ != 0) return;
    Tensors kept;
    for (const Tensor& t : state) kept.push_back(t.detach());
    kept_.push_back({iteration, std::move(kept)});
    if (!doubling_ || static_cast<int64_t>(kept_.size()) <= 2 * stride_) return;
    std::vector<Checkpoint> thinned;
    for (size_t j = 0; j < kept_.size(); j += 2) thinned.push_back(std::move(kept_[j]));
    kept_ = std::move(thinned);
    stride_ *= 2;
  }

  std::vector<Checkpoint> take() { return std::move(kept_); }

 private:
  const bool doubling_;
  int64_t stride_;
  std::vector<Checkpoint> kept_;
};

/** Runs `count` iterations from `state`; with `to_exit`, the last one is the exit: its result. */
Tensors run_iterations(const LoopIteration& body, Tensors state, const Tensors& context, int64_t count, bool to_exit) {
  for (int64_t i = 0; i < count; ++i) {
    Tensors out = body(state, context);
    if (to_exit && i == count - 1) return {out[1]};
    state.assign(out.begin() + 2, out.end());
  }
  return state;
}

/** Leaves for a recomputation: the same values, detached, recording from here when `grad`. */
Tensors leaves(const Tensors& values, const std::vector<char>& grad) {
  Tensors out;
  for (size_t j = 0; j < values.size(); ++j) {
    Tensor t = values[j].detach();
    if (grad[j] && t.is_floating_point()) t.requires_grad_(true);
    out.push_back(std::move(t));
  }
  return out;
}

Tensor add_defined(const Tensor& sum, const Tensor& term) {
  return !sum.defined() ? term : !term.defined() ? sum : sum + term;
}

/** The loop's autograd node: its edges are the initial state, then the context. */
struct CheckpointBackward : public torch::autograd::Node {
  std::shared_ptr<const LoopIteration> replay;
  std::string label;
  size_t num_state = 0;
  int64_t exit = 0;  // the iteration whose result is the loop's
  std::vector<torch::autograd::SavedVariable> saved;
  std::vector<Checkpoint> checkpoints;

  std::string name() const override { return "CheckpointedLoopBackward"; }
  void release_variables() override {
    saved.clear();
    checkpoints.clear();
  }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grad_outputs) override {
    if (saved.empty()) throw Error(label + ": the gradient of a checkpointed loop was already taken once");
    Tensors tensors;
    for (auto& v : saved) tensors.push_back(v.unpack());
    std::vector<char> wanted(tensors.size());
    for (size_t j = 0; j < tensors.size(); ++j) wanted[j] = task_should_compute_output(j);
    if (!grad_outputs[0].defined()) return Tensors(tensors.size());
    try {
      return c10::GradMode::is_enabled() ? recorded(tensors, wanted, grad_outputs[0])
                                         : segmented(tensors, wanted, grad_outputs[0]);
    } catch (const std::exception& e) {
      throw Error(label + ": recomputing the loop for its gradient failed: " + e.what());
    }
  }

  /** create_graph: the whole loop again, recorded from the saved tensors, so it differentiates again. */
  Tensors recorded(const Tensors& tensors, const std::vector<char>& wanted, const Tensor& grad) const {
    const Tensors state(tensors.begin(), tensors.begin() + num_state);
    const Tensors context(tensors.begin() + num_state, tensors.end());
    const Tensor result = run_iterations(*replay, state, context, exit + 1, true)[0];
    return differentiate({result}, {grad}, tensors, wanted, /*create_graph=*/true);
  }

  /** Each segment recomputed from its start, last first, carrying the state's gradient backwards. */
  Tensors segmented(const Tensors& tensors, const std::vector<char>& wanted, const Tensor& grad) const {
    const std::vector<char> context_wanted(wanted.begin() + num_state, wanted.end());
    const Tensors context =
        leaves(Tensors(tensors.begin() + num_state, tensors.end()), context_wanted);  // gradients stop here
    const std::vector<char> every_state(num_state, 1);
    std::vector<char> source_wanted = every_state;  // the segment's start state, then the context
    source_wanted.insert(source_wanted.end(), context_wanted.begin(), context_wanted.end());
    Tensors state_grad(num_state), context_grad(context.size());
    int64_t end = exit + 1;  // where the segment after the current one starts
    for (size_t j = checkpoints.size(); j-- > 0;) {
      const Checkpoint& start = checkpoints[j];
      const bool last = end == exit + 1;
      const Tensors from = leaves(start.state, every_state);
      Tensors produced;
      {
        c10::AutoGradMode recording(true);
        produced = run_iterations(*replay, from, context, end - start.iteration, last);
      }
      end = start.iteration;
      Tensors sources = from;
      sources.insert(sources.end(), context.begin(), context.end());
      const Tensors found =
          differentiate(produced, last ? Tensors{grad} : state_grad, sources, source_wanted, /*create_graph=*/false);
      state_grad.assign(found.begin(), found.begin() + num_state);
      for (size_t c = 0; c < context.size(); ++c) context_grad[c] = add_defined(context_grad[c], found[num_state + c]);
    }
    Tensors grads = state_grad;
    grads.insert(grads.end(), context_grad.begin(), context_grad.end());
    for (size_t j = 0; j < grads.size(); ++j)
      if (!wanted[j]) grads[j] = Tensor();
    return grads;
  }

  /**
   * The gradients of `outputs` (seeded with `seeds`; an undefined seed or an output that records
   * nothing contributes nothing) with respect to the wanted `sources`; undefined where none flows.
   */
  static Tensors differentiate(const Tensors& outputs, const Tensors& seeds, const Tensors& sources,
                               const std::vector<char>& wanted, bool create_graph) {
    Tensors outs, grads, from;
    for (size_t j = 0; j < outputs.size(); ++j)
      if (seeds[j].defined() && outputs[j].requires_grad()) {
        outs.push_back(outputs[j]);
        grads.push_back(seeds[j]);
      }
    for (size_t j = 0; j < sources.size(); ++j)
      if (wanted[j] && sources[j].requires_grad()) from.push_back(sources[j]);
    Tensors result(sources.size());
    if (outs.empty() || from.empty()) return result;
    const Tensors found = torch::autograd::grad(outs, from, grads, /*retain_graph=*/create_graph, create_graph,
                                                /*allow_unused=*/true);
    for (size_t j = 0, f = 0; j < sources.size(); ++j)
      if (wanted[j] && sources[j].requires_grad()) result[j] = found[f++];
    return result;
  }
};

}  // namespace

std::optional<Tensor> run_checkpointed(const CheckpointedLoop& loop, const Tensors& initial, const Tensors& context) {
  Checkpoints kept(loop.segment);
  Tensors state = initial;
  Tensor result;
  int64_t exit = 0;
  {
    at::NoGradGuard no_tape;
    for (int64_t it = 0;; ++it) {
      kept.offer(it, state);
      Tensors out = loop.forward(state, context);
      const Tensor done = out[0] != 0;
      const int64_t finished = done.sum().item<int64_t>();
      if (finished == done.numel()) {
        result = out[1];
        exit = it;
        break;
      }
      if (finished > 0) return std::nullopt;  // samples leave at different iterations
      state.assign(out.begin() + 2, out.end());
    }
  }
  auto node = c10::make_intrusive<CheckpointBackward>();
  node->replay = loop.replay;
  node->label = loop.label;
  node->num_state = initial.size();
  node->exit = exit;
  node->checkpoints = kept.take();
  Tensors edges = initial;
  edges.insert(edges.end(), context.begin(), context.end());
  for (const Tensor& t : edges) node->saved.emplace_back(t, /*is_output=*/false);
  node->set_next_edges(torch::autograd::collect_next_edges(edges));
  Tensor out = result.detach();  // a tensor of its own: the result may be a capture or a constant
  torch::autograd::set_history(out, node);
  return out;
}

}  // namespace nc
