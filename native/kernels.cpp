#include "kernels.h"

#include <ATen/ATen.h>

#include <unordered_map>

#include "errors.h"

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

/** A x = B for B [..., n, k]. linalg_solve reads a B with one dimension fewer than A as a batch of
 * vectors, so both operands get the common batch shape explicitly. */
Tensor solve(const Tensor& A, const Tensor& B) {
  auto batch = at::infer_size(A.sizes().slice(0, A.dim() - 2), B.sizes().slice(0, B.dim() - 2));
  auto with_batch = [&](const Tensor& t) {
    at::DimVector shape(batch.begin(), batch.end());
    shape.append(t.sizes().end() - 2, t.sizes().end());
    return t.expand(shape);
  };
  return at::linalg_solve(with_batch(A), with_batch(B));
}

Tensor vector_norm(const Tensor& x) { return at::linalg_vector_norm(x, 2, {-1}); }

const std::unordered_map<std::string, KernelInfo>& table() {
  static const std::unordered_map<std::string, KernelInfo> t = {
      // arithmetic
      {"+", {[](Args a, Attrs) { return fold(a, [](const Tensor& x, const Tensor& y) { return x + y; }); }, 1, N}},
      {"-",
       {[](Args a, Attrs) {
          return a.size() == 1 ? -a[0] : fold(a, [](const Tensor& x, const Tensor& y) { return x - y; });
        },
        1, N}},
      {"*", {[](Args a, Attrs) { return fold(a, [](const Tensor& x, const Tensor& y) { return x * y; }); }, 1, N}},
      {"/",
       {[](Args a, Attrs) {
          return a.size() == 1 ? at::reciprocal(a[0]) : fold(a, [](const Tensor& x, const Tensor& y) { return x / y; });
        },
        1, N}},
      {"neg", {[](Args a, Attrs) { return at::neg(a[0]); }, 1, 1}},
      {"abs", {[](Args a, Attrs) { return at::abs(a[0]); }, 1, 1}},
      {"sign", {[](Args a, Attrs) { return at::sign(a[0]); }, 1, 1}},
      {"square", {[](Args a, Attrs) { return a[0] * a[0]; }, 1, 1}},
      {"pow", {[](Args a, Attrs) { return at::pow(a[0], a[1]); }, 2, 2}},
      // attrs: [exponent], a compile-time constant
      {"pow-scalar", {[](Args a, Attrs at) { return at::pow(a[0], at[0]); }, 1, 1, 1}},
      {"min",
       {[](Args a, Attrs) { return fold(a, [](const Tensor& x, const Tensor& y) { return at::minimum(x, y); }); }, 1,
        N}},
      {"max",
       {[](Args a, Attrs) { return fold(a, [](const Tensor& x, const Tensor& y) { return at::maximum(x, y); }); }, 1,
        N}},
      // min(max(x, lo), hi), the definition the reference uses: broadcasts any mix of shapes, and the
      // gradient of (clamp c p p) in p is 1 (at::clamp's own backward gives 0 when lo equals hi).
      {"clamp", {[](Args a, Attrs) { return at::minimum(at::maximum(a[0], a[1]), a[2]); }, 3, 3}},
      {"floor", {[](Args a, Attrs) { return at::floor(a[0]); }, 1, 1}},
      {"ceil", {[](Args a, Attrs) { return at::ceil(a[0]); }, 1, 1}},
      {"round", {[](Args a, Attrs) { return at::round(a[0]); }, 1, 1}},
      {"truncate", {[](Args a, Attrs) { return at::trunc(a[0]); }, 1, 1}},
      {"quotient", {[](Args a, Attrs) { return at::div(a[0], a[1], "trunc"); }, 2, 2}},
      // R7RS: modulo takes the divisor's sign (torch.remainder), remainder the dividend's (torch.fmod).
      {"modulo", {[](Args a, Attrs) { return at::remainder(a[0], a[1]); }, 2, 2}},
      {"remainder", {[](Args a, Attrs) { return at::fmod(a[0], a[1]); }, 2, 2}},
      // transcendental
      {"sqrt", {[](Args a, Attrs) { return at::sqrt(a[0]); }, 1, 1}},
      {"safe-sqrt", {[](Args a, Attrs) { return at::sqrt(at::clamp_min(a[0], 1e-8)); }, 1, 1}},
      {"exp", {[](Args a, Attrs) { return at::exp(a[0]); }, 1, 1}},
      {"log", {[](Args a, Attrs) { return at::log(a[0]); }, 1, 1}},
      {"safe-log", {[](Args a, Attrs) { return at::log(at::clamp_min(a[0], 1e-8)); }, 1, 1}},
      {"log1p", {[](Args a, Attrs) { return at::log1p(a[0]); }, 1, 1}},
      {"expm1", {[](Args a, Attrs) { return at::expm1(a[0]); }, 1, 1}},
      {"sin", {[](Args a, Attrs) { return at::sin(a[0]); }, 1, 1}},
      {"cos", {[](Args a, Attrs) { return at::cos(a[0]); }, 1, 1}},
      {"tan", {[](Args a, Attrs) { return at::tan(a[0]); }, 1, 1}},
      {"asin", {[](Args a, Attrs) { return at::asin(a[0]); }, 1, 1}},
      {"acos", {[](Args a, Attrs) { return at::acos(a[0]); }, 1, 1}},
      {"atan", {[](Args a, Attrs) { return at::atan(a[0]); }, 1, 1}},
      {"atan2", {[](Args a, Attrs) { return at::atan2(a[0], a[1]); }, 2, 2}},
      {"sinh", {[](Args a, Attrs) { return at::sinh(a[0]); }, 1, 1}},
      {"cosh", {[](Args a, Attrs) { return at::cosh(a[0]); }, 1, 1}},
      {"tanh", {[](Args a, Attrs) { return at::tanh(a[0]); }, 1, 1}},
      {"sigmoid", {[](Args a, Attrs) { return at::sigmoid(a[0]); }, 1, 1}},
      // -log_sigmoid(-x) is exact for every x (torch's softplus switches to x above 20) and its
      // gradient at 0 is the true 0.5.
      {"softplus", {[](Args a, Attrs) { return at::neg(at::log_sigmoid(at::neg(a[0]))); }, 1, 1}},
      {"relu", {[](Args a, Attrs) { return at::relu(a[0]); }, 1, 1}},
      {"erf", {[](Args a, Attrs) { return at::erf(a[0]); }, 1, 1}},
      // comparison and logic
      {"=", {[](Args a, Attrs) { return as_float(at::eq(a[0], a[1]), a[0]); }, 2, 2}},
      {"<", {[](Args a, Attrs) { return as_float(at::lt(a[0], a[1]), a[0]); }, 2, 2}},
      {">", {[](Args a, Attrs) { return as_float(at::gt(a[0], a[1]), a[0]); }, 2, 2}},
      {"<=", {[](Args a, Attrs) { return as_float(at::le(a[0], a[1]), a[0]); }, 2, 2}},
      {">=", {[](Args a, Attrs) { return as_float(at::ge(a[0], a[1]), a[0]); }, 2, 2}},
      {"and",
       {[](Args a, Attrs) {
          Tensor m = a[0] != 0;
          for (size_t i = 1; i < a.size(); ++i) m = m.logical_and(a[i] != 0);
          return as_float(m, a[0]);
        },
        1, N}},
      {"or",
       {[](Args a, Attrs) {
          Tensor m = a[0] != 0;
          for (size_t i = 1; i < a.size(); ++i) m = m.logical_or(a[i] != 0);
          return as_float(m, a[0]);
        },
        1, N}},
      {"not", {[](Args a, Attrs) { return as_float(a[0] == 0, a[0]); }, 1, 1}},
      // vector
      {"vec", {[](Args a, Attrs) { return stack_broadcast(a, -1); }, 1, N}},
      {"ref", {[](Args a, Attrs at) { return ref(a, at); }, 2, 2, 2}},
      {"dot", {[](Args a, Attrs) { return (a[0] * a[1]).sum(-1); }, 2, 2}},
      {"cross",
       {[](Args a, Attrs) {
          // By components rather than linalg_cross, whose kernel contracts x1 y2 - x2 y1 into a fused
          // multiply-add: v x v came out as 1e-17 instead of 0 (and a test on it took the wrong branch).
          auto component = [&](int64_t i, int64_t j) {
            return a[0].select(-1, i) * a[1].select(-1, j) - a[0].select(-1, j) * a[1].select(-1, i);
          };
          return at::stack({component(1, 2), component(2, 0), component(0, 1)}, -1);
        },
        2, 2}},
      {"norm", {[](Args a, Attrs) { return vector_norm(a[0]); }, 1, 1}},
      {"normalize", {[](Args a, Attrs) { return a[0] / at::clamp_min(vector_norm(a[0]), 1e-8).unsqueeze(-1); }, 1, 1}},
      {"vsum", {[](Args a, Attrs) { return a[0].sum(-1); }, 1, 1}},
      {"vmean", {[](Args a, Attrs) { return a[0].mean(-1); }, 1, 1}},
      {"vmax", {[](Args a, Attrs) { return a[0].amax(-1); }, 1, 1}},
      {"vmin", {[](Args a, Attrs) { return a[0].amin(-1); }, 1, 1}},
      {"scale", {[](Args a, Attrs) { return a[0] * a[1]; }, 2, 2}},
      // matrix
      {"mat", {[](Args a, Attrs) { return stack_broadcast(a, -2); }, 1, N}},
      {"matmul", {[](Args a, Attrs) { return at::matmul(a[0], a[1]); }, 2, 2}},
      {"matvec", {[](Args a, Attrs) { return at::matmul(a[0], a[1].unsqueeze(-1)).squeeze(-1); }, 2, 2}},
      {"transpose", {[](Args a, Attrs) { return a[0].transpose(-2, -1); }, 1, 1}},
      {"trace", {[](Args a, Attrs) { return a[0].diagonal(0, -2, -1).sum(-1); }, 1, 1}},
      {"det", {[](Args a, Attrs) { return at::linalg_det(a[0]); }, 1, 1}},
      {"inv", {[](Args a, Attrs) { return at::linalg_inv(a[0]); }, 1, 1}},
      // attrs: [1 if b is a vector per sample]
      {"solve",
       {[](Args a, Attrs at) {
          if (at[0] == 0) return solve(a[0], a[1]);
          return solve(a[0], a[1].unsqueeze(-1)).squeeze(-1);
        },
        2, 2, 1}},
      {"outer", {[](Args a, Attrs) { return a[0].unsqueeze(-1) * a[1].unsqueeze(-2); }, 2, 2}},
      // attrs: [1 if the argument is a vector per sample]
      {"diag",
       {[](Args a, Attrs at) { return at[0] != 0 ? at::diag_embed(a[0]) : a[0].diagonal(0, -2, -1); }, 1, 1, 1}},
      // structural ops the compiler emits
      // attrs: [k]: appends k trailing dimensions of size 1 (aligns a batched scalar or vector for broadcasting)
      {"unsqueeze-tail",
       {[](Args a, Attrs at) {
          at::DimVector s(a[0].sizes().begin(), a[0].sizes().end());
          for (int i = 0; i < static_cast<int>(at[0]); ++i) s.push_back(1);
          return a[0].view(s);
        },
        1, 1, 1}},
      // (x, like): x with the batch dimension of `like` (a result that does not depend on the batch)
      {"expand-batch",
       {[](Args a, Attrs) {
          at::DimVector sizes{a[1].size(0)};
          sizes.append(a[0].sizes().begin(), a[0].sizes().end());
          return a[0].unsqueeze(0).expand(sizes);
        },
        2, 2}},
      // elementwise blend for tests that are vectors or matrices per sample
      {"where", {[](Args a, Attrs) { return at::where(a[0] != 0, a[1], a[2]); }, 3, 3}},
      // reductions over everything, for losses in the tensor API
      {"sum", {[](Args a, Attrs) { return a[0].sum(); }, 1, 1}},
      {"mean", {[](Args a, Attrs) { return a[0].mean(); }, 1, 1}},
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

at::Tensor apply_kernel(const std::string& name, c10::ArrayRef<at::Tensor> args, c10::ArrayRef<double> attrs) {
  return find_kernel(name, args.size(), attrs.size()).fn(args, attrs);
}

}  // namespace nc
