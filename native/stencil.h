// The fused explicit diffusion step: u + k * lap(u) + e in one pass over the grid, the Laplacian
// taken with zero-flux (edge) or periodic (wrap) boundaries, so the padded copy of u is never made.
// The compiler emits it for `(+ u (* k (laplacian (pad-edge u 1) h)) e)` and its variants.
#pragma once
#include <ATen/core/Tensor.h>

#include "kernels.h"

namespace nc {

enum class Boundary { Edge, Wrap };

/**
 * u + k * L(u) + e, where L is the unit-spacing second-difference Laplacian over the last `rank`
 * dimensions of u (1 to 3; any leading dimensions are a batch) with the given boundary. k is a
 * scalar, one value per leading index, or a field broadcasting to u; e (optional: undefined) a
 * tensor broadcasting to u. Differentiable in u, k and e: on the CPU by its own one-pass backward
 * (L is symmetric for both boundaries, so the gradient of u is g + L(k g)), elsewhere and for
 * double backward through composed ATen ops, which exist on every device.
 */
at::Tensor stencil_step(const at::Tensor& u, const at::Tensor& k, const at::Tensor& e, Boundary boundary, int rank);

/** L(u) from ATen ops (pads built from slices, so any rank and batch, any device): the reference path. */
at::Tensor composed_laplacian(const at::Tensor& u, Boundary boundary, int rank);

/** The registry op: args [u, k, e?], attrs [boundary (0 edge, 1 wrap), rank]. */
NC_KERNEL(stencil_step);

}  // namespace nc
