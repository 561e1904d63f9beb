// The one exception type native code throws for bad input. The binding turns it, and libtorch's
// c10::Error, into JS Errors; nothing here knows about Node.
#pragma once
#include <stdexcept>
#include <string>

namespace nc {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace nc
