// The fit losses (the mean over the elements of MSE, MAE or Huber with delta 1, as ATen's mse_loss,
// l1_loss and huber_loss): their kinds, and the per-element terms for the paths that compute them
// without ATen, the tier's fit (tier_fit.cpp) and the fused pass (fused_blocks.inc).
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace nc {

enum class LossKind { Mse, Mae, Huber };
/** The losses' names in enum order: src/train/settings.ts's LOSSES (tests/train-settings.test.ts checks). */
inline constexpr std::array<const char*, 3> kLossNames{"mse", "mae", "huber"};

namespace element {  // not nc itself, where argument-dependent lookup would find it beside fused_blocks.inc's copies
#include "loss_term.inc"
}  // namespace element

/** loss_term's math on one element (the fused blocks' scalar build takes it too). */
template <class T>
struct ScalarMath {
  static T set1(T x) { return x; }
  static T abs(T x) { return std::abs(x); }
  static T sgn(T x) { return static_cast<T>((x > T(0)) - (x < T(0))); }
  static T min(T a, T b) { return std::min(a, b); }
  static T max(T a, T b) { return std::max(a, b); }
};

/** One element's loss term and slope in the model's dtype T (the two come together: both are wanted). */
template <class T>
struct ElementLoss {
  LossKind kind;
  std::pair<T, T> term_and_slope(T d) const {
    std::pair<T, T> r;
    element::loss_term<ScalarMath<T>>(kind, d, r.first, r.second);
    return r;
  }
};

/**
 * The mean of `count` terms whose sum (in double, as ATen's CPU sums) is `sum`, as the model's
 * dtype T holds it: ATen's loss is a tensor of that dtype.
 */
template <class T>
double loss_mean(double sum, double count) {
  return static_cast<double>(static_cast<T>(sum / count));
}

}  // namespace nc
