// A learned component that a compiled program can call like a function: `(drag v)` runs it on the
// call's arguments. The graph executor sees only this interface, never a concrete model.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace nc {

struct Callable {
  virtual ~Callable() = default;
  /**
   * Runs the component on one call's arguments, each a per-sample scalar or vector. batched[i]
   * says whether args[i] carries the leading batch dimension ([B] / [B, n] rather than [] / [n]):
   * shapes alone are ambiguous, as [3] may be three samples of a scalar or one vector of three.
   * The result carries the batch dimension exactly when some argument does. Bad arguments throw
   * nc::Error.
   */
  virtual at::Tensor call(const std::vector<at::Tensor>& args, const std::vector<bool>& batched) = 0;
  /** The number of scalar features the arguments must add up to. */
  virtual int64_t in_features() const = 0;
  /** 1 for a scalar result, n for a vector of n. */
  virtual int64_t out_features() const = 0;
};

}  // namespace nc
