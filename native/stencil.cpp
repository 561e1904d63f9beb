#include "stencil.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <array>
#include <optional>
#include <utility>

#include "errors.h"

namespace nc {
namespace {

using at::Tensor;

/** How a coefficient broadcasts against the grid: one value, one per leading index, or one per cell. */
enum class Spread { One, PerSample, PerCell };

/** The CPU operands of one sweep, contiguous, of one floating type. */
template <typename T>
struct Sweep {
  const T* a = nullptr;  // added cell by cell; none: 0
  const T* k = nullptr;
  Spread spread = Spread::One;
  const T* v = nullptr;  // the field whose Laplacian is taken
  const T* e = nullptr;  // added cell by cell; none: 0
  T* out = nullptr;
  int64_t batch = 1;
  std::array<int64_t, 3> n{};  // the grid's sizes, rank entries
  bool wrap = false;
};

/** The neighbour of index i along an axis of size n, past an edge: the edge itself, or the far side. */
inline int64_t beyond(int64_t i, int64_t n, bool wrap) {
  if (i < 0) return wrap ? n - 1 : 0;
  if (i >= n) return wrap ? 0 : n - 1;
  return i;
}

/**
 * out = a + k * L(v) + e over the whole batch, one line (the last axis) at a time: the neighbour
 * lines along the other axes are found once per line, so the inner loop is straight-line and
 * vectorises; only its two end cells take the boundary.
 */
template <typename T, int R, bool HasA, bool HasE>
void sweep(const Sweep<T>& s) {
  const int64_t len = s.n[R - 1];
  const int64_t lines_per_grid = R == 1 ? 1 : R == 2 ? s.n[0] : s.n[0] * s.n[1];
  const int64_t cells = lines_per_grid * len;
  const T centre = static_cast<T>(-2 * R);
  at::parallel_for(0, s.batch * lines_per_grid, 64, [&](int64_t begin, int64_t end) {
    for (int64_t line = begin; line < end; ++line) {
      const int64_t b = line / lines_per_grid;
      const int64_t l = line % lines_per_grid;
      const int64_t grid = b * cells;
      const int64_t row = grid + l * len;
      // The lines beside this one along axes 0 and 1 (none for a 1-D grid).
      std::array<const T*, 4> side{};
      if constexpr (R == 2) {
        side[0] = s.v + grid + beyond(l - 1, s.n[0], s.wrap) * len;
        side[1] = s.v + grid + beyond(l + 1, s.n[0], s.wrap) * len;
      } else if constexpr (R == 3) {
        const int64_t i0 = l / s.n[1], i1 = l % s.n[1];
        side[0] = s.v + grid + (beyond(i0 - 1, s.n[0], s.wrap) * s.n[1] + i1) * len;
        side[1] = s.v + grid + (beyond(i0 + 1, s.n[0], s.wrap) * s.n[1] + i1) * len;
        side[2] = s.v + grid + (i0 * s.n[1] + beyond(i1 - 1, s.n[1], s.wrap)) * len;
        side[3] = s.v + grid + (i0 * s.n[1] + beyond(i1 + 1, s.n[1], s.wrap)) * len;
      }
      const T* v = s.v + row;
      const T* k = s.spread == Spread::PerCell ? s.k + row : s.k + (s.spread == Spread::PerSample ? b : 0);
      const int64_t k_step = s.spread == Spread::PerCell ? 1 : 0;
      auto cell = [&](int64_t j, int64_t left, int64_t right) {
        T sum = v[left] + v[right] + centre * v[j];
        for (int p = 0; p < 2 * (R - 1); ++p) sum += side[p][j];
        T r = k[j * k_step] * sum;
        if constexpr (HasA) r += s.a[row + j];
        if constexpr (HasE) r += s.e[row + j];
        s.out[row + j] = r;
      };
      cell(0, beyond(-1, len, s.wrap), beyond(1, len, s.wrap));
      for (int64_t j = 1; j < len - 1; ++j) cell(j, j - 1, j + 1);
      if (len > 1) cell(len - 1, len - 2, beyond(len, len, s.wrap));
    }
  });
}

template <typename T, int R>
void sweep_rank(const Sweep<T>& s) {
  if (s.a && s.e) return sweep<T, R, true, true>(s);
  if (s.a) return sweep<T, R, true, false>(s);
  if (s.e) return sweep<T, R, false, true>(s);
  sweep<T, R, false, false>(s);
}

/** The number of grids in t (its leading indices) and of cells in each. */
std::pair<int64_t, int64_t> batch_and_cells(const Tensor& t, int rank) {
  int64_t cells = 1;
  for (int d = 0; d < rank; ++d) cells *= t.size(t.dim() - rank + d);
  return {cells == 0 ? 0 : t.numel() / cells, cells};
}

/** How k spreads over a grid of `cells` cells in each of `batch` samples; undefined when it does not fit. */
std::optional<Spread> spread_of(const Tensor& k, int64_t batch, int64_t cells) {
  if (k.numel() == 1) return Spread::One;
  if (k.numel() == batch * cells) return Spread::PerCell;
  if (k.numel() == batch && k.dim() >= 1 && k.size(0) == batch) return Spread::PerSample;
  return std::nullopt;
}

/** a + k * L(v) + e on CPU tensors of one floating type; a, e undefined or of v's shape. */
Tensor run_sweep(const Tensor& a, const Tensor& k_in, const Tensor& v_in, const Tensor& e, Boundary boundary,
                 int rank) {
  const Tensor v = v_in.contiguous();
  std::array<int64_t, 3> n{};
  for (int d = 0; d < rank; ++d) n[d] = v.size(v.dim() - rank + d);
  const auto [batch, cells] = batch_and_cells(v, rank);
  auto spread = spread_of(k_in, batch, cells);
  const Tensor k = (spread ? k_in : k_in.expand(v.sizes())).contiguous();
  Tensor out = at::empty_like(v, at::MemoryFormat::Contiguous);
  if (v.numel() == 0) return out;
  const Tensor ac = a.defined() ? a.expand(v.sizes()).contiguous() : a;
  const Tensor ec = e.defined() ? e.expand(v.sizes()).contiguous() : e;
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "stencil_step", [&] {
    Sweep<scalar_t> s;
    s.a = ac.defined() ? ac.data_ptr<scalar_t>() : nullptr;
    s.k = k.data_ptr<scalar_t>();
    s.spread = spread.value_or(Spread::PerCell);
    s.v = v.data_ptr<scalar_t>();
    s.e = ec.defined() ? ec.data_ptr<scalar_t>() : nullptr;
    s.out = out.data_ptr<scalar_t>();
    s.batch = batch;
    s.n = n;
    s.wrap = boundary == Boundary::Wrap;
    if (rank == 1)
      sweep_rank<scalar_t, 1>(s);
    else if (rank == 2)
      sweep_rank<scalar_t, 2>(s);
    else
      sweep_rank<scalar_t, 3>(s);
  });
  return out;
}

/** The composed expression, on any device; autograd differentiates it. */
Tensor composed_step(const Tensor& u, const Tensor& k, const Tensor& e, Boundary boundary, int rank) {
  Tensor out = u + k * composed_laplacian(u, boundary, rank);
  return e.defined() ? out + e : out;
}

/** Reduces a gradient of u's shape to the shape of an operand that broadcast to it. */
Tensor to_shape(const Tensor& g, const Tensor& like) { return g.sum_to_size(like.sizes()); }

// An undefined tensor cannot be a custom function's input, so the step without e has its own forward.
struct StencilFunction : public torch::autograd::Function<StencilFunction> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& u, const Tensor& k, const Tensor& e,
                        int64_t boundary, int64_t rank) {
    ctx->saved_data["boundary"] = boundary;
    ctx->saved_data["rank"] = rank;
    ctx->saved_data["has_e"] = e.defined();
    if (e.defined()) ctx->saved_data["e_shape"] = e.sizes().vec();
    ctx->save_for_backward({u, k});
    return run_sweep(u, k, u, e, static_cast<Boundary>(boundary), static_cast<int>(rank));
  }
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& u, const Tensor& k, int64_t boundary,
                        int64_t rank) {
    return forward(ctx, u, k, Tensor(), boundary, rank);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &u = saved[0], &k = saved[1];
    const bool has_e = ctx->saved_data["has_e"].toBool();
    const auto boundary = static_cast<Boundary>(ctx->saved_data["boundary"].toInt());
    const int rank = static_cast<int>(ctx->saved_data["rank"].toInt());
    const Tensor g = grads[0].contiguous();
    Tensor gu, gk, ge;
    if (c10::GradMode::is_enabled()) {
      // A gradient to be differentiated again: the same formulas in composed, recorded ops.
      if (ctx->needs_input_grad(0)) gu = g + composed_laplacian(k * g, boundary, rank);
      if (ctx->needs_input_grad(1)) gk = to_shape(g * composed_laplacian(u, boundary, rank), k);
    } else {
      const auto [batch, cells] = batch_and_cells(g, rank);
      const bool per_cell = spread_of(k, batch, cells).value_or(Spread::PerCell) == Spread::PerCell;
      // L is symmetric (edge and wrap alike), so d/du of sum(g * (u + k L u)) is g + L(k g).
      if (ctx->needs_input_grad(0))
        gu = per_cell ? run_sweep(g, at::ones({}, g.options()), k.expand(g.sizes()) * g, Tensor(), boundary, rank)
                      : run_sweep(g, k, g, Tensor(), boundary, rank);
      if (ctx->needs_input_grad(1)) gk = to_shape(run_sweep(Tensor(), g, u, Tensor(), boundary, rank), k);
    }
    if (!has_e) return {gu, gk, Tensor(), Tensor()};
    if (ctx->needs_input_grad(2)) ge = g.sum_to_size(ctx->saved_data["e_shape"].toIntVector());
    return {gu, gk, ge, Tensor(), Tensor()};
  }
};

bool fast_path(const Tensor& u, const Tensor& k, const Tensor& e) {
  const auto type = u.scalar_type();
  auto fits = [&](const Tensor& t) { return !t.defined() || (t.device().is_cpu() && t.scalar_type() == type); };
  return u.device().is_cpu() && !device_paths_on_cpu() && (type == at::kFloat || type == at::kDouble) && fits(k) &&
         fits(e);
}

}  // namespace

Tensor composed_laplacian(const Tensor& u, Boundary boundary, int rank) {
  Tensor sum;
  for (int64_t d = -rank; d < 0; ++d) {
    const int64_t n = u.size(d);
    const bool wrap = boundary == Boundary::Wrap;
    const Tensor first = u.narrow(d, 0, 1), last = u.narrow(d, n - 1, 1);
    const Tensor before = at::cat({wrap ? last : first, u.narrow(d, 0, n - 1)}, d);  // u[i - 1]
    const Tensor after = at::cat({u.narrow(d, 1, n - 1), wrap ? first : last}, d);   // u[i + 1]
    const Tensor term = before + after - 2 * u;
    sum = sum.defined() ? sum + term : term;
  }
  return sum;
}

Tensor stencil_step(const Tensor& u, const Tensor& k, const Tensor& e, Boundary boundary, int rank) {
  if (rank < 1 || rank > 3 || u.dim() < rank)
    throw Error("stencil step: a grid of rank " + std::to_string(rank) + " in a tensor of " + std::to_string(u.dim()) +
                " dimensions");
  if (!fast_path(u, k, e)) return composed_step(u, k, e, boundary, rank);
  // A batched coefficient or term over an unbatched grid: the step is batched, so is its grid.
  const auto shape = at::infer_size(u.sizes(), e.defined() ? at::infer_size(k.sizes(), e.sizes()) : k.sizes().vec());
  if (!u.sizes().equals(shape)) return stencil_step(u.expand(shape), k, e, boundary, rank);
  const bool record =
      c10::GradMode::is_enabled() && (u.requires_grad() || k.requires_grad() || (e.defined() && e.requires_grad()));
  if (record) {
    const auto b = static_cast<int64_t>(boundary);
    return e.defined() ? StencilFunction::apply(u, k, e, b, int64_t{rank})
                       : StencilFunction::apply(u, k, b, int64_t{rank});
  }
  return run_sweep(u, k, u, e, boundary, rank);
}

NC_KERNEL(stencil_step) {
  const auto boundary = static_cast<Boundary>(static_cast<int>(at[0]));
  return stencil_step(a[0], a[1], a.size() > 2 ? a[2] : Tensor(), boundary, static_cast<int>(at[1]));
}

}  // namespace nc
