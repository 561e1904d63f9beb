#include "kernels.h"

#include <ATen/ATen.h>

#include <atomic>
#include <unordered_map>

#include "errors.h"
#include "grid.h"
#include "ops.generated.h"
#include "stencil.h"
#include "tridiagonal.h"

namespace nc {
namespace {

using Args = c10::ArrayRef<at::Tensor>;
using Attrs = c10::ArrayRef<double>;
using at::Tensor;

constexpr size_t N = SIZE_MAX;

template <typename F>
Tensor fold(Args a, F f) {
  Tensor acc = a[0];
  for (size_t i = 1; i < a.size(); ++i) acc = f(acc, a[i]);
  return acc;
}

// Comparisons and logic yield 0/1 in the floating type of their inputs, without gradient.
Tensor as_float(const Tensor& mask, const Tensor& like) { return mask.to(like.scalar_type()); }

Tensor stack_broadcast(Args a, int64_t dim) { return at::stack(at::broadcast_tensors(a), dim); }

// Index along the last dimension. A scalar index (unbatched) selects; a batched index [B] gathers
// per sample. attrs: [per-sample rank of the result, 1 if v is batched].
Tensor ref(Args a, Attrs attrs) {
  const Tensor& v = a[0];
  const Tensor& idx = a[1];
  const int64_t n = v.size(-1);
  if ((idx != idx.trunc()).any().item<bool>()) throw Error("ref: the index is not a whole number");
  if ((idx < 0).logical_or(idx >= n).any().item<bool>())
    throw Error("ref: index out of range for a last dimension of size " + std::to_string(n));
  if (idx.dim() == 0) return v.select(-1, idx.item<int64_t>());
  const int64_t batch = idx.size(0);
  const auto result_rank = static_cast<int64_t>(attrs[0]);
  Tensor vb = v;
  if (attrs[1] == 0) {
    at::DimVector expanded{batch};
    expanded.append(v.sizes().begin(), v.sizes().end());
    vb = v.unsqueeze(0).expand(expanded);
  }
  at::DimVector view{batch};
  for (int64_t i = 0; i < result_rank; ++i) view.push_back(1);
  view.push_back(1);
  at::DimVector target(vb.sizes().begin(), vb.sizes().end());
  target.back() = 1;
  Tensor index = idx.to(at::kLong).view(view).expand(target);
  return vb.gather(-1, index).squeeze(-1);
}

/** A singular matrix is an error at the call (the graph labels inv and solve nodes), not inf or NaN values. */
void throw_if_singular(const char* op, const Tensor& info) {
  if (info.ne(0).any().item<bool>())
    throw Error(singular_matrix_message(op, info.dim() > 0 ? info.flatten().ne(0).nonzero()[0].item<int64_t>() : -1));
}

/**
 * det by cofactor expansion along the first row: a polynomial in the entries, so autograd gives its
 * exact gradient, the adjugate's transpose, at singular matrices too (linalg_det's backward gives 0
 * there). Used up to 4 x 4 (24 products); larger matrices take linalg_det.
 */
Tensor det_expansion(const Tensor& m) {
  const int64_t n = m.size(-1);
  const auto at_ = [&](int64_t i, int64_t j) { return m.select(-2, i).select(-1, j); };
  if (n == 1) return at_(0, 0);
  if (n == 2) return at_(0, 0) * at_(1, 1) - at_(0, 1) * at_(1, 0);
  const Tensor rest = m.narrow(-2, 1, n - 1);
  Tensor sum;
  for (int64_t j = 0; j < n; ++j) {
    const Tensor minor = at::cat({rest.narrow(-1, 0, j), rest.narrow(-1, j + 1, n - j - 1)}, -1);
    const Tensor term = at_(0, j) * det_expansion(minor);
    sum = !sum.defined() ? term : j % 2 ? sum - term : sum + term;
  }
  return sum;
}

/** A x = B for B [..., n, k]. linalg_solve reads a B with one dimension fewer than A as a batch of
 * vectors, so both operands get the common batch shape explicitly. */
Tensor solve(const Tensor& A, const Tensor& B) {
  auto batch = at::infer_size(A.sizes().slice(0, A.dim() - 2), B.sizes().slice(0, B.dim() - 2));
  auto with_batch = [&](const Tensor& t) {
    at::DimVector shape(batch.begin(), batch.end());
    shape.append(t.sizes().end() - 2, t.sizes().end());
    return t.expand(shape);
  };
  auto [x, info] = at::linalg_solve_ex(with_batch(A), with_batch(B));
  throw_if_singular("solve", info);
  return x;
}

Tensor vector_norm(const Tensor& x) { return at::linalg_vector_norm(x, 2, {-1}); }

// Every op of the registry has a kernel here (or declared in a feature area's header included
// above), named k_<id> after native/ops.generated.h: a missing one is a compile error at the table
// below, an extra one an unused-function warning.

// arithmetic
NC_KERNEL(add) {
  return fold(a, [](const Tensor& x, const Tensor& y) { return x + y; });
}
NC_KERNEL(sub) {
  return a.size() == 1 ? -a[0] : fold(a, [](const Tensor& x, const Tensor& y) { return x - y; });
}
NC_KERNEL(mul) {
  return fold(a, [](const Tensor& x, const Tensor& y) { return x * y; });
}
NC_KERNEL(div) {
  return a.size() == 1 ? at::reciprocal(a[0]) : fold(a, [](const Tensor& x, const Tensor& y) { return x / y; });
}
NC_KERNEL(neg) { return at::neg(a[0]); }
NC_KERNEL(abs) { return at::abs(a[0]); }
NC_KERNEL(sign) { return at::sign(a[0]); }
NC_KERNEL(square) { return a[0] * a[0]; }
NC_KERNEL(pow) { return at::pow(a[0], a[1]); }
// attrs: [exponent], a compile-time constant
NC_KERNEL(pow_scalar) { return at::pow(a[0], at[0]); }
NC_KERNEL(min) {
  return fold(a, [](const Tensor& x, const Tensor& y) { return at::minimum(x, y); });
}
NC_KERNEL(max) {
  return fold(a, [](const Tensor& x, const Tensor& y) { return at::maximum(x, y); });
}
// min(max(x, lo), hi), the definition the reference uses: broadcasts any mix of shapes, and the
// gradient of (clamp c p p) in p is 1 (at::clamp's own backward gives 0 when lo equals hi).
NC_KERNEL(clamp) { return at::minimum(at::maximum(a[0], a[1]), a[2]); }
NC_KERNEL(floor) { return at::floor(a[0]); }
NC_KERNEL(ceil) { return at::ceil(a[0]); }
NC_KERNEL(round) { return at::round(a[0]); }
NC_KERNEL(truncate) { return at::trunc(a[0]); }
NC_KERNEL(quotient) { return at::div(a[0], a[1], "trunc"); }
// R7RS: modulo takes the divisor's sign (torch.remainder), remainder the dividend's (torch.fmod).
NC_KERNEL(modulo) { return at::remainder(a[0], a[1]); }
NC_KERNEL(remainder) { return at::fmod(a[0], a[1]); }
// transcendental
NC_KERNEL(sqrt) { return at::sqrt(a[0]); }
NC_KERNEL(safe_sqrt) { return at::sqrt(at::clamp_min(a[0], 1e-8)); }
NC_KERNEL(rsqrt) { return at::rsqrt(a[0]); }
NC_KERNEL(exp) { return at::exp(a[0]); }
NC_KERNEL(log) { return at::log(a[0]); }
NC_KERNEL(safe_log) { return at::log(at::clamp_min(a[0], 1e-8)); }
NC_KERNEL(log1p) { return at::log1p(a[0]); }
NC_KERNEL(expm1) { return at::expm1(a[0]); }
NC_KERNEL(sin) { return at::sin(a[0]); }
NC_KERNEL(cos) { return at::cos(a[0]); }
NC_KERNEL(tan) { return at::tan(a[0]); }
NC_KERNEL(asin) { return at::asin(a[0]); }
NC_KERNEL(acos) { return at::acos(a[0]); }
NC_KERNEL(atan) { return at::atan(a[0]); }
NC_KERNEL(atan2) { return at::atan2(a[0], a[1]); }
NC_KERNEL(sinh) { return at::sinh(a[0]); }
NC_KERNEL(cosh) { return at::cosh(a[0]); }
NC_KERNEL(tanh) { return at::tanh(a[0]); }
NC_KERNEL(sigmoid) { return at::sigmoid(a[0]); }
// -log_sigmoid(-x) is exact for every x (torch's softplus switches to x above 20) and its
// gradient at 0 is the true 0.5.
NC_KERNEL(softplus) { return at::neg(at::log_sigmoid(at::neg(a[0]))); }
NC_KERNEL(relu) { return at::relu(a[0]); }
NC_KERNEL(erf) { return at::erf(a[0]); }
// comparison and logic
NC_KERNEL(eq) { return as_float(at::eq(a[0], a[1]), a[0]); }
NC_KERNEL(lt) { return as_float(at::lt(a[0], a[1]), a[0]); }
NC_KERNEL(gt) { return as_float(at::gt(a[0], a[1]), a[0]); }
NC_KERNEL(le) { return as_float(at::le(a[0], a[1]), a[0]); }
NC_KERNEL(ge) { return as_float(at::ge(a[0], a[1]), a[0]); }
NC_KERNEL(logical_and) {
  Tensor m = a[0] != 0;
  for (size_t i = 1; i < a.size(); ++i) m = m.logical_and(a[i] != 0);
  return as_float(m, a[0]);
}
NC_KERNEL(logical_or) {
  Tensor m = a[0] != 0;
  for (size_t i = 1; i < a.size(); ++i) m = m.logical_or(a[i] != 0);
  return as_float(m, a[0]);
}
NC_KERNEL(logical_not) { return as_float(a[0] == 0, a[0]); }
// vector
NC_KERNEL(vec) { return stack_broadcast(a, -1); }
NC_KERNEL(ref) { return ref(a, at); }
NC_KERNEL(dot) { return (a[0] * a[1]).sum(-1); }
NC_KERNEL(cross) {
  // By components rather than linalg_cross, whose kernel contracts x1 y2 - x2 y1 into a fused
  // multiply-add: v x v came out as 1e-17 instead of 0 (and a test on it took the wrong branch).
  auto component = [&](int64_t i, int64_t j) {
    return a[0].select(-1, i) * a[1].select(-1, j) - a[0].select(-1, j) * a[1].select(-1, i);
  };
  return at::stack({component(1, 2), component(2, 0), component(0, 1)}, -1);
}
NC_KERNEL(norm) { return vector_norm(a[0]); }
NC_KERNEL(normalize) { return a[0] / at::clamp_min(vector_norm(a[0]), 1e-8).unsqueeze(-1); }
NC_KERNEL(vsum) { return a[0].sum(-1); }
NC_KERNEL(vmean) { return a[0].mean(-1); }
NC_KERNEL(vmax) { return a[0].amax(-1); }
NC_KERNEL(vmin) { return a[0].amin(-1); }
NC_KERNEL(scale) { return a[0] * a[1]; }
// matrix
NC_KERNEL(mat) { return stack_broadcast(a, -2); }
NC_KERNEL(matmul) { return at::matmul(a[0], a[1]); }
NC_KERNEL(matvec) { return at::matmul(a[0], a[1].unsqueeze(-1)).squeeze(-1); }
NC_KERNEL(transpose) { return a[0].transpose(-2, -1); }
NC_KERNEL(trace) { return a[0].diagonal(0, -2, -1).sum(-1); }
NC_KERNEL(det) { return a[0].size(-1) <= 4 ? det_expansion(a[0]) : at::linalg_det(a[0]); }
NC_KERNEL(inv) {
  auto [inverse, info] = at::linalg_inv_ex(a[0]);
  throw_if_singular("inv", info);
  return inverse;
}
// attrs: [1 if b is a vector per sample]
NC_KERNEL(solve) {
  if (at[0] == 0) return solve(a[0], a[1]);
  return solve(a[0], a[1].unsqueeze(-1)).squeeze(-1);
}
NC_KERNEL(outer) { return a[0].unsqueeze(-1) * a[1].unsqueeze(-2); }
// attrs: [1 if the argument is a vector per sample]
NC_KERNEL(diag) { return at[0] != 0 ? at::diag_embed(a[0]) : a[0].diagonal(0, -2, -1); }
// grid: conv and tridiagonal-solve
/**
 * A small kernel shared by every sample, on the CPU: the sum over its taps of the tap times u shifted
 * by it (a view), tap after tap in row-major order. For one channel it beats oneDNN's convolution,
 * which at::convolution picks (the heat2d experiment's learned 3 x 3 stencil on 256 x 256 runs through
 * here). The first tap's product becomes the sum, and each later one is added in place to it.
 */
Tensor conv_by_taps(const Tensor& u, const Tensor& k, int64_t rank) {
  const int64_t taps = k.numel();
  const Tensor flat = k.reshape({-1});
  Tensor out;
  for (int64_t t = 0; t < taps; ++t) {
    Tensor window = u;
    for (int64_t d = rank - 1, rest = t; d >= 0; rest /= k.size(d), --d) {
      const int64_t dim = u.dim() - rank + d;
      window = window.narrow(dim, rest % k.size(d), u.size(dim) - k.size(d) + 1);
    }
    const Tensor tap = flat.select(0, t);
    if (out.defined())
      out.add_(window * tap);
    else
      out = window * tap;
  }
  return out;
}

/**
 * Taps up to this many run as conv_by_taps (27: a 3 x 3 x 3 kernel); larger kernels through
 * at::convolution. Measured on the 2-D 3 x 3 case only: the cap for other ranks and sizes is a guess.
 */
constexpr int64_t kMaxTaps = 27;

// attrs: [per-sample rank r of u and k]: valid cross-correlation (at::convolution is conv1d/2d/3d).
// u [B?, ...] is one channel; a batched k [B, ...] is one kernel per sample, as groups over [1, B, ...].
NC_KERNEL(conv) {
  const auto rank = static_cast<int64_t>(at[0]);
  const bool u_batched = a[0].dim() > rank, k_batched = a[1].dim() > rank;
  if (!k_batched && a[1].numel() <= kMaxTaps && a[0].is_cpu()) return conv_by_taps(a[0], a[1], rank);
  const std::vector<int64_t> ones(static_cast<size_t>(rank), 1), zeros(static_cast<size_t>(rank), 0);
  const auto run = [&](const Tensor& input, const Tensor& weight, int64_t groups) {
    return at::convolution(input, weight, {}, ones, zeros, ones, false, zeros, groups);
  };
  if (!k_batched) {
    const Tensor input = u_batched ? a[0].unsqueeze(1) : a[0].unsqueeze(0).unsqueeze(0);
    const Tensor out = run(input, a[1].unsqueeze(0).unsqueeze(0), 1);
    return u_batched ? out.squeeze(1) : out.squeeze(0).squeeze(0);
  }
  const int64_t batch = a[1].size(0);
  at::DimVector grid{1, batch};
  grid.append(a[0].sizes().end() - rank, a[0].sizes().end());
  const Tensor input = u_batched ? a[0].unsqueeze(0) : a[0].unsqueeze(0).unsqueeze(0).expand(grid);
  return run(input, a[1].unsqueeze(1), batch).squeeze(0);
}
// attrs: [1 if argument k is batched] for lower, diag, upper, rhs
NC_KERNEL(tridiagonal_solve) { return tridiagonal_solve(a, at); }
// structural ops the compiler emits
// attrs: [k]: appends k trailing dimensions of size 1 (aligns a batched scalar or vector for broadcasting)
NC_KERNEL(unsqueeze_tail) {
  at::DimVector s(a[0].sizes().begin(), a[0].sizes().end());
  for (int i = 0; i < static_cast<int>(at[0]); ++i) s.push_back(1);
  return a[0].view(s);
}
// (x, like): x with the batch dimension of `like` (a result that does not depend on the batch)
NC_KERNEL(expand_batch) {
  at::DimVector sizes{a[1].size(0)};
  sizes.append(a[0].sizes().begin(), a[0].sizes().end());
  return a[0].unsqueeze(0).expand(sizes);
}
// elementwise blend for tests that are vectors or matrices per sample
NC_KERNEL(where) { return at::where(a[0] != 0, a[1], a[2]); }
// reductions over everything, for losses in the tensor API
NC_KERNEL(sum) { return a[0].sum(); }
NC_KERNEL(mean) { return a[0].mean(); }

const std::unordered_map<std::string, KernelInfo>& table() {
  static const std::unordered_map<std::string, KernelInfo> t = {
#define NC_KERNEL_ENTRY(id, name, min_args, max_args, attrs) {name, {&k_##id, min_args, max_args, attrs}},
      NC_KERNELS(NC_KERNEL_ENTRY)
#undef NC_KERNEL_ENTRY
  };
  return t;
}

}  // namespace

const KernelInfo& find_kernel(const std::string& name, size_t num_args, size_t num_attrs) {
  auto it = table().find(name);
  if (it == table().end()) throw Error("unknown op '" + name + "'");
  const KernelInfo& k = it->second;
  if (num_args < k.min_args || num_args > k.max_args)
    throw Error("op '" + name + "' takes " + std::to_string(k.min_args) +
                (k.max_args == k.min_args ? ""
                 : k.max_args == N        ? " or more"
                                          : " to " + std::to_string(k.max_args)) +
                " arguments, got " + std::to_string(num_args));
  if (num_attrs != k.num_attrs)
    throw Error("op '" + name + "' takes " + std::to_string(k.num_attrs) + " attributes, got " +
                std::to_string(num_attrs));
  return k;
}

std::vector<std::string> kernel_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : table()) names.push_back(name);
  return names;
}

namespace {
std::atomic<bool> device_paths{false};
}  // namespace

bool device_paths_on_cpu() { return device_paths; }
void set_device_paths_on_cpu(bool on) { device_paths = on; }

at::Tensor apply_kernel(const std::string& name, c10::ArrayRef<at::Tensor> args, c10::ArrayRef<double> attrs) {
  return find_kernel(name, args.size(), attrs.size()).fn(args, attrs);
}

}  // namespace nc
