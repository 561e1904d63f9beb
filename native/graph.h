// The graph executor: a compiled program as closed regions of flat node lists, run in one native
// call with libtorch autograd. The compiler (TypeScript) decides everything about shapes and
// batching; this file only executes what it was given.
//
// A region is a closed function: its `arg` nodes are its parameters, and its results are node
// indices. Control flow nodes own sub-regions:
//   if   args [test, captures...]    regions [then, else]  per-sample lazy: each branch runs only on
//                                                          the samples that take it
//   loop args [inits..., captures...] regions [body]       body returns [done, result, next state...]
//   call args [...]                   regions [callee]      recursion allowed, depth-limited
//   proj args [tuple node]            attrs [j]             j-th output of a multi-output if
//   extern args [...]                 index k               the k-th learned component (an MLP)
//   fused  args [...]                 fused program         an elementwise DAG in one node (fused.h)
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "callable.h"
#include "fused.h"
#include "kernels.h"

namespace nc {

enum class NodeKind { Kernel, Arg, Input, Param, Const, If, Loop, Call, Proj, Extern, Fused };

struct Node {
  NodeKind kind = NodeKind::Kernel;
  const KernelInfo* kernel = nullptr;  // for Kernel nodes
  std::vector<int> args;
  std::vector<double> attrs;
  std::vector<int> regions;
  std::vector<bool> arg_batched;              // per arg, for control nodes: whether it carries the batch dimension
  std::vector<bool> output_batched;           // If: whether each output carries it
  int index = 0;                              // Arg / Input / Param / Extern: which one; Proj: which output
  int outputs = 1;                            // If: how many values each branch returns
  int64_t limit = 0;                          // Loop: iterations; Call: depth
  int state = 0;                              // Loop: number of state variables
  int64_t checkpoint = 0;                     // Loop: kCheckpointOff, kCheckpointDoubling or iterations a segment
  bool batched = false;                       // Loop: whether it runs over a batch
  at::Tensor value;                           // Const
  std::shared_ptr<const FusedProgram> fused;  // Fused
  std::string label;                          // for error messages: what and where in the source
};

struct Region {
  std::vector<Node> nodes;
  std::vector<int> results;
  std::vector<bool> result_batched;
  bool reads_params = false;  // it or a region it runs has a Param node (set by GraphModule)
};

struct GraphSpec {
  std::vector<Region> regions;  // region 0 is the program
  int num_inputs = 0;
  bool recursive = false;  // has calls: run on a thread with a deep stack
  int64_t max_steps =
      0;  // loop iterations plus calls one run may take in all (each loop and call also has its own limit)
  std::vector<std::shared_ptr<Callable>> callables;  // learned components the program calls (Extern nodes)
};

/** A program's value and the gradients of its sum (GraphModule::value_and_sum_grad). */
struct SumGradients {
  at::Tensor value;
  std::vector<at::Tensor> params;  // per param: undefined when it needs no gradient or the value reads none
  std::vector<at::Tensor> inputs;  // per input: undefined when not wanted or the value reads none
};

class GraphModule : public torch::nn::Module {
 public:
  GraphModule(GraphSpec spec, std::vector<std::pair<std::string, at::Tensor>> params);
  /** Runs the whole program; without need_grad no autograd graph is recorded. */
  at::Tensor forward(const std::vector<at::Tensor>& inputs, bool need_grad);
  /**
   * The value and the gradients of the sum of its elements for every param requiring one and the
   * `wanted` inputs, when the program's result is a fused node: that node runs forward and backward
   * in one pass over the data (fused.h), and the nodes before it, when a gradient goes through
   * them, through autograd. Nullopt for other programs, or inputs the block kernels do not take
   * (the caller runs forward and backward). `out`, when defined, receives the value.
   */
  std::optional<SumGradients> value_and_sum_grad(const std::vector<at::Tensor>& inputs, const std::vector<char>& wanted,
                                                 const at::Tensor& out);
  /**
   * The mean loss of the result against `target`, its params' gradients added to their .grad as
   * loss.backward() adds them (none for a loss that is not finite): forward, loss and backward in one
   * pass over the data (fused_loss_grad). Nullopt, no gradient added, unless the result is a fused
   * node the block kernels take and the target has its elements (the operands may have been
   * evaluated by then: callers that get nullopt once do not ask again).
   */
  std::optional<double> loss_backward(const std::vector<at::Tensor>& inputs, const at::Tensor& target, LossKind kind);

 private:
  std::shared_ptr<const GraphSpec> spec_;  // shared with the backward of checkpointed loops
  std::vector<at::Tensor> params_;
  void check_inputs(const std::vector<at::Tensor>& inputs) const;
  struct FusedRoot;
  std::optional<FusedRoot> fused_root(const std::vector<at::Tensor>& inputs, const std::vector<char>& wanted);
  std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> chain_from(const FusedRoot& root,
                                                                         const std::vector<char>& wanted,
                                                                         const std::vector<at::Tensor>& operand_grads);
};

}  // namespace nc
