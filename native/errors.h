// The one exception type native code throws for bad input. The binding turns it, and libtorch's
// c10::Error, into JS Errors; nothing here knows about Node.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace nc {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** A number as error messages show it: `digits` significant digits, no trailing zeros. */
inline std::string number_text(double v, int digits) {
  std::ostringstream s;
  s.precision(digits);
  s << v;
  return s.str();
}

}  // namespace nc
