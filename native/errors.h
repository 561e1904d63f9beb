// The one exception type native code throws for bad input. The binding turns it, and libtorch's
// c10::Error, into JS Errors; nothing here knows about Node.
#pragma once
#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace nc {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/**
 * A running program's failure at one of its labelled nodes, so the compiler can point at the source:
 * `where` is the node's label, `kind` what went wrong there.
 */
struct NodeError : Error {
  enum class Kind {
    Limit,
    Budget,
    Value
  };  // a loop's or call's limit; the run's step budget; a value a kernel refused
  NodeError(std::string where_, Kind kind_, const std::string& message)
      : Error(where_ + ": " + message), where(std::move(where_)), kind(kind_) {}
  std::string where;
  Kind kind;
};

/** A singular matrix at inv or solve, as both executors word it; `sample` (from 0) names one of a batch. */
inline std::string singular_matrix_message(const std::string& op, int64_t sample = -1) {
  return op + ": the matrix is singular" + (sample >= 0 ? " (sample " + std::to_string(sample) + ")" : "");
}

/** A loop past its iteration limit, as both executors (graph.cpp, tape.cpp) report it. */
inline NodeError loop_limit_error(const std::string& label, int64_t limit) {
  return NodeError(label, NodeError::Kind::Limit,
                   "more than " + std::to_string(limit) +
                       " iterations (raise the limit with the `limit` compile option if this is intended)");
}

/** Recursion past its depth limit, as both executors report it. */
inline NodeError recursion_limit_error(const std::string& label, int64_t limit) {
  return NodeError(label, NodeError::Kind::Limit,
                   "recursion deeper than " + std::to_string(limit) +
                       " calls (raise the limit with the `limit` compile option if this is intended)");
}

/**
 * An ODE solution that blows up: a state or right-hand side that is not finite, or an adaptive step
 * that collapses. fit counts it as a non-finite loss; the binding gives its JS Error the kind
 * 'ode-blowup', so callers branch on the type, never on the message.
 */
struct OdeBlowUp : Error {
  using Error::Error;
};

/**
 * A distributed fit that cannot reach its other ranks, or finds them running another fit: the
 * binding gives its JS Error the kind 'distributed', and fit() never retries it (stages, starts).
 */
struct DistributedError : Error {
  using Error::Error;
};

/** A number as error messages show it: `digits` significant digits, no trailing zeros. */
inline std::string number_text(double v, int digits) {
  if (std::isnan(v)) return "nan";  // a NaN's sign bit means nothing, but the stream would print -nan
  std::ostringstream s;
  s.precision(digits);
  s << v;
  return s.str();
}

}  // namespace nc
