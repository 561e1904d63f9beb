#include "tape.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "errors.h"
#include "ops.generated.h"

namespace nc {
namespace {

// The scalar functions the registry's formulas name, with libtorch's semantics where C's differ.
template <class T>
T min(T a, T b) {  // NaN if either is, as at::minimum
  return a != a || b != b ? std::numeric_limits<T>::quiet_NaN() : std::min(a, b);
}
template <class T>
T max(T a, T b) {
  return a != a || b != b ? std::numeric_limits<T>::quiet_NaN() : std::max(a, b);
}
template <class T>
T sgn(T a) {  // 0 for NaN and both zeros
  return static_cast<T>((a > T(0)) - (a < T(0)));
}
template <class T>
T sigmoid(T a) {
  return a >= T(0) ? T(1) / (T(1) + std::exp(-a)) : std::exp(a) / (T(1) + std::exp(a));
}
template <class T>
T floorrem(T a, T b) {  // torch.remainder: fmod, shifted to the divisor's sign
  const T r = std::fmod(a, b);
  return r != T(0) && (r < T(0)) != (b < T(0)) ? r + b : r;
}
template <class T>
T floordiv(T a, T b) {  // c10's div_floor_floating, which modulo's backward uses
  if (b == T(0)) return a / b;
  const T mod = std::fmod(a, b);
  T div = (a - mod) / b;
  if (mod != T(0) && (b < T(0)) != (mod < T(0))) div -= T(1);
  if (div == T(0)) return std::copysign(T(0), a / b);
  const T floor = std::floor(div);
  return div - floor > T(0.5) ? floor + T(1) : floor;
}
template <class T>
T pow_scalar(T a, T e) {  // libtorch's pow(Tensor, Scalar): 0.5 and -0.5 are sqrt and rsqrt
  if (e == T(0.5)) return std::sqrt(a);
  if (e == T(-0.5)) return T(1) / std::sqrt(a);
  return std::pow(a, e);
}

}  // namespace

void check_tape(const TapeProgram& p) {
  if (p.num_inputs < 0 || p.num_params < 0) throw Error("internal: a tape with negative counts");
  int next = p.num_inputs + p.num_params + static_cast<int>(p.consts.size());
  for (const TapeInstr& in : p.code) {
    if (in.op < 0 || in.op >= NC_TAPE_FORMS_COUNT) throw Error("internal: a tape instruction of unknown form");
    for (int r : {in.a, in.b, in.c})
      if (r < -1 || r >= next) throw Error("internal: a tape instruction reads a register not yet written");
    if (in.a < 0) throw Error("internal: a tape instruction without operands");
    ++next;
  }
  if (p.result < 0 || p.result >= next) throw Error("internal: the tape's result is not a register");
}

template <class T>
void run_tape(const TapeProgram& p, const TapeIo<T>& io) {
  thread_local std::vector<T> value, adjoint;
  const int n = p.registers();
  value.resize(n);
  const int params = p.num_inputs;
  const int first = params + p.num_params + static_cast<int>(p.consts.size());
  for (int k = 0; k < p.num_params; ++k) value[params + k] = io.params[k];
  for (size_t k = 0; k < p.consts.size(); ++k) value[params + p.num_params + k] = static_cast<T>(p.consts[k]);
  bool want_grads = io.param_grads != nullptr;
  for (int i = 0; i < p.num_inputs && io.input_grads; ++i) want_grads = want_grads || io.input_grads[i];
  if (want_grads) adjoint.resize(n);
  for (int i = 0; i < p.num_inputs && io.input_grads; ++i)
    if (io.input_grads[i] && !io.batched[i]) io.input_grads[i][0] = T(0);
  const size_t steps = p.code.size();
  for (int64_t s = 0; s < io.batch; ++s) {
    for (int i = 0; i < p.num_inputs; ++i) value[i] = io.inputs[i][io.batched[i] ? s : 0];
    for (size_t k = 0; k < steps; ++k) {
      const TapeInstr& in = p.code[k];
      const T A = value[in.a];
      const T B = in.b >= 0 ? value[in.b] : T(0);
      const T C = in.c >= 0 ? value[in.c] : T(0);
      const double e = in.attr;
      T& O = value[first + k];
      switch (in.op) {
#define NC_TAPE_FORWARD
#include "tape_steps.generated.inc"
#undef NC_TAPE_FORWARD
      }
    }
    io.out[s] = value[p.result];
    if (!want_grads) continue;
    // The gradient of sum(out): every sample's result has adjoint 1. As libtorch, backward
    // multiplies (0 * inf is NaN) and only the registry's selections (where) stop a non-finite one.
    std::fill(adjoint.begin(), adjoint.end(), T(0));
    adjoint[p.result] = T(1);
    for (size_t k = steps; k-- > 0;) {
      const TapeInstr& in = p.code[k];
      const T A = value[in.a];
      const T B = in.b >= 0 ? value[in.b] : T(0);
      const T O = value[first + k];
      const T G = adjoint[first + k];
      const double e = in.attr;
      T GA = 0, GB = 0, GC = 0;
      switch (in.op) {
#define NC_TAPE_BACKWARD
#include "tape_steps.generated.inc"
#undef NC_TAPE_BACKWARD
        default:
          continue;  // no gradient flows through it (rounding, comparisons)
      }
      adjoint[in.a] += GA;
      if (in.b >= 0) adjoint[in.b] += GB;
      if (in.c >= 0) adjoint[in.c] += GC;
    }
    if (io.param_grads)
      for (int k = 0; k < p.num_params; ++k) io.param_grads[k] += static_cast<double>(adjoint[params + k]);
    for (int i = 0; i < p.num_inputs && io.input_grads; ++i) {
      if (!io.input_grads[i]) continue;
      if (io.batched[i])
        io.input_grads[i][s] = adjoint[i];
      else
        io.input_grads[i][0] += adjoint[i];
    }
  }
}

template void run_tape<float>(const TapeProgram&, const TapeIo<float>&);
template void run_tape<double>(const TapeProgram&, const TapeIo<double>&);

}  // namespace nc
