#include "graph.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/SmallVector.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <optional>

#include "checkpoint.h"
#include "deep_stack.h"
#include "errors.h"

namespace nc {
namespace {

using at::Tensor;
using Values = std::vector<Tensor>;

/** v with a leading batch dimension of n (a broadcast view; its gradient sums back). */
Tensor expand_batch(const Tensor& v, int64_t n) {
  at::DimVector sizes{n};
  sizes.append(v.sizes().begin(), v.sizes().end());
  return v.unsqueeze(0).expand(sizes);
}

Tensor rows(const Tensor& v, const Tensor& idx) { return v.index_select(0, idx); }

bool any_requires_grad(const Values& values) {
  return std::any_of(values.begin(), values.end(), [](const Tensor& t) { return t.requires_grad(); });
}

/** Executes regions; one per forward call, so it can hold the recursion depth. */
class Executor {
 public:
  Executor(std::shared_ptr<const GraphSpec> spec, const Values& inputs, const Values& params)
      : owner_(std::move(spec)), spec_(*owner_), inputs_(inputs), params_(params) {}

  Values run(int region_index, const Values& args) {
    const Region& region = spec_.regions[region_index];
    const Values slots = evaluate(region, args, region.nodes.size());
    Values results;
    results.reserve(region.results.size());
    for (int r : region.results) results.push_back(slots[r]);
    return results;
  }

  /** The values of a region's first `end` nodes. */
  Values evaluate(const Region& region, const Values& args, size_t end) {
    const size_t n = region.nodes.size();
    Values slots(n);
    std::vector<Values> tuples;
    for (size_t i = 0; i < end; ++i) {
      const Node& node = region.nodes[i];
      switch (node.kind) {
        case NodeKind::Kernel:
          slots[i] = node.label.empty() ? node.kernel->fn(operands(node, slots), node.attrs) : checked(node, slots);
          break;
        case NodeKind::Arg:
          slots[i] = args[node.index];
          break;
        case NodeKind::Input:
          slots[i] = inputs_[node.index];
          break;
        case NodeKind::Param:
          slots[i] = params_[node.index];
          break;
        case NodeKind::Const:
          slots[i] = node.value;
          break;
        case NodeKind::If: {
          Values out = run_if(node, gather(node, slots));
          if (node.outputs == 1) {
            slots[i] = out[0];
          } else {
            if (tuples.empty()) tuples.resize(n);
            tuples[i] = std::move(out);
          }
          break;
        }
        case NodeKind::Proj:
          slots[i] = tuples[node.args[0]][node.index];
          break;
        case NodeKind::Fused:
          slots[i] = run_fused(*node.fused, operands(node, slots));
          break;
        case NodeKind::Extern:
          slots[i] = spec_.callables[node.index]->call(gather(node, slots), node.arg_batched);
          break;
        case NodeKind::Loop:
          slots[i] = run_loop_node(node, gather(node, slots));
          break;
        case NodeKind::Call: {
          step(node);
          if (++depth_ > node.limit) throw recursion_limit_error(node.label, node.limit);
          slots[i] = run(node.regions[0], gather(node, slots))[0];
          --depth_;
          break;
        }
      }
    }
    return slots;
  }

 private:
  const std::shared_ptr<const GraphSpec> owner_;
  const GraphSpec& spec_;
  const Values& inputs_;
  const Values& params_;
  int64_t depth_ = 0;
  int64_t steps_ = 0;

  /** Counts one loop iteration or call against the run's budget: nested loops and branching recursion
   *  stay within each one's own limit yet multiply, so this is what bounds the time of a run. */
  void step(const Node& node) {
    if (++steps_ > spec_.max_steps)
      throw NodeError(
          node.label, NodeError::Kind::Budget,
          "more than " + std::to_string(spec_.max_steps) +
              " loop iterations and calls in one run (raise the `maxSteps` compile option if this is intended)");
  }

  static int64_t batch_size(const Values& args, const std::vector<bool>& batched) {
    for (size_t k = 0; k < args.size(); ++k)
      if (batched[k]) return args[k].size(0);
    throw Error("internal: a batched branch result with no batched input");
  }

  /** A kernel that checks its values at run time (a ref index): its errors name the call's place. */
  static Tensor checked(const Node& node, const Values& slots) {
    try {
      return node.kernel->fn(operands(node, slots), node.attrs);
    } catch (const Error& e) {
      throw NodeError(node.label, NodeError::Kind::Value, e.what());
    }
  }

  /** A node's argument values without a heap allocation (kernel and fused nodes). */
  static c10::SmallVector<Tensor, 4> operands(const Node& node, const Values& slots) {
    c10::SmallVector<Tensor, 4> in;
    for (int a : node.args) in.push_back(slots[a]);
    return in;
  }

  static Values gather(const Node& node, const Values& slots) {
    Values v;
    v.reserve(node.args.size());
    for (int a : node.args) v.push_back(slots[a]);
    return v;
  }

  /** Runs a region on the samples `idx` of the batched values among `args`. */
  Values run_subset(int region_index, const Values& args, const std::vector<bool>& batched, const Tensor& idx,
                    int64_t count) {
    Values sub(args.size());
    for (size_t k = 0; k < args.size(); ++k) sub[k] = batched[k] ? rows(args[k], idx) : args[k];
    return batch_results(region_index, run(region_index, sub), count);
  }

  /** Gives every result of a region the batch dimension, broadcasting the unbatched ones. */
  Values batch_results(int region_index, Values out, int64_t count) {
    const Region& r = spec_.regions[region_index];
    for (size_t j = 0; j < out.size(); ++j)
      if (!r.result_batched[j]) out[j] = expand_batch(out[j], count);
    return out;
  }

  // args: [test, captures...]; each branch region takes the captures.
  Values run_if(const Node& node, const Values& args) {
    const Tensor& test = args[0];
    Values caps(args.begin() + 1, args.end());
    std::vector<bool> cap_batched(node.arg_batched.begin() + 1, node.arg_batched.end());
    if (!node.arg_batched[0]) {
      // One branch for everything; a result the static type says is batched gets the batch dimension.
      const int region = test.item<double>() != 0 ? node.regions[0] : node.regions[1];
      Values out = run(region, caps);
      for (size_t j = 0; j < out.size(); ++j)
        if (node.output_batched[j] && !spec_.regions[region].result_batched[j])
          out[j] = expand_batch(out[j], batch_size(caps, cap_batched));
      return out;
    }

    const Tensor mask = test != 0;
    const int64_t total = test.size(0);
    const int64_t taken = mask.sum().item<int64_t>();
    if (taken == total || taken == 0) {
      // One branch for the whole batch: no gathering needed.
      int region = taken == total ? node.regions[0] : node.regions[1];
      return batch_results(region, run(region, caps), total);
    }
    const Tensor idx_then = mask.nonzero().squeeze(1);
    const Tensor idx_else = mask.logical_not().nonzero().squeeze(1);
    Values a = run_subset(node.regions[0], caps, cap_batched, idx_then, taken);
    Values b = run_subset(node.regions[1], caps, cap_batched, idx_else, total - taken);
    const Tensor order = at::argsort(at::cat({idx_then, idx_else}));
    Values out(a.size());
    for (size_t j = 0; j < a.size(); ++j) out[j] = rows(at::cat({a[j], b[j]}), order);
    return out;
  }

  static NodeError exceeded(const Node& node) { return loop_limit_error(node.label, node.limit); }

  /** A loop, checkpointed when the compiler asked for it and a gradient is being recorded. */
  Tensor run_loop_node(const Node& node, const Values& args) {
    if (node.checkpoint != kCheckpointOff && c10::GradMode::is_enabled()) {
      const bool params = spec_.regions[node.regions[0]].reads_params;
      if (any_requires_grad(args) || (params && any_requires_grad(params_))) {
        const int64_t steps_before = steps_;
        if (auto result = run_loop_checkpointed(node, args, params)) return *result;
        steps_ = steps_before;  // samples left at different iterations: run it again, recorded
      }
    }
    return run_loop(node, args);
  }

  /** One iteration of a loop's body on every sample: [done, result, next state...]. */
  Values iterate(const Node& node, const Values& state, const Values& caps, int64_t batch) {
    Values in = state;
    in.insert(in.end(), caps.begin(), caps.end());
    Values out = run(node.regions[0], in);
    return node.batched ? batch_results(node.regions[0], std::move(out), batch) : out;
  }

  /**
   * The loop run without a tape, its backward recomputing segments (checkpoint.h). The context is
   * the captures, then the parameters when the body reads any (they are its only other tensors).
   */
  std::optional<Tensor> run_loop_checkpointed(const Node& node, const Values& args, bool reads_params) {
    const size_t k = static_cast<size_t>(node.state);
    const size_t num_caps = args.size() - k;
    Values state(args.begin(), args.begin() + k);
    const int64_t batch = node.batched ? loop_batch(node, args) : 0;
    for (size_t s = 0; s < k; ++s)
      if (node.batched && !node.arg_batched[s]) state[s] = expand_batch(state[s], batch);
    Values context(args.begin() + k, args.end());
    if (reads_params) context.insert(context.end(), params_.begin(), params_.end());
    CheckpointedLoop loop;
    int64_t iterations = 0;
    loop.forward = [&](const Values& s, const Values& c) {
      if (iterations++ >= node.limit) throw exceeded(node);
      step(node);
      return iterate(node, s, Values(c.begin(), c.begin() + num_caps), batch);
    };
    loop.replay = std::make_shared<const LoopIteration>(
        [spec = owner_, n = &node, num_caps, batch](const Values& s, const Values& c) {
          const Values caps(c.begin(), c.begin() + num_caps), params(c.begin() + num_caps, c.end()), none;
          Values out;
          auto body = [&] {
            c10::AutoGradMode recording(true);  // thread-local: the deep stack's thread needs it too
            Executor exec(spec, none, params);
            out = exec.iterate(*n, s, caps, batch);
          };
          if (spec->recursive)
            with_deep_stack(body);
          else
            body();
          return out;
        });
    loop.segment = node.checkpoint;
    loop.label = node.label;
    return run_checkpointed(loop, state, context);
  }

  static int64_t loop_batch(const Node& node, const Values& args) {
    for (size_t a = 0; a < args.size(); ++a)
      if (node.arg_batched[a]) return args[a].size(0);
    throw Error("internal: " + node.label + " is marked batched but has no batched argument");
  }

  // args: [inits..., captures...]; the body takes [state..., captures...] and returns
  // [done, result, next state...].
  Tensor run_loop(const Node& node, const Values& args) {
    const size_t k = static_cast<size_t>(node.state);
    Values state(args.begin(), args.begin() + k);
    Values caps(args.begin() + k, args.end());

    if (!node.batched) {
      for (int64_t it = 0;; ++it) {
        if (it >= node.limit) throw exceeded(node);
        step(node);
        Values out = iterate(node, state, caps, 0);
        if (out[0].item<double>() != 0) return out[1];
        state.assign(out.begin() + 2, out.end());
      }
    }

    // Batched: iterate the samples still running; each leaves with its own result.
    const int64_t batch = loop_batch(node, args);
    for (size_t s = 0; s < k; ++s)
      if (!node.arg_batched[s]) state[s] = expand_batch(state[s], batch);
    Tensor active = at::arange(batch, at::TensorOptions().dtype(at::kLong).device(args[0].device()));
    std::vector<Tensor> done_rows, done_values;
    for (int64_t it = 0;; ++it) {
      if (it >= node.limit) throw exceeded(node);
      step(node);
      const int64_t alive = active.size(0);
      Values running(caps.size());
      for (size_t c = 0; c < caps.size(); ++c)
        running[c] = node.arg_batched[k + c] && alive != batch ? rows(caps[c], active) : caps[c];
      Values out = iterate(node, state, running, alive);
      const Tensor done = out[0] != 0;
      const int64_t finished = done.sum().item<int64_t>();
      if (finished > 0) {
        const Tensor idx = done.nonzero().squeeze(1);
        done_rows.push_back(rows(active, idx));
        done_values.push_back(rows(out[1], idx));
        if (finished == alive) break;
        const Tensor keep = done.logical_not().nonzero().squeeze(1);
        active = rows(active, keep);
        for (size_t s = 0; s < k; ++s) state[s] = rows(out[2 + s], keep);
      } else {
        state.assign(out.begin() + 2, out.end());
      }
    }
    return rows(at::cat(done_values), at::argsort(at::cat(done_rows)));
  }
};

/**
 * The executor indexes without checks on its hot path, so the graph's wiring is checked once, here:
 * a compiler bug then ends in an Error naming the node instead of a crash.
 */
void check_structure(const GraphSpec& spec, size_t num_params) {
  const size_t num_regions = spec.regions.size();
  auto fail = [](size_t r, size_t i, const std::string& what) {
    throw Error("internal: malformed graph (region " + std::to_string(r) + ", node " + std::to_string(i) +
                "): " + what);
  };
  auto results_of = [&](int region) { return spec.regions[static_cast<size_t>(region)].results.size(); };
  if (num_regions == 0 || spec.regions[0].results.size() != 1) fail(0, 0, "the program region must give one result");
  // The fewest values any caller passes each region (its arg nodes must stay below); -1: not called.
  std::vector<int64_t> passed(num_regions, -1);
  passed[0] = 0;
  auto pass = [&](int region, size_t count) {
    int64_t& p = passed[static_cast<size_t>(region)];
    p = p < 0 ? static_cast<int64_t>(count) : std::min(p, static_cast<int64_t>(count));
  };
  for (size_t r = 0; r < num_regions; ++r) {
    const Region& region = spec.regions[r];
    const size_t n = region.nodes.size();
    if (region.result_batched.size() != region.results.size()) fail(r, n, "result batching does not match the results");
    for (int id : region.results)
      if (id < 0 || static_cast<size_t>(id) >= n) fail(r, n, "a result refers to a missing node");
    for (size_t i = 0; i < n; ++i) {
      const Node& node = region.nodes[i];
      for (int a : node.args)
        if (a < 0 || static_cast<size_t>(a) >= i) fail(r, i, "an argument does not refer to an earlier node");
      for (int sub : node.regions)
        if (sub <= 0 || static_cast<size_t>(sub) >= num_regions) fail(r, i, "refers to a missing region");
      const bool controls = node.kind == NodeKind::If || node.kind == NodeKind::Loop || node.kind == NodeKind::Call;
      if (controls && node.arg_batched.size() != node.args.size())
        fail(r, i, "argument batching does not match the arguments");
      if (controls)  // an if's branches take its captures, the others every argument
        for (int sub : node.regions)
          pass(sub, node.args.size() - (node.kind == NodeKind::If && !node.args.empty() ? 1 : 0));
      switch (node.kind) {
        case NodeKind::If:
          if (node.regions.size() != 2 || results_of(node.regions[0]) != static_cast<size_t>(node.outputs) ||
              results_of(node.regions[1]) != static_cast<size_t>(node.outputs) ||
              node.output_batched.size() != static_cast<size_t>(node.outputs))
            fail(r, i, "an if whose branches do not give its " + std::to_string(node.outputs) + " outputs");
          if (node.args.empty()) fail(r, i, "an if without a test");
          break;
        case NodeKind::Loop:
          if (node.regions.size() != 1 || results_of(node.regions[0]) != static_cast<size_t>(node.state) + 2 ||
              node.args.size() < static_cast<size_t>(node.state))
            fail(r, i, "a loop whose body does not give [done, result, next state...]");
          break;
        case NodeKind::Call:
          if (node.regions.size() != 1 || results_of(node.regions[0]) != 1)
            fail(r, i, "a call of a function body that gives no result");
          break;
        case NodeKind::Proj: {
          const Node* tuple = node.args.size() == 1 ? &region.nodes[static_cast<size_t>(node.args[0])] : nullptr;
          if (!tuple || tuple->kind != NodeKind::If || node.index < 0 || node.index >= tuple->outputs)
            fail(r, i, "a projection of no if output");
          break;
        }
        case NodeKind::Input:
          if (node.index < 0 || node.index >= spec.num_inputs) fail(r, i, "a missing input");
          break;
        case NodeKind::Param:
          if (node.index < 0 || static_cast<size_t>(node.index) >= num_params) fail(r, i, "a missing parameter");
          break;
        case NodeKind::Extern:
          if (node.index < 0 || static_cast<size_t>(node.index) >= spec.callables.size() ||
              !spec.callables[static_cast<size_t>(node.index)])
            fail(r, i, "a missing learned component");
          break;
        default:
          break;
      }
    }
  }
  for (size_t r = 0; r < num_regions; ++r)
    for (size_t i = 0; i < spec.regions[r].nodes.size(); ++i) {
      const Node& node = spec.regions[r].nodes[i];
      if (node.kind == NodeKind::Arg && (node.index < 0 || (passed[r] >= 0 && node.index >= passed[r])))
        fail(r, i, "an argument its callers do not pass");
    }
}

/** Marks the regions that read a parameter themselves or through a region they run (calls may cycle). */
void mark_param_readers(GraphSpec& spec) {
  for (bool changed = true; changed;) {
    changed = false;
    for (Region& region : spec.regions) {
      if (region.reads_params) continue;
      for (const Node& node : region.nodes) {
        region.reads_params = region.reads_params || node.kind == NodeKind::Param;
        for (int sub : node.regions) region.reads_params = region.reads_params || spec.regions[sub].reads_params;
      }
      changed = changed || region.reads_params;
    }
  }
}

/**
 * The gradients of targets (leaves requiring one) given those of a fused node's operands: added
 * directly where an operand is a target, through autograd where it was computed from them.
 */
Values chain_to(const Values& targets, const Values& operands, const Values& operand_grads) {
  Values found(targets.size());
  auto add = [](Tensor& acc, const Tensor& g) { acc = acc.defined() ? acc + g : g; };
  Values computed, computed_grads;
  for (size_t k = 0; k < operands.size(); ++k) {
    if (!operand_grads[k].defined()) continue;
    const auto target =
        std::find_if(targets.begin(), targets.end(), [&](const Tensor& t) { return t.is_same(operands[k]); });
    if (target != targets.end()) {
      add(found[static_cast<size_t>(target - targets.begin())], operand_grads[k]);
    } else {
      computed.push_back(operands[k]);
      computed_grads.push_back(operand_grads[k]);
    }
  }
  if (computed.empty() || targets.empty()) return found;
  const Values through = torch::autograd::grad(computed, targets, computed_grads, /*retain_graph=*/false,
                                               /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t t = 0; t < targets.size(); ++t)
    if (through[t].defined()) add(found[t], through[t]);
  return found;
}

}  // namespace

GraphModule::GraphModule(GraphSpec spec, std::vector<std::pair<std::string, at::Tensor>> params) {
  check_structure(spec, params.size());
  mark_param_readers(spec);
  spec_ = std::make_shared<const GraphSpec>(std::move(spec));
  for (auto& [name, t] : params) {
    params_.push_back(t);
    // libtorch reserves "." for submodule paths; composed programs name parameters "function.param".
    std::string key = name;
    std::replace(key.begin(), key.end(), '.', '/');
    register_parameter(key, t, t.requires_grad());
  }
}

void GraphModule::check_inputs(const std::vector<at::Tensor>& inputs) const {
  if (static_cast<int>(inputs.size()) != spec_->num_inputs)
    throw Error("the program takes " + std::to_string(spec_->num_inputs) + " inputs, got " +
                std::to_string(inputs.size()));
}

at::Tensor GraphModule::forward(const std::vector<at::Tensor>& inputs, bool need_grad) {
  check_inputs(inputs);
  at::Tensor result;
  auto body = [&] {
    c10::AutoGradMode grad_mode(need_grad);
    Executor exec(spec_, inputs, params_);
    result = exec.run(0, {})[0];
  };
  if (spec_->recursive)
    with_deep_stack(body);
  else
    body();
  return result;
}

/** A result that is one fused node, its operands evaluated (recorded where they need a gradient), for a one-pass
 * gradient. */
struct GraphModule::FusedRoot {
  const FusedProgram* program;
  Values leaves;  // the inputs, the wanted ones as leaves of their own (the caller's tensors stay as they are)
  Values operands;
  std::vector<char> operand_wanted;
};

std::optional<GraphModule::FusedRoot> GraphModule::fused_root(const std::vector<at::Tensor>& inputs,
                                                              const std::vector<char>& wanted) {
  check_inputs(inputs);
  if (wanted.size() != inputs.size()) throw Error("internal: a one-pass gradient wants one flag per input");
  const Region& program = spec_->regions[0];
  if (spec_->recursive || program.results.size() != 1 || program.nodes[program.results[0]].kind != NodeKind::Fused)
    return std::nullopt;
  const Node& root = program.nodes[program.results[0]];
  FusedRoot r{root.fused.get(), Values(inputs), {}, {}};
  for (size_t j = 0; j < r.leaves.size(); ++j)
    if (wanted[j]) r.leaves[j] = inputs[j].detach().requires_grad_(true);
  c10::AutoGradMode grad_mode(true);
  Executor exec(spec_, r.leaves, params_);
  const Values slots = exec.evaluate(program, {}, static_cast<size_t>(program.results[0]));
  for (int a : root.args) {
    r.operands.push_back(slots[a]);
    r.operand_wanted.push_back(slots[a].requires_grad());
  }
  return r;
}

/** The params' gradients (each undefined when it needs none or the result reads none), then the wanted inputs', from
 * the operands'. */
std::pair<Values, Values> GraphModule::chain_from(const FusedRoot& root, const std::vector<char>& wanted,
                                                  const Values& operand_grads) {
  Values targets;
  for (const auto& p : params_)
    if (p.requires_grad()) targets.push_back(p);
  for (size_t j = 0; j < root.leaves.size(); ++j)
    if (wanted[j]) targets.push_back(root.leaves[j]);
  const Values found = chain_to(targets, root.operands, operand_grads);
  std::pair<Values, Values> r;
  size_t k = 0;
  for (const auto& p : params_) r.first.push_back(p.requires_grad() ? found[k++] : at::Tensor());
  for (size_t j = 0; j < root.leaves.size(); ++j) r.second.push_back(wanted[j] ? found[k++] : at::Tensor());
  return r;
}

std::optional<SumGradients> GraphModule::value_and_sum_grad(const std::vector<at::Tensor>& inputs,
                                                            const std::vector<char>& wanted, const at::Tensor& out) {
  const std::optional<FusedRoot> root = fused_root(inputs, wanted);
  if (!root) return std::nullopt;
  std::optional<FusedSumGrad> fused =
      fused_value_and_sum_grad(*root->program, root->operands, root->operand_wanted, out);
  if (!fused) return std::nullopt;
  SumGradients r;
  r.value = fused->value;
  std::tie(r.params, r.inputs) = chain_from(*root, wanted, fused->grads);
  return r;
}

std::optional<double> GraphModule::loss_backward(const std::vector<at::Tensor>& inputs, const at::Tensor& target,
                                                 LossKind kind) {
  // The block kernels run on the CPU: elsewhere, say so before evaluating anything the fallback would again.
  if (!target.device().is_cpu()) return std::nullopt;
  const std::vector<char> none(inputs.size(), 0);
  const std::optional<FusedRoot> root = fused_root(inputs, none);
  if (!root) return std::nullopt;
  std::optional<FusedLossGrad> fused =
      fused_loss_grad(*root->program, root->operands, root->operand_wanted, target, kind);
  if (!fused) return std::nullopt;
  if (!std::isfinite(fused->loss)) return fused->loss;  // as the autograd path: no backward
  const Values grads = chain_from(*root, none, fused->grads).first;
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!grads[k].defined()) continue;
    // a tensor of its own, as AccumulateGrad leaves it: optimizers detach and zero .grad in place
    at::Tensor& g = params_[k].mutable_grad();
    g = g.defined() ? g.add(grads[k]) : grads[k].is_view() ? grads[k].clone() : grads[k];
  }
  return fused->loss;
}

}  // namespace nc
