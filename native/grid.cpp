#include "grid.h"

#include <ATen/ATen.h>

#include <vector>

namespace nc {
namespace {

using at::Tensor;

int64_t whole(double v) { return static_cast<int64_t>(v); }

/** The per-sample axes of a value of per-sample rank `rank`, as negative torch dimensions. */
std::vector<int64_t> sample_dims(double rank) {
  std::vector<int64_t> dims;
  for (int64_t d = -whole(rank); d < 0; ++d) dims.push_back(d);
  return dims;
}

/** x with n copies of its first and of its last cell on either side along dim. */
Tensor pad_edge_along(const Tensor& x, int64_t dim, int64_t n) {
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes[x.dim() + dim] = n;
  const Tensor first = x.narrow(dim, 0, 1).expand(sizes);
  const Tensor last = x.narrow(dim, x.size(dim) - 1, 1).expand(sizes);
  return at::cat({first, x, last}, dim);
}

/** x with its last n cells before and its first n after, along dim (periodic). */
Tensor pad_wrap_along(const Tensor& x, int64_t dim, int64_t n) {
  return at::cat({x.narrow(dim, x.size(dim) - n, n), x, x.narrow(dim, 0, n)}, dim);
}

/** Pads every per-sample axis in turn; attrs: [width, rank]. Built from narrow and cat, any rank and batch. */
template <typename Along>
Tensor pad_every_axis(Tensor x, c10::ArrayRef<double> attrs, Along along) {
  for (int64_t d : sample_dims(attrs[1])) x = along(x, d, whole(attrs[0]));
  return x;
}

/** The cells of x from 1 to size - 2 along every per-sample axis but `keep`. */
Tensor interior_except(Tensor x, const std::vector<int64_t>& dims, int64_t keep) {
  for (int64_t d : dims)
    if (d != keep) x = x.narrow(d, 1, x.size(d) - 2);
  return x;
}

/** (x[i + span] - x[i]) along dim: the axis shrinks by span. */
Tensor difference(const Tensor& x, int64_t dim, int64_t span) {
  const int64_t n = x.size(dim) - span;
  return x.narrow(dim, span, n) - x.narrow(dim, 0, n);
}

}  // namespace

// attrs: [shift, dim]
NC_KERNEL(roll) { return at::roll(a[0], {whole(at[0])}, {whole(at[1])}); }
NC_KERNEL(pad_edge) { return pad_every_axis(a[0], at, pad_edge_along); }
NC_KERNEL(pad_wrap) { return pad_every_axis(a[0], at, pad_wrap_along); }
// attrs: [width, rank]. The border cells take c (a scalar, or a batch of them aligned to the rank),
// selected by where so that c's gradient is the sum over the border and an infinite c stays there.
NC_KERNEL(pad_const) {
  const Tensor& u = a[0];
  const int64_t rank = whole(at[1]);
  const std::vector<int64_t> pads(2 * rank, whole(at[0]));
  const Tensor inside = at::ones(u.sizes().slice(u.dim() - rank), u.options().requires_grad(false));
  const Tensor border = at::constant_pad_nd(inside, pads, 0) == 0;
  return at::where(border, a[2], at::constant_pad_nd(u, pads, 0));
}
// attrs: [rank]. Second differences along each axis, on the interior of every other axis.
NC_KERNEL(laplacian) {
  const std::vector<int64_t> dims = sample_dims(at[0]);
  Tensor sum;
  for (int64_t d : dims) {
    const Tensor v = interior_except(a[0], dims, d);
    const int64_t n = v.size(d) - 2;
    const Tensor term = v.narrow(d, 0, n) - 2 * v.narrow(d, 1, n) + v.narrow(d, 2, n);
    sum = sum.defined() ? sum + term : term;
  }
  return sum / (a[1] * a[1]);
}
// attrs: [dim]; a[2], when given, is the spacing h.
NC_KERNEL(diff) {
  const Tensor d = difference(a[0], whole(at[0]), 1);
  return a.size() > 2 ? d / a[2] : d;
}
NC_KERNEL(central_diff) {
  const Tensor d = difference(a[0], whole(at[0]), 2);
  return a.size() > 2 ? d / (2 * a[2]) : d / 2;
}
// attrs: [dim, start, length], the bounds normalised by the compiler.
NC_KERNEL(slice) { return a[0].narrow(whole(at[0]), whole(at[1]), whole(at[2])); }
// attrs: [dim, rank]; a[0] is the axis. Unbatched arrays are expanded to the batch of batched ones.
NC_KERNEL(concat) {
  const int64_t rank = whole(at[1]);
  const auto parts = a.slice(1);
  int64_t batch = -1;
  for (const Tensor& t : parts)
    if (t.dim() > rank) batch = t.size(0);
  std::vector<Tensor> joined;
  for (const Tensor& t : parts) {
    if (batch < 0 || t.dim() > rank) {
      joined.push_back(t);
      continue;
    }
    std::vector<int64_t> sizes{batch};
    sizes.insert(sizes.end(), t.sizes().begin(), t.sizes().end());
    joined.push_back(t.unsqueeze(0).expand(sizes));
  }
  return at::cat(joined, whole(at[0]));
}
// attrs: [rank]: reductions over every per-sample axis.
NC_KERNEL(sum_all) { return a[0].sum(sample_dims(at[0])); }
NC_KERNEL(mean_all) { return a[0].mean(sample_dims(at[0])); }
NC_KERNEL(max_all) { return a[0].amax(sample_dims(at[0])); }
NC_KERNEL(min_all) { return a[0].amin(sample_dims(at[0])); }

}  // namespace nc
