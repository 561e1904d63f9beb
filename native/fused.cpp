#include "fused.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <mutex>

#include "errors.h"
#include "fused_cuda.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nc {
namespace {

// 512 elements (float32: 2 KB per buffer): with a buffer per value and per adjoint, a short
// program's backward block stays in L1 and a 15-step one in L2. Measured 5 to 8 % faster than 1024
// at batch 1e5; 256 was no faster.
constexpr int64_t kBlock = 512;

/** What the registry says of each fused op, in FusedOp order. */
struct FusedOpInfo {
  const char* name;  // the kernel-table op, for the unfused replay of small tensors
  int arity;
  bool costly;
  size_t num_attrs;
};
constexpr FusedOpInfo kFusedOps[] = {
#define NC_FUSED_INFO(id, name, arity, costly, attrs) {name, arity, costly, attrs},
    NC_FUSED_OPS(NC_FUSED_INFO)
#undef NC_FUSED_INFO
};

/** A program ready for the block kernels: which gradients are wanted, and which contribution comes first. */
struct Plan {
  int num_inputs = 0;
  std::vector<FusedStep> steps;
  std::vector<char> wanted;              // per input
  std::vector<char> reaches;             // per value: a wanted input depends on it (its adjoint is needed)
  std::vector<char> assign_a, assign_b;  // per step: its contribution is the operand's first (assign, not add)
  std::vector<char> kept;                // per step: a recorded forward keeps its value for backward
  int num_values() const { return num_inputs + static_cast<int>(steps.size()); }

  Plan(const FusedProgram& program, std::vector<char> wanted_inputs)
      : num_inputs(program.num_inputs), steps(program.steps), wanted(std::move(wanted_inputs)) {
    // Adjoints that lead to no wanted input are never computed (with only a param wanted, most are not).
    reaches = wanted;
    for (const auto& st : steps) reaches.push_back(reaches[st.a] || (binary(st.op) && reaches[st.b]));
    std::vector<char> seen(num_values(), 0);
    assign_a.resize(steps.size());
    assign_b.resize(steps.size());
    for (const auto& st : steps) kept.push_back(costly(st));
    // The reverse pass visits the steps that reach a wanted input, last to first, each one's a before its b.
    for (size_t s = steps.size(); s-- > 0;) {
      if (!reaches[num_inputs + s]) continue;
      if (reaches[steps[s].a]) {
        assign_a[s] = !seen[steps[s].a];
        seen[steps[s].a] = 1;
      }
      if (binary(steps[s].op) && reaches[steps[s].b]) {
        assign_b[s] = !seen[steps[s].b];
        seen[steps[s].b] = 1;
      }
    }
  }
  static bool binary(FusedOp op) { return kFusedOps[static_cast<int>(op)].arity == 2; }
  /**
   * A SLEEF call (the registry's costly ops): writing its value once and reading it back costs less
   * than computing it again. pow-scalar is costly only where with_pow has no cheaper case.
   */
  static bool costly(const FusedStep& st) {
    const double e = st.exponent;
    if (st.op == FusedOp::PowScalar) return !(e == 1 || e == 2 || e == 3 || e == 0.5 || e == -1 || e == -2);
    return kFusedOps[static_cast<int>(st.op)].costly;
  }
};

/** Input pointers of one call: full tensors (numel elements) or single-element broadcasts. */
template <class T>
struct Operands {
  std::vector<const T*> data;
  std::vector<char> full;
  int64_t numel = 0;
};

/** A loss against a target fused into the pass: its sum per block, and its slope as the result's adjoint. */
template <class T>
struct BlockLoss {
  const T* target = nullptr;  // null: no loss
  LossKind kind = LossKind::Mse;
  T scale = 1;             // the adjoint's factor: 1 / the elements the mean divides by
  double* sums = nullptr;  // per block
};

/**
 * One call's work for the block loops: the result (forward), from its adjoint the input gradients
 * (backward), or both at once (the value and the gradients of its sum, or of a loss).
 */
template <class T>
struct BlockJob {
  T* out = nullptr;         // null in backward alone
  bool stream_out = false;  // written with non-temporal stores (stream_copy)
  struct {
    const T* data = nullptr;  // null in forward
    bool full = true;         // false: one value broadcast over the result (the gradient of a sum)
  } grad_out;
  /** With a target: the result's adjoint is the loss's slope, computed in the pass (grad_out unused). */
  BlockLoss<T> loss;
  T* const* grad_in = nullptr;  // per input: where a full input's gradient goes (null when not wanted)
  double* sums = nullptr;       // per block and input: a broadcast scalar's gradient, summed over the block
  T* const* kept = nullptr;     // per step: the full-size values of Plan::kept steps (null: none kept)
  bool records_kept = false;    // with an adjoint: the pass stores the kept values, as forward does, not reads them
};

// The scalar build: any CPU, std:: math.
namespace generic {
template <class Scalar>
struct V : ScalarMath<Scalar> {  // set1, abs, sgn, min and max as the tier's losses compute them
  using T = Scalar;
  using R = Scalar;
  static constexpr int lanes = 1;
  static R load(const T* p) { return *p; }
  static void store(T* p, R v) { *p = v; }
  static constexpr size_t stream_align = 1;
  static void stream(T* p, R v) { *p = v; }
  static void fence() {}
  static R sqrt(R x) { return std::sqrt(x); }
  static R exp(R x) { return std::exp(x); }
  static R log(R x) { return std::log(x); }
  static R sin(R x) { return std::sin(x); }
  static R cos(R x) { return std::cos(x); }
  static R tanh(R x) { return std::tanh(x); }
  static R pow(R x, R e) { return std::pow(x, e); }
};
#include "fused_blocks.inc"
}  // namespace generic

#if defined(__x86_64__)
// The AVX2 build: compiled for AVX2+FMA whatever the file's flags, chosen at run time when the CPU
// has them. Transcendentals are libtorch's own SLEEF routines (the 1-ulp ones its kernels use).
#pragma GCC push_options
#pragma GCC target("avx2,fma")
extern "C" {
__m256 Sleef_expf8_u10avx2(__m256);
__m256 Sleef_logf8_u10avx2(__m256);
__m256 Sleef_sinf8_u10avx2(__m256);
__m256 Sleef_cosf8_u10avx2(__m256);
__m256 Sleef_tanhf8_u10avx2(__m256);
__m256 Sleef_powf8_u10avx2(__m256, __m256);
__m256d Sleef_expd4_u10avx2(__m256d);
__m256d Sleef_logd4_u10avx2(__m256d);
__m256d Sleef_sind4_u10avx2(__m256d);
__m256d Sleef_cosd4_u10avx2(__m256d);
__m256d Sleef_tanhd4_u10avx2(__m256d);
__m256d Sleef_powd4_u10avx2(__m256d, __m256d);
}
namespace avx2 {
template <class Scalar>
struct V;
template <>
struct V<float> {
  using T = float;
  using R = __m256;
  static constexpr int lanes = 8;
  static R load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, R v) { _mm256_storeu_ps(p, v); }
  static constexpr size_t stream_align = 64;  // whole cache lines
  static void stream(T* p, R v) { _mm256_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static R set1(T x) { return _mm256_set1_ps(x); }
  static R sqrt(R x) { return _mm256_sqrt_ps(x); }
  static R exp(R x) { return Sleef_expf8_u10avx2(x); }
  static R log(R x) { return Sleef_logf8_u10avx2(x); }
  static R sin(R x) { return Sleef_sinf8_u10avx2(x); }
  static R cos(R x) { return Sleef_cosf8_u10avx2(x); }
  static R tanh(R x) { return Sleef_tanhf8_u10avx2(x); }
  static R pow(R x, R e) { return Sleef_powf8_u10avx2(x, e); }
  static R abs(R x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
  static R sgn(R x) {
    const R zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    return _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), one) -
           _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_LT_OQ), one);
  }
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
};
template <>
struct V<double> {
  using T = double;
  using R = __m256d;
  static constexpr int lanes = 4;
  static R load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, R v) { _mm256_storeu_pd(p, v); }
  static constexpr size_t stream_align = 64;  // whole cache lines
  static void stream(T* p, R v) { _mm256_stream_pd(p, v); }
  static void fence() { _mm_sfence(); }
  static R set1(T x) { return _mm256_set1_pd(x); }
  static R sqrt(R x) { return _mm256_sqrt_pd(x); }
  static R exp(R x) { return Sleef_expd4_u10avx2(x); }
  static R log(R x) { return Sleef_logd4_u10avx2(x); }
  static R sin(R x) { return Sleef_sind4_u10avx2(x); }
  static R cos(R x) { return Sleef_cosd4_u10avx2(x); }
  static R tanh(R x) { return Sleef_tanhd4_u10avx2(x); }
  static R pow(R x, R e) { return Sleef_powd4_u10avx2(x, e); }
  static R abs(R x) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), x); }
  static R sgn(R x) {
    const R zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    return _mm256_and_pd(_mm256_cmp_pd(x, zero, _CMP_GT_OQ), one) -
           _mm256_and_pd(_mm256_cmp_pd(x, zero, _CMP_LT_OQ), one);
  }
  static R min(R a, R b) { return _mm256_min_pd(a, b); }
  static R max(R a, R b) { return _mm256_max_pd(a, b); }
};
#include "fused_blocks.inc"
}  // namespace avx2
#pragma GCC pop_options
#endif

bool use_avx2() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

template <class T>
void run_blocks(const Plan& p, const Operands<T>& in, const BlockJob<T>& job, int64_t b0, int64_t b1) {
#if defined(__x86_64__)
  if (use_avx2()) return avx2::run_range<avx2::V<T>>(p, in, job, b0, b1);
#endif
  generic::run_range<generic::V<T>>(p, in, job, b0, b1);
}

int64_t num_blocks(int64_t numel) { return (numel + kBlock - 1) / kBlock; }

/** Contiguous inputs and their pointers; the full ones are those with the most elements. */
template <class T>
Operands<T> operands(const std::vector<at::Tensor>& contiguous) {
  Operands<T> in;
  for (const auto& t : contiguous) in.numel = std::max(in.numel, t.numel());
  for (const auto& t : contiguous) {
    in.data.push_back(t.data_ptr<T>());
    in.full.push_back(t.numel() == in.numel);
  }
  return in;
}

// The program travels to backward as doubles in the autograd context (ctx->saved_data holds IValues).
std::vector<double> encode(const FusedProgram& p) {
  std::vector<double> code{static_cast<double>(p.num_inputs)};
  for (const auto& s : p.steps)
    code.insert(code.end(), {static_cast<double>(s.op), double(s.a), double(s.b), s.exponent});
  return code;
}

const KernelInfo* kernel_of(FusedOp op) {
  const FusedOpInfo& info = kFusedOps[static_cast<int>(op)];
  return &find_kernel(info.name, info.arity, info.num_attrs);
}

FusedProgram decode(const std::vector<double>& code) {
  FusedProgram p;
  p.num_inputs = static_cast<int>(code[0]);
  for (size_t k = 1; k + 3 < code.size(); k += 4) {
    FusedStep s;
    s.op = static_cast<FusedOp>(static_cast<int>(code[k]));
    s.a = static_cast<int>(code[k + 1]);
    s.b = static_cast<int>(code[k + 2]);
    s.exponent = code[k + 3];
    s.kernel = kernel_of(s.op);
    p.steps.push_back(s);
  }
  return p;
}

/** Pointers to the kept steps' values (Plan::kept order; null for steps not kept). */
template <class T>
std::vector<T*> kept_pointers(const Plan& plan, const std::vector<at::Tensor>& kept) {
  std::vector<T*> ptr(plan.steps.size(), nullptr);
  for (size_t s = 0, k = 0; s < plan.steps.size(); ++s)
    if (plan.kept[s]) ptr[s] = kept[k++].data_ptr<T>();
  return ptr;
}

/**
 * Runs a job with an adjoint over every block: allocates the wanted full inputs' gradients, and
 * gives the broadcast ones the sum of their per-block sums (`sums_in_double`: as 0-dim double
 * tensors, not rounded to the inputs' dtype).
 */
template <class T>
std::vector<at::Tensor> gradient_blocks(const Plan& plan, const std::vector<at::Tensor>& inputs, BlockJob<T> job,
                                        bool sums_in_double = false) {
  const Operands<T> in = operands<T>(inputs);
  std::vector<at::Tensor> grads(inputs.size());
  std::vector<T*> grad_ptr(inputs.size(), nullptr);
  for (size_t j = 0; j < inputs.size(); ++j)
    if (plan.wanted[j] && in.full[j]) {
      grads[j] = at::empty(inputs[j].sizes(), inputs[j].options());
      grad_ptr[j] = grads[j].data_ptr<T>();
    }
  // Each block's sums in their own slots, added in block order afterwards: the same bits whatever
  // the number of threads and however the blocks were shared out.
  const size_t blocks = static_cast<size_t>(num_blocks(in.numel));
  std::vector<double> block_sums(blocks * inputs.size(), 0.0);
  job.grad_in = grad_ptr.data();
  job.sums = block_sums.data();
  at::parallel_for(0, num_blocks(in.numel), 1, [&](int64_t b0, int64_t b1) { run_blocks<T>(plan, in, job, b0, b1); });
  for (size_t j = 0; j < inputs.size(); ++j) {
    if (!plan.wanted[j] || in.full[j]) continue;
    double sum = 0;
    for (size_t b = 0; b < blocks; ++b) sum += block_sums[b * inputs.size() + j];
    grads[j] =
        sums_in_double ? at::scalar_tensor(sum, at::kDouble) : at::full(inputs[j].sizes(), sum, inputs[j].options());
  }
  return grads;
}

/** A job's adjoint: 1 everywhere, read as a broadcast (the gradient of a sum). */
template <class T>
void sum_adjoint(BlockJob<T>& job) {
  static const T one = 1;
  job.grad_out.data = &one;
  job.grad_out.full = false;
}

/**
 * The result; with `kept`, also the values of the Plan::kept steps (the last one's is the result).
 * With `sum_wanted`, the same pass also returns the gradients of the result's sum for the inputs it
 * marks (per input, undefined where not wanted; a single element's as a 0-dim double tensor, so
 * that backward scales it before rounding to the dtype): backward, given the gradient of a sum,
 * then need not read the inputs again.
 */
template <class T>
at::Tensor forward_typed(const FusedProgram& program, const std::vector<at::Tensor>& inputs,
                         std::vector<at::Tensor>* kept, const std::vector<char>& sum_wanted,
                         std::vector<at::Tensor>* sum_grads) {
  const bool with_sums = std::find(sum_wanted.begin(), sum_wanted.end(), 1) != sum_wanted.end();
  const Plan plan(program, with_sums ? sum_wanted : std::vector<char>(program.num_inputs, 0));
  const Operands<T> in = operands<T>(inputs);
  at::Tensor out = at::empty(full_sizes(inputs, in.numel), inputs[0].options());
  BlockJob<T> job;
  job.out = out.data_ptr<T>();
  std::vector<T*> kept_ptr;
  if (kept) {
    for (size_t s = 0; s < plan.steps.size(); ++s)
      if (plan.kept[s]) kept->push_back(s + 1 == plan.steps.size() ? out : at::empty_like(out));
    kept_ptr = kept_pointers<T>(plan, *kept);
    job.kept = kept_ptr.data();
  }
  if (with_sums) {
    sum_adjoint(job);
    job.records_kept = true;
    *sum_grads = gradient_blocks<T>(plan, inputs, job, /*sums_in_double=*/true);
    return out;
  }
  at::parallel_for(0, num_blocks(in.numel), 1, [&](int64_t b0, int64_t b1) { run_blocks<T>(plan, in, job, b0, b1); });
  return out;
}

template <class T>
std::vector<at::Tensor> backward_typed(const FusedProgram& program, const std::vector<at::Tensor>& inputs,
                                       const std::vector<at::Tensor>& kept, const at::Tensor& grad_out,
                                       const std::vector<char>& wanted) {
  const Plan plan(program, wanted);
  const std::vector<T*> kept_ptr = kept_pointers<T>(plan, kept);
  // The gradient of a sum is one value expanded: read it as a broadcast, never materialised.
  const bool broadcast = broadcast_value(grad_out);
  const at::Tensor g = broadcast ? grad_out : grad_out.contiguous();
  BlockJob<T> job;
  job.grad_out.data = g.data_ptr<T>();
  job.grad_out.full = !broadcast;
  job.kept = kept_ptr.data();
  return gradient_blocks<T>(plan, inputs, job);
}

/**
 * The result into `out` and the gradients of its sum. A result of 1 MiB or more (beyond most cores'
 * L2) is streamed out: this pass never reads it back, and the caller's array (often new) would
 * otherwise have each line read in before it is written.
 */
template <class T>
std::vector<at::Tensor> value_and_sum_grad_typed(const FusedProgram& program, const std::vector<at::Tensor>& inputs,
                                                 const std::vector<char>& wanted, at::Tensor& out) {
  constexpr int64_t kStreamMinBytes = 1 << 20;
  BlockJob<T> job;
  job.out = out.data_ptr<T>();
  job.stream_out = out.numel() * static_cast<int64_t>(sizeof(T)) >= kStreamMinBytes;
  sum_adjoint(job);
  return gradient_blocks<T>(Plan(program, wanted), inputs, job);
}

/**
 * The result on the CPU (with `kept`, see forward_typed). With `sum_grads`, also the gradients of
 * the result's sum for the inputs that require one, from the same pass.
 */
at::Tensor block_forward(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs, std::vector<at::Tensor>* kept,
                         std::vector<at::Tensor>* sum_grads = nullptr) {
  const std::vector<at::Tensor> in = contiguous(inputs);
  std::vector<char> sum_wanted(in.size(), 0);
  for (size_t j = 0; sum_grads && j < in.size(); ++j) sum_wanted[j] = inputs[j].requires_grad();
  return in[0].scalar_type() == at::kDouble ? forward_typed<double>(program, in, kept, sum_wanted, sum_grads)
                                            : forward_typed<float>(program, in, kept, sum_wanted, sum_grads);
}

/** The unfused evaluation: each step through its kernel, exactly as the graph would have run it. */
at::Tensor run_steps(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs) {
  std::vector<at::Tensor> values(inputs.begin(), inputs.end());
  values.reserve(program.num_inputs + program.steps.size());
  for (const auto& s : program.steps) {
    const bool unary = !Plan::binary(s.op);
    const at::Tensor args[2] = {values[s.a], unary ? at::Tensor() : values[s.b]};
    const c10::ArrayRef<double> attrs(&s.exponent, kFusedOps[static_cast<int>(s.op)].num_attrs);
    values.push_back(s.kernel->fn(c10::ArrayRef<at::Tensor>(args, unary ? 1 : 2), attrs));
  }
  return values.back();
}

// The flag's byte is read and written atomically: fit's worker thread may run a graph's backward.
bool read_flag(const at::Tensor& flag) { return __atomic_load_n(flag.data_ptr<uint8_t>(), __ATOMIC_RELAXED) != 0; }
void write_flag(const at::Tensor& flag, bool value) {
  __atomic_store_n(flag.data_ptr<uint8_t>(), static_cast<uint8_t>(value), __ATOMIC_RELAXED);
}

/**
 * Whether every element of a CPU tensor holds the same bits: an expanded scalar, or a full tensor
 * whose elements all equal its first (found out at the first that does not, for most gradients).
 */
bool one_value(const at::Tensor& t) {
  if (broadcast_value(t)) return true;
  if (!t.is_contiguous()) return false;
  auto same = [&](auto word) {
    using W = decltype(word);
    const W* w = static_cast<const W*>(t.data_ptr());
    return std::all_of(w, w + t.numel(), [&](W x) { return x == w[0]; });
  };
  if (t.element_size() == 8) return same(uint64_t{});
  if (t.element_size() == 4) return same(uint32_t{});
  return false;
}

struct FusedFunction : public torch::autograd::Function<FusedFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const FusedProgram& program, at::TensorList inputs) {
    ctx->saved_data["program"] = encode(program);
    // Saved: the inputs, then the kept steps' values (the result among them when its step is kept).
    std::vector<at::Tensor> kept;       // none on CUDA: its backward kernel recomputes every value in registers
    std::vector<at::Tensor> sum_grads;  // taken only while the node's backward is given the gradient of a sum
    const at::Tensor& seen = program.sum_backward_seen;
    if (seen.defined()) ctx->saved_data["sum_backward_seen"] = seen;
    at::Tensor out = inputs[0].is_cuda() ? cuda_fused_forward(program, inputs)
                                         : block_forward(program, inputs, &kept,
                                                         seen.defined() && read_flag(seen) ? &sum_grads : nullptr);
    std::vector<at::Tensor> saved = inputs.vec();
    saved.insert(saved.end(), kept.begin(), kept.end());
    ctx->save_for_backward(saved);
    // The gradients of the sum, taken in the same pass, for a backward given the gradient of a sum.
    if (!sum_grads.empty()) ctx->saved_data["sum_grads"] = sum_grads;
    return out;
  }

  /**
   * The gradients of the sum forward took, per input (undefined where it took none), taken out of
   * the context whichever way backward goes: unused, they would live as long as the graph (the
   * context outlives a backward that retains it), and used, autograd may keep a full input's
   * gradient without a copy.
   */
  static std::vector<at::Tensor> take_sum_grads(torch::autograd::AutogradContext* ctx, size_t num_inputs) {
    const auto found = ctx->saved_data.find("sum_grads");
    if (found == ctx->saved_data.end()) return std::vector<at::Tensor>(num_inputs);
    std::vector<at::Tensor> sums = found->second.toTensorVector();
    ctx->saved_data.erase(found);
    return sums;
  }

  /**
   * The wanted gradients as c times the sum's, every element of grad_out being c (y.sum() gives 1
   * broadcast, y.mean() 1/n in every element); none unless forward took every wanted one. A single
   * element's sum is scaled in double, then rounded to the dtype.
   */
  static std::optional<std::vector<at::Tensor>> scaled_sum_grads(std::vector<at::Tensor>& sums,
                                                                 const std::vector<at::Tensor>& inputs,
                                                                 const std::vector<char>& wanted,
                                                                 const at::Tensor& grad_out) {
    for (size_t j = 0; j < wanted.size(); ++j)
      if (wanted[j] && !sums[j].defined()) return std::nullopt;
    const at::Tensor c = grad_out.as_strided({}, {}, grad_out.storage_offset());
    const double scale = c.item<double>();
    std::vector<at::Tensor> grads(wanted.size());
    for (size_t j = 0; j < wanted.size(); ++j) {
      if (!wanted[j]) continue;
      if (inputs[j].numel() == 1)
        grads[j] = at::full(inputs[j].sizes(), sums[j].item<double>() * scale, inputs[j].options());
      else
        grads[j] = scale == 1 ? std::move(sums[j]) : sums[j] * c;
    }
    return grads;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const FusedProgram program = decode(ctx->saved_data["program"].toDoubleVector());
    const std::vector<at::Tensor> saved = ctx->get_saved_variables();
    const std::vector<at::Tensor> inputs(saved.begin(), saved.begin() + program.num_inputs);
    const std::vector<at::Tensor> kept(saved.begin() + program.num_inputs, saved.end());
    std::vector<char> wanted(inputs.size());
    for (size_t j = 0; j < inputs.size(); ++j)
      wanted[j] = ctx->needs_input_grad(j);  // edges count only tensor arguments
    const at::Tensor& grad_out = grad_outputs[0];
    std::vector<at::Tensor> sums = take_sum_grads(ctx, inputs.size());
    // What the node's next forwards take: the sum's gradients, while backward is given one value (not
    // with create_graph, whose backward differentiates the recorded steps instead).
    const bool uniform = !c10::GradMode::is_enabled() && grad_out.device().is_cpu() && one_value(grad_out);
    const auto seen = ctx->saved_data.find("sum_backward_seen");
    if (seen != ctx->saved_data.end()) write_flag(seen->second.toTensor(), uniform);
    std::vector<at::Tensor> grads;
    std::optional<std::vector<at::Tensor>> scaled;
    if (c10::GradMode::is_enabled())
      grads = recorded_backward(program, inputs, grad_out, wanted);
    else if (uniform && (scaled = scaled_sum_grads(sums, inputs, wanted, grad_out)))
      grads = std::move(*scaled);
    else if (inputs[0].is_cuda())
      grads = cuda_fused_backward(program, inputs, grad_out, wanted);
    else
      grads = block_backward(program, inputs, kept, grad_out, wanted);
    grads.insert(grads.begin(), at::Tensor());  // for the program argument
    return grads;
  }

  static std::vector<at::Tensor> block_backward(const FusedProgram& program, const std::vector<at::Tensor>& inputs,
                                                const std::vector<at::Tensor>& kept, const at::Tensor& grad_out,
                                                const std::vector<char>& wanted) {
    const std::vector<at::Tensor> in = contiguous(inputs);
    return in[0].scalar_type() == at::kDouble ? backward_typed<double>(program, in, kept, grad_out, wanted)
                                              : backward_typed<float>(program, in, kept, grad_out, wanted);
  }

  /**
   * With create_graph (gradients that are differentiated again) the block loops, which autograd
   * cannot see, give way to the unfused steps, recorded.
   */
  static std::vector<at::Tensor> recorded_backward(const FusedProgram& program, const std::vector<at::Tensor>& saved,
                                                   const at::Tensor& grad_out, const std::vector<char>& wanted) {
    std::vector<at::Tensor> sources;
    for (size_t j = 0; j < saved.size(); ++j)
      if (wanted[j]) sources.push_back(saved[j]);
    const at::Tensor out = run_steps(program, saved);
    const auto found = torch::autograd::grad({out}, sources, {grad_out}, /*retain_graph=*/true, /*create_graph=*/true,
                                             /*allow_unused=*/true);
    std::vector<at::Tensor> grads(saved.size());
    for (size_t j = 0, k = 0; j < saved.size(); ++j)
      if (wanted[j]) grads[j] = found[k++];
    return grads;
  }
};

/** Whether the block kernels take these inputs: kernel operands on the CPU. */
bool block_ready(c10::ArrayRef<at::Tensor> inputs) { return inputs[0].device().is_cpu() && kernel_operands(inputs); }

bool fusable(c10::ArrayRef<at::Tensor> inputs) {
  return full_numel(inputs) >= kFusedMinElements && block_ready(inputs);
}

}  // namespace

at::Tensor new_flag() { return at::zeros({}, at::kByte); }

int64_t full_numel(c10::ArrayRef<at::Tensor> inputs) {
  int64_t n = 0;
  for (const auto& t : inputs) n = std::max(n, t.numel());
  return n;
}

bool kernel_operands(c10::ArrayRef<at::Tensor> inputs) {
  const int64_t numel = full_numel(inputs);
  const at::Tensor& first = inputs[0];
  for (const auto& t : inputs)
    if (t.device() != first.device() || t.scalar_type() != first.scalar_type() ||
        (t.numel() != numel && t.numel() != 1))
      return false;
  return numel > 0 && (first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble);
}

std::vector<at::Tensor> contiguous(c10::ArrayRef<at::Tensor> inputs) {
  std::vector<at::Tensor> out;
  out.reserve(inputs.size());
  for (const auto& t : inputs) out.push_back(t.contiguous());
  return out;
}

bool broadcast_value(const at::Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1 && t.stride(d) != 0) return false;
  return true;
}

at::IntArrayRef full_sizes(const std::vector<at::Tensor>& inputs, int64_t numel) {
  for (const auto& t : inputs)
    if (t.numel() == numel) return t.sizes();
  throw Error("internal: a fused node without a full-size input");
}

FusedStep fused_step(const std::string& name, std::vector<int> args, c10::ArrayRef<double> attrs) {
  int found = -1;
  for (size_t k = 0; k < std::size(kFusedOps); ++k)
    if (name == kFusedOps[k].name && static_cast<size_t>(kFusedOps[k].arity) == args.size())
      found = static_cast<int>(k);
  if (found < 0 || attrs.size() != kFusedOps[found].num_attrs)
    throw Error("op '" + name + "' with " + std::to_string(args.size()) + " arguments and " +
                std::to_string(attrs.size()) + " attributes cannot be fused");
  FusedStep s;
  s.op = static_cast<FusedOp>(found);
  s.a = args[0];
  s.b = args.size() == 2 ? args[1] : args[0];
  s.exponent = attrs.empty() ? 0 : attrs[0];
  s.kernel = kernel_of(s.op);
  return s;
}

at::Tensor run_fused(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs) {
  // On a GPU one kernel launch beats a launch per step at any size.
  const bool cuda = cuda_fusable(inputs);
  if (!cuda && !fusable(inputs)) return run_steps(program, inputs);
  // Nothing to differentiate: no autograd node, no saved inputs.
  const bool record = c10::GradMode::is_enabled() &&
                      std::any_of(inputs.begin(), inputs.end(), [](const at::Tensor& t) { return t.requires_grad(); });
  if (record) return FusedFunction::apply(program, inputs);
  return cuda ? cuda_fused_forward(program, inputs) : block_forward(program, inputs, nullptr);
}

std::optional<FusedLossGrad> fused_loss_grad(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs,
                                             const std::vector<char>& wanted, const at::Tensor& target, LossKind kind) {
  if (wanted.size() != inputs.size()) throw Error("internal: a fused loss gradient wants one flag per input");
  if (!block_ready(inputs) || target.device() != inputs[0].device() ||
      target.scalar_type() != inputs[0].scalar_type() || target.numel() != full_numel(inputs))
    return std::nullopt;
  const std::vector<at::Tensor> in = contiguous(inputs);
  if (!target.sizes().equals(full_sizes(in, full_numel(in))))
    return std::nullopt;  // the autograd path says what is wrong
  const at::Tensor t = target.contiguous();
  FusedLossGrad r;
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const int64_t numel = full_numel(in);
    std::vector<double> sums(static_cast<size_t>(num_blocks(numel)), 0.0);
    BlockJob<T> job;
    job.loss = {t.data_ptr<T>(), kind, static_cast<T>(1.0 / static_cast<double>(numel)), sums.data()};
    r.grads = gradient_blocks<T>(Plan(program, wanted), in, job);
    double sum = 0;
    for (double s : sums) sum += s;  // in block order: the same bits however the blocks were shared out
    r.loss = loss_mean<T>(sum, static_cast<double>(numel));
  };
  in[0].scalar_type() == at::kDouble ? run(0.0) : run(0.0f);
  return r;
}

std::optional<FusedSumGrad> fused_value_and_sum_grad(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs,
                                                     const std::vector<char>& wanted, const at::Tensor& out) {
  if (wanted.size() != inputs.size()) throw Error("internal: a fused value and gradient wants one flag per input");
  if (!block_ready(inputs)) return std::nullopt;
  const std::vector<at::Tensor> in = contiguous(inputs);
  const int64_t numel = full_numel(in);
  if (out.defined() && out.numel() != numel) return std::nullopt;
  FusedSumGrad r;
  r.value = out.defined() ? out : at::empty(full_sizes(in, numel), in[0].options());
  if (r.value.scalar_type() != in[0].scalar_type() || !r.value.is_contiguous())
    throw Error("internal: the output of a fused value and gradient is not a contiguous tensor of its dtype");
  r.grads = in[0].scalar_type() == at::kDouble ? value_and_sum_grad_typed<double>(program, in, wanted, r.value)
                                               : value_and_sum_grad_typed<float>(program, in, wanted, r.value);
  return r;
}

}  // namespace nc
