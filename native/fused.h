// Fused elementwise chains. The compiler (src/compiler/fuse.ts) replaces a DAG of elementwise nodes
// over same-shaped tensors and broadcast scalars with one node carrying the DAG as a step list.
// On large tensors the steps run block by block in cache, forward and backward, in one custom
// autograd function that saves its inputs and the values of its costly (SLEEF) steps; on small
// ones (below kFusedMinElements) the steps run one by one through the kernel table, so the result
// is bit for bit the unfused graph's.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <optional>
#include <string>
#include <vector>

#include "kernels.h"
#include "loss.h"
#include "ops.generated.h"

namespace nc {

/** The fused ops, from the op registry (ops.generated.h). */
enum class FusedOp : int {
#define NC_FUSED_ENUM(id, name, arity, costly, attrs) id,
  NC_FUSED_OPS(NC_FUSED_ENUM)
#undef NC_FUSED_ENUM
};

struct FusedStep {
  FusedOp op = FusedOp::Add;
  int a = 0, b = 0;                    // value indices: [0, num_inputs) are the node's inputs, then one per step
  double exponent = 0;                 // PowScalar
  const KernelInfo* kernel = nullptr;  // the unfused op, for small tensors
};

/** A one-byte CPU tensor holding 0: a flag that autograd's context, which stores only IValues, can share. */
at::Tensor new_flag();

struct FusedProgram {
  int num_inputs = 0;
  std::vector<FusedStep> steps;  // the last step's value is the node's result
  /**
   * A graph node's new_flag(), set while its last backward was given one value in every element
   * (the gradient of a sum or a mean): its recorded forward then also takes the sum's gradients
   * (native/fused.cpp). Undefined in the program a backward decodes.
   */
  at::Tensor sum_backward_seen;
};

// The operands of a fused node, as the CPU block kernels and the CUDA kernels (native/fused_cuda.cpp) read them.

/** The largest input's element count: the full inputs have it, the others are single elements. */
int64_t full_numel(c10::ArrayRef<at::Tensor> inputs);
/** float32 or float64 inputs of one dtype on one device, each full (full_numel elements) or a single element. */
bool kernel_operands(c10::ArrayRef<at::Tensor> inputs);
std::vector<at::Tensor> contiguous(c10::ArrayRef<at::Tensor> inputs);
/** Whether every element of t is one stored value (an expanded scalar, as the gradient of a sum is). */
bool broadcast_value(const at::Tensor& t);
/** The sizes of a full input (one with `numel` elements). */
at::IntArrayRef full_sizes(const std::vector<at::Tensor>& inputs, int64_t numel);

/** Below this many elements a fused node runs its steps through the kernel table (block overhead dominates). */
constexpr int64_t kFusedMinElements = 4096;

/** The step for a kernel-table op name with these args; throws nc::Error for an op the fused path lacks. */
FusedStep fused_step(const std::string& name, std::vector<int> args, c10::ArrayRef<double> attrs);
/** Evaluates the program; inputs are full tensors of one shape or single-element broadcasts. */
at::Tensor run_fused(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs);

/** The result of a program and the gradients of its sum: per input, undefined where not wanted. */
struct FusedSumGrad {
  at::Tensor value;
  std::vector<at::Tensor> grads;
};

/**
 * The result and the gradients of the sum of its elements, forward and backward in one pass over
 * the blocks at any size: each block's inputs are read once, the result written, the wanted full
 * inputs' gradients written and the broadcast ones' summed (per block, added in block order).
 * Nothing is recorded. `out`, when defined (contiguous, the result's dtype and element count),
 * receives the result. Nullopt when the inputs do not suit the block kernels (CPU float32 or
 * float64, full tensors of one size and single elements) or `out` has another element count.
 */
std::optional<FusedSumGrad> fused_value_and_sum_grad(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs,
                                                     const std::vector<char>& wanted, const at::Tensor& out);

struct FusedLossGrad {
  double loss;
  std::vector<at::Tensor> grads;
};

/**
 * The mean loss of the result against `target` (its element count) and the inputs' gradients of
 * it, in one pass as fused_value_and_sum_grad: each block's result is never stored, its loss
 * terms summed (per SIMD lane in the model's dtype within a block, then in double over the lanes
 * and the blocks, in block order) and their slopes its adjoint. Nullopt where the block
 * kernels do not take the inputs, or the target does not match the result.
 */
std::optional<FusedLossGrad> fused_loss_grad(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs,
                                             const std::vector<char>& wanted, const at::Tensor& target, LossKind kind);

}  // namespace nc
