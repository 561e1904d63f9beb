// (tridiagonal-solve lower diag upper rhs): the Thomas algorithm along the last axis, as an autograd
// function whose backward solves the transposed system.
#pragma once
#include <ATen/ATen.h>

namespace nc {

/**
 * x with A x = rhs along the last axis for every leading index, where A[i][i] = diag[i],
 * A[i+1][i] = lower[i], A[i][i+1] = upper[i]. args: lower, diag, upper, rhs; batched: per argument,
 * 1 if it has the leading batch dimension. Per-sample leading axes are equal or absent (the
 * compiler's shape rule); absent ones and an unbatched argument broadcast. A zero pivot throws,
 * naming the sample of a batch.
 */
at::Tensor tridiagonal_solve(c10::ArrayRef<at::Tensor> args, c10::ArrayRef<double> batched);

}  // namespace nc
