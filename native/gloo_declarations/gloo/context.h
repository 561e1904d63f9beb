#pragma once
// ProcessGroupGloo::setTimeout, an inline virtual, names Context::setTimeout; only libtorch's vtable
// (emitted with its own gloo) ever calls it. See ../README.md.
#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
