// The small-program tier: a whole program of scalar pointwise ops as a flat register program, run
// sample by sample with no ATen call, forward and reverse, with the instructions' values and
// derivatives generated from the op registry (tape_steps.generated.inc). It serves the small
// batches where libtorch's per-op dispatch and autograd bookkeeping, not the arithmetic, are the
// cost. The compiler (src/compiler/tape.ts) decides which graphs it takes and writes the program.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "errors.h"
#include "ops.generated.h"

namespace nc {

/**
 * One instruction: writes the next register from operand registers a, b, c (-1: none). The jumps
 * (an `if` per sample) write nothing; a branch's result is picked by a `where` on its test after
 * both branches, so the untaken branch's registers are never read for a value or a gradient.
 */
struct TapeInstr {
  int op = 0;  // an index into the registry's TAPE_FORMS, or a control instruction below
  int a = -1, b = -1, c = -1;
  double attr = 0;  // pow-scalar's exponent
  int path = 0;     // how autograd's graph would pass through it: a kPath* below
};
// The control instructions (kJumpIfZero, kDenseRow, kLoop, ...) and the paths (kPathThrough, ...),
// numbered and described in src/ops/tape-control.ts (ops.generated.h says what each does).
#define NC_TAPE_CONTROL_CONSTANT(name, index) inline constexpr int k##name = NC_TAPE_FORMS_COUNT + index;
NC_TAPE_CONTROL(NC_TAPE_CONTROL_CONSTANT)
#undef NC_TAPE_CONTROL_CONSTANT
#define NC_TAPE_PATH_CONSTANT(name, index) inline constexpr int kPath##name = index;
NC_TAPE_PATHS(NC_TAPE_PATH_CONSTANT)
#undef NC_TAPE_PATH_CONSTANT
inline bool is_jump(const TapeInstr& in) { return in.op == kJumpIfZero || in.op == kJump; }
/** A rest: one further result register of the loop, call or solve instruction before it, which writes it. */
inline bool is_rest(const TapeInstr& in) { return in.op == kLoopRest || in.op == kCallRest || in.op == kSolveRest; }

/**
 * A dense layer of a learned component (an MLP): row i is bias[i] + sum_j weight[i][j] * x[j],
 * weight row-major [rows, inputs.size()] (native/tape.cpp, dense_row, says in what order it sums). The MLP's
 * activations are ordinary instructions between its layers (the registry's forms), so only this affine map is the
 * tier's own.
 */
struct TapeDense {
  int weight = 0, bias = 0;  // weight blocks
  std::vector<int> inputs;   // the registers of x
  int first = -1;            // inputs[0] when the inputs are consecutive registers (set by check_tape), else -1
};

struct TapeProgram;

/**
 * A linear solve, X = A^-1 B, by LU with partial pivoting (as LAPACK's getrf, which the libtorch
 * path's linalg_solve runs); a zero pivot is a NodeError naming `label`, as the kernel's error there.
 */
struct TapeSolve {
  int a = 0;   // A's n x n registers, row-major, consecutive from a
  int b = -1;  // B's n x k registers, consecutive from b; -1: B is the identity (inv)
  int n = 1, k = 1;
  std::string label;
  bool batched = false;  // A differs per sample: its error names the sample (run_tape adds which)
};

/** A singular matrix in a solve: run_tape names the sample when the matrix is one per sample. */
struct SingularMatrix : NodeError {
  SingularMatrix(const TapeSolve& s, std::string op_)
      : NodeError(s.label, NodeError::Kind::Value, singular_matrix_message(op_)),
        op(std::move(op_)),
        per_sample(s.batched) {}
  std::string op;  // inv or solve
  bool per_sample;
};

/**
 * A loop: its body is a program of its own whose inputs are the state's elements, then the
 * captures', and whose results are [done, the result's elements, the next state's...]. Per sample
 * it runs the body until done is not 0, at most `limit` times (then a NodeError naming `label`, as
 * the libtorch path's). The body reads no params; it may run loops of its own.
 */
struct TapeLoop {
  std::shared_ptr<const TapeProgram> body;
  std::vector<int> inputs;  // the registers of the initial state, then of the captures
  int state = 0;            // the state's elements
  int outputs = 1;          // the result's elements
  int64_t limit = 0;
  std::string label;
};

/**
 * A call of a function (a possibly recursive one: its body may call functions, itself included).
 * The body is a program of its own whose inputs are the arguments' elements and whose results are
 * the result's; it reads no params and runs no loops. Calls nest to at most `limit` deep per sample
 * (then a NodeError naming `label`, as the libtorch path's). The compiler takes calls only where
 * the run's budget of calls cannot be reached (src/compiler/tape.ts), so the tier does not count it.
 */
struct TapeCall {
  int function = 0;         // in the program's `functions`
  std::vector<int> inputs;  // the registers of the arguments' elements
  int outputs = 1;          // the result's elements
  int64_t limit = 0;
  std::string label;
};

/**
 * Registers: the inputs' elements, the scalar params, the constants, then one per instruction.
 * Tensor params (the MLPs' weights and biases: weight blocks) are not registers: their values are
 * one flat array, block after block, read by the dense rows, and their gradients one flat double array.
 */
struct TapeProgram {
  int num_inputs = 0;  // input registers: every program input's elements, in order
  /** Registers per program input (its per-sample elements, row-major); they add up to num_inputs. */
  std::vector<int> input_sizes;
  /** The program's (not a body's): per input, its per-sample rank (a batch of it has one dimension more). */
  std::vector<int> input_ranks;
  /** The program's: the result's per-sample shape, its elements the result registers (row-major). */
  std::vector<int64_t> result_shape;
  int num_params = 0;
  std::vector<double> consts;
  std::vector<TapeInstr> code;
  /** The result's registers: one for a scalar result, one per component of a vector literal. */
  std::vector<int> results;
  /** Elements per weight block; block k starts at block_offsets[k] (set by check_tape). */
  std::vector<int64_t> block_sizes, block_offsets;
  std::vector<TapeDense> dense;
  std::vector<TapeLoop> loops;
  std::vector<TapeSolve> solves;
  /** Per instruction, whether a gradient can reach it from the results (set by check_tape). */
  std::vector<char> live;
  /** Calls, of the program's functions; a loop's body makes none. */
  std::vector<TapeCall> calls;
  /** The functions the program's calls run, their bodies' calls included (empty in a function's body: its caller's). */
  std::vector<std::shared_ptr<const TapeProgram>> functions;
  int64_t block_elements() const { return block_offsets.empty() ? 0 : block_offsets.back() + block_sizes.back(); }
  int registers() const { return num_inputs + num_params + static_cast<int>(consts.size() + code.size()); }
  int first_param() const { return num_inputs; }
  int first_const() const { return num_inputs + num_params; }
  int first_instr() const { return num_inputs + num_params + static_cast<int>(consts.size()); }
};

/**
 * Throws nc::Error unless every instruction is a known form reading earlier registers; sets block_offsets.
 * `functions` is the number of functions the program's calls may name (its own, for a program that has them).
 */
void check_tape(TapeProgram& p, size_t functions = 0);

/** Whether the program branches or calls (its path, and so what it reaches, depends on the sample). */
bool tape_branches(const TapeProgram& p);

/**
 * Marks (reached[k] = 1) the params on the results' gradient path of this sample, as autograd's
 * graph would hold them: through the instructions the sample ran, by their `path`. A param that
 * no sample reaches gets no gradient on the libtorch path (optimizers then leave it alone), so
 * the tier's callers give it none either. `reached` holds the scalar params, then the blocks.
 */
template <class T>
void tape_reach(const TapeProgram& p, const T* value, const T* blocks, std::vector<char>& reached);

/**
 * One sample forward over a register file: `value` holds p.registers() values, of which the
 * inputs, params and constants are set; every instruction's register is written. `blocks` holds
 * the weight blocks' values (p.block_elements(); null for a program without).
 */
template <class T>
void tape_values(const TapeProgram& p, T* value, const T* blocks);

/**
 * One sample in reverse over the registers `tape_values` wrote: `adjoint` (p.registers() values)
 * holds the results' adjoints and zeros elsewhere; the adjoints of every register, the inputs' and
 * params' included, are added, and the weight blocks' to `block_grads` (summed in double, as the
 * callers sum the scalar params' over samples). As libtorch, backward multiplies (0 * inf is NaN)
 * and only the registry's selections (where) stop a non-finite upstream gradient.
 */
template <class T>
void tape_adjoints(const TapeProgram& p, const T* value, T* adjoint, const T* blocks, double* block_grads);

/**
 * One call's data (run_tape). Input i holds its p.input_sizes[i] elements per sample, `batch` samples
 * one after another when batched, else one sample's (shared by every sample); the result likewise
 * p.results.size() elements per sample.
 */
template <class T>
struct TapeIo {
  const T* const* inputs = nullptr;
  const bool* batched = nullptr;
  const T* params = nullptr;  // one value per scalar param
  const T* blocks = nullptr;  // the weight blocks' values
  int64_t batch = 1;
  T* out = nullptr;  // batch x results values
  /** Per input: null, or where d(sum of out)/d(input) goes (per sample when batched, else one sum), as the input's
   * elements. */
  T* const* input_grads = nullptr;
  /** Null, or one sum per scalar param of d(sum of out)/d(param), then one per weight block element. */
  double* param_grads = nullptr;
  /** Null (every result element's adjoint is 1: the gradient of the sum), or the upstream gradient, as out. */
  const T* upstream = nullptr;
};

template <class T>
void run_tape(const TapeProgram& p, const TapeIo<T>& io);

/**
 * The tier as a libtorch autograd function: inputs of their per-sample shapes (p.input_ranks; with
 * a leading [batch] when batched), params the one-element tensors of the scalar params and then the weight blocks
 * (the MLPs' weights and biases, any shape); the result is [batch, ...result_shape] (without the
 * batch for no batched input).
 * Backward runs the reverse program, or, when it is itself recorded (create_graph), replays the
 * instructions through the kernel table (a dense row as its bias plus a product sum) so that higher
 * derivatives are exact.
 */
at::Tensor tape_forward(const std::shared_ptr<const TapeProgram>& program, const std::vector<at::Tensor>& inputs,
                        const std::vector<at::Tensor>& params, bool record);

/**
 * root.backward() without libtorch's engine, when its graph is a tier result (or the sum of one)
 * over leaves whose gradients AccumulateGrad would simply add up (no hooks anywhere, dense CPU
 * .grads, anomaly mode off): the reverse program runs once and its gradients are added into the
 * leaves' .grad as AccumulateGrad adds them; the saved tensors are then freed as without
 * retain_graph. Returns false, having done nothing, for any other graph (the engine runs it).
 */
bool tape_backward(const at::Tensor& root);

}  // namespace nc
