#include "tape.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/accumulate.h>
#include <torch/csrc/autograd/anomaly_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/generated/Functions.h>
#include <torch/csrc/autograd/saved_variable.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "deep_stack.h"
#include "errors.h"
#include "kernels.h"
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

/** The largest matrix a solve takes (the compiler's 64 elements a value). */
constexpr int kMaxSolve = 8;

/**
 * The LU factors of a small matrix with partial pivoting, as LAPACK's getf2: per column the first
 * row of largest magnitude pivots, P A = L U with L's unit diagonal implied. A zero pivot (a
 * singular matrix) is the libtorch path's error, naming the solve.
 */
template <class T>
class SmallLu {
 public:
  SmallLu(const T* A, const TapeSolve& s) : n_(s.n) {
    std::copy(A, A + n_ * n_, lu_);
    for (int i = 0; i < n_; ++i) perm_[i] = i;
    for (int c = 0; c < n_; ++c) {
      int p = c;
      for (int r = c + 1; r < n_; ++r)
        if (std::abs(at(r, c)) > std::abs(at(p, c))) p = r;
      if (at(p, c) == T(0)) throw SingularMatrix(s, s.b < 0 ? "inv" : "solve");
      if (p != c) {
        std::swap_ranges(&at(c, 0), &at(c, 0) + n_, &at(p, 0));
        std::swap(perm_[c], perm_[p]);
      }
      for (int r = c + 1; r < n_; ++r) {
        at(r, c) /= at(c, c);
        for (int j = c + 1; j < n_; ++j) at(r, j) -= at(r, c) * at(c, j);
      }
    }
  }

  /** x = A^-1 b, b's n values `stride` apart (a column of B), x's too. */
  void solve(const T* b, int stride, T* x, int xstride) const {
    T y[kMaxSolve];
    for (int i = 0; i < n_; ++i) {  // L y = P b
      T v = b[perm_[i] * stride];
      for (int j = 0; j < i; ++j) v -= at(i, j) * y[j];
      y[i] = v;
    }
    for (int i = n_ - 1; i >= 0; --i) {  // U x = y
      T v = y[i];
      for (int j = i + 1; j < n_; ++j) v -= at(i, j) * y[j];
      y[i] = v / at(i, i);
    }
    for (int i = 0; i < n_; ++i) x[i * xstride] = y[i];
  }

  /** x = A^-T g (A^T = U^T L^T P), g's and x's n values `stride` apart. */
  void solve_transposed(const T* g, int stride, T* x, int xstride) const {
    T w[kMaxSolve];
    for (int i = 0; i < n_; ++i) {  // U^T w = g
      T v = g[i * stride];
      for (int j = 0; j < i; ++j) v -= at(j, i) * w[j];
      w[i] = v / at(i, i);
    }
    for (int i = n_ - 1; i >= 0; --i)  // L^T v = w
      for (int j = i + 1; j < n_; ++j) w[i] -= at(j, i) * w[j];
    for (int i = 0; i < n_; ++i) x[perm_[i] * xstride] = w[i];
  }

 private:
  int n_;
  T lu_[kMaxSolve * kMaxSolve];
  int perm_[kMaxSolve];
  T& at(int r, int c) { return lu_[r * n_ + c]; }
  const T& at(int r, int c) const { return lu_[r * n_ + c]; }
};

/** X = A^-1 B for the solve, A and B in `value`, X (n x k, row-major) to `out`. */
template <class T>
void run_solve(const TapeSolve& s, const T* value, T* out) {
  const SmallLu<T> lu(value + s.a, s);
  T identity[kMaxSolve * kMaxSolve] = {};
  for (int i = 0; s.b < 0 && i < s.n; ++i) identity[i * s.n + i] = T(1);
  const T* B = s.b < 0 ? identity : value + s.b;
  for (int j = 0; j < s.k; ++j) lu.solve(B + j, s.k, out + j, s.k);
}

/** The solve's result adjoints G (n x k) to A's and B's: B's A^-T G, A's -(A^-T G) X^T, as linalg_solve's backward. */
template <class T>
void solve_adjoint(const TapeSolve& s, const T* value, const T* X, const T* G, T* adjoint) {
  const SmallLu<T> lu(value + s.a, s);
  T gb[kMaxSolve * kMaxSolve];
  for (int j = 0; j < s.k; ++j) lu.solve_transposed(G + j, s.k, gb + j, s.k);
  for (int i = 0; s.b >= 0 && i < s.n * s.k; ++i) adjoint[s.b + i] += gb[i];
  for (int i = 0; i < s.n; ++i)
    for (int m = 0; m < s.n; ++m) {
      T sum = 0;
      for (int j = 0; j < s.k; ++j) sum += gb[i * s.k + j] * X[m * s.k + j];
      adjoint[s.a + i * s.n + m] -= sum;
    }
}

}  // namespace

namespace {

/** The registers an instruction writes: a loop's, call's or solve's result elements (with its rests); else 1. */
int outputs_of(const TapeProgram& p, const TapeInstr& in) {
  if (in.op == kLoop || in.op == kLoopRest) return p.loops[in.a].outputs;
  if (in.op == kCall || in.op == kCallRest) return p.calls[in.a].outputs;
  if (in.op == kSolve || in.op == kSolveRest) return p.solves[in.a].n * p.solves[in.a].k;
  return 1;
}

/** Calls f with each register an instruction reads (a branch's `where`: both branches, whichever a sample takes). */
template <class F>
void for_each_operand(const TapeProgram& p, const TapeInstr& in, F f) {
  const auto each = [&](const std::vector<int>& registers) {
    for (int r : registers) f(r);
  };
  const auto run = [&](int from, int count) {
    for (int r = from; r < from + count; ++r) f(r);
  };
  if (in.op == kLoop || in.op == kLoopRest) {
    each(p.loops[in.a].inputs);
  } else if (in.op == kCall || in.op == kCallRest) {
    each(p.calls[in.a].inputs);
  } else if (in.op == kDenseRow) {
    each(p.dense[in.a].inputs);
  } else if (in.op == kSolve || in.op == kSolveRest) {  // A's, then B's
    const TapeSolve& s = p.solves[in.a];
    run(s.a, s.n * s.n);
    if (s.b >= 0) run(s.b, s.n * s.k);
  } else if (in.op == kExtremum) {
    run(in.a, in.b);
  } else if (in.op != kBlockRead) {
    for (int r : {in.a, in.b, in.c})
      if (r >= 0) f(r);
  }
}

}  // namespace

namespace {

/**
 * Sets p.live: which instructions a gradient can reach from the results, as autograd's graph
 * holds them (a comparison's result is a boolean, which cuts it). Reverse skips the others, which
 * autograd never visits: with a zero adjoint, one whose derivative is infinite would give 0 * inf.
 */
void mark_live(TapeProgram& p) {
  const int first = p.first_instr();
  std::vector<char> reg(p.registers(), 0);
  for (int r : p.results) reg[r] = 1;
  p.live.assign(p.code.size(), 0);
  for (size_t k = p.code.size(); k-- > 0;) {
    const TapeInstr& in = p.code[k];
    // An instruction writing several registers (a loop, call or solve) lives if any of them does.
    if (is_jump(in) || is_rest(in) || in.path == kPathNone) continue;
    if (!std::any_of(&reg[first + k], &reg[first + k] + outputs_of(p, in), [](char c) { return c != 0; })) continue;
    p.live[k] = 1;
    for_each_operand(p, in, [&](int r) { reg[r] = 1; });
  }
}

}  // namespace

void check_tape(TapeProgram& p, size_t functions) {
  const size_t named = p.functions.empty() ? functions : p.functions.size();
  if (p.num_inputs < 0 || p.num_params < 0) throw Error("internal: a tape with negative counts");
  int sizes = 0;
  for (int n : p.input_sizes) {
    if (n < 1) throw Error("internal: a tape input without registers");
    sizes += n;
  }
  if (sizes != p.num_inputs) throw Error("internal: a tape whose input sizes do not add up to its input registers");
  p.block_offsets.assign(p.block_sizes.size(), 0);
  for (size_t k = 0; k < p.block_sizes.size(); ++k) {
    if (p.block_sizes[k] < 1) throw Error("internal: a tape weight block without elements");
    if (k > 0) p.block_offsets[k] = p.block_offsets[k - 1] + p.block_sizes[k - 1];
  }
  const int blocks = static_cast<int>(p.block_sizes.size());
  for (const TapeDense& d : p.dense)
    if (d.weight < 0 || d.weight >= blocks || d.bias < 0 || d.bias >= blocks || d.inputs.empty() ||
        p.block_sizes[d.weight] != p.block_sizes[d.bias] * static_cast<int64_t>(d.inputs.size()))
      throw Error("internal: a tape dense layer whose blocks do not match its inputs");
  for (TapeDense& d : p.dense) {
    const bool consecutive =
        std::adjacent_find(d.inputs.begin(), d.inputs.end(), [](int a, int b) { return b != a + 1; }) == d.inputs.end();
    d.first = consecutive ? d.inputs[0] : -1;
  }
  int next = p.first_instr();
  const int steps = static_cast<int>(p.code.size());
  for (int k = 0; k < steps; ++k) {
    const TapeInstr& in = p.code[k];
    if (in.op == kJumpIfZero || in.op == kJump) {
      // Forward only, so that every path ends.
      if (in.b <= k || in.b > steps) throw Error("internal: a tape jump that does not go forward");
      if (in.op == kJumpIfZero && (in.a < 0 || in.a >= next)) throw Error("internal: a tape jump tests no register");
      ++next;
      continue;
    }
    if (in.op == kDenseRow) {
      if (in.a < 0 || in.a >= static_cast<int>(p.dense.size())) throw Error("internal: a tape row of no dense layer");
      const TapeDense& d = p.dense[in.a];
      if (in.b < 0 || in.b >= p.block_sizes[d.bias]) throw Error("internal: a tape dense row out of its layer");
      for (int r : d.inputs)
        if (r < 0 || r >= next) throw Error("internal: a tape dense layer reads a register not yet written");
      if (in.path != kPathThrough) throw Error("internal: a tape dense row off the gradient path");
      ++next;
      continue;
    }
    if (in.op == kExtremum) {
      if (in.a < 0 || in.b < 1 || in.a + in.b > next || in.path != kPathThrough)
        throw Error("internal: a tape extremum of registers not yet written");
      ++next;
      continue;
    }
    if (in.op == kBlockRead) {
      if (in.a < 0 || in.a >= static_cast<int>(p.block_sizes.size()) || in.b < 0 || in.b >= p.block_sizes[in.a] ||
          in.path != kPathThrough)
        throw Error("internal: a tape read of no weight block element");
      ++next;
      continue;
    }
    // Instructions writing several registers: a head, then one rest instruction per further register.
    const bool loop = in.op == kLoop || in.op == kLoopRest, solve = in.op == kSolve || in.op == kSolveRest;
    if (loop || solve || in.op == kCall || in.op == kCallRest) {
      const char* what = loop ? "loop" : solve ? "solve" : "call";
      const int head = loop ? kLoop : solve ? kSolve : kCall;
      const size_t count = loop ? p.loops.size() : solve ? p.solves.size() : p.calls.size();
      if (in.a < 0 || static_cast<size_t>(in.a) >= count)
        throw Error(std::string("internal: a tape ") + what + " instruction of no " + what);
      const int outputs = outputs_of(p, in);
      // Its instruction, then one rest instruction per further element of its result (the registers it writes).
      const bool placed =
          in.op == head ? k + outputs <= steps
                        : k > 0 && (p.code[k - 1].op == in.op || p.code[k - 1].op == head) && p.code[k - 1].a == in.a;
      if (!placed || in.path != kPathThrough)
        throw Error(std::string("internal: a tape ") + what + "'s instructions out of place");
      for (int j = 1; in.op == head && j < outputs; ++j)
        if (p.code[k + j].op != head + 1 || p.code[k + j].a != in.a)
          throw Error(std::string("internal: a tape ") + what + "'s result registers out of place");
      for_each_operand(p, in, [&](int r) {
        if (r < 0 || r >= next)
          throw Error(std::string("internal: a tape ") + what + " reads a register not yet written");
      });
      ++next;
      continue;
    }
    if (in.op < 0 || in.op >= NC_TAPE_FORMS_COUNT) throw Error("internal: a tape instruction of unknown form");
    if (in.path < kPathThrough || in.path > kPathTaken || (in.path == kPathTaken && in.c < 0))
      throw Error("internal: a tape instruction of unknown gradient path");
    for (int r : {in.a, in.b, in.c})
      if (r < -1 || r >= next) throw Error("internal: a tape instruction reads a register not yet written");
    if (in.a < 0) throw Error("internal: a tape instruction without operands");
    ++next;
  }
  for (const TapeLoop& loop : p.loops) {
    const TapeProgram* body = loop.body.get();
    if (!body || loop.state < 0 || loop.limit < 1 || body->num_inputs != static_cast<int>(loop.inputs.size()) ||
        loop.outputs < 1 || loop.state > body->num_inputs ||
        body->results.size() != static_cast<size_t>(1 + loop.outputs + loop.state) || body->num_params != 0 ||
        !body->calls.empty() || body->block_sizes != p.block_sizes)
      throw Error("internal: a tape loop whose body does not match it");
  }
  for (const TapeSolve& solve : p.solves)
    if (solve.n < 1 || solve.n > kMaxSolve || solve.k < 1 || solve.a < 0)
      throw Error("internal: a tape solve of no small square matrix");
  for (const TapeCall& call : p.calls)
    if (call.function < 0 || static_cast<size_t>(call.function) >= named || call.limit < 1 || call.outputs < 1)
      throw Error("internal: a tape call of no function");
  // The functions (each checked on reading, with the number there are), against every call of them.
  if (!p.functions.empty()) {
    std::vector<const TapeProgram*> callers{&p};
    for (const auto& body : p.functions) {
      if (!body || body->num_params != 0 || !body->loops.empty() || !body->functions.empty() ||
          body->block_sizes != p.block_sizes)
        throw Error("internal: a tape function whose body is not one");
      callers.push_back(body.get());
    }
    for (const TapeProgram* caller : callers)
      for (const TapeCall& call : caller->calls) {
        const TapeProgram& body = *p.functions[call.function];
        if (body.num_inputs != static_cast<int>(call.inputs.size()) ||
            body.results.size() != static_cast<size_t>(call.outputs))
          throw Error("internal: a tape call whose function does not match it");
      }
  }
  if (p.results.empty()) throw Error("internal: a tape without results");
  for (int r : p.results)
    if (r < 0 || r >= next) throw Error("internal: the tape's result is not a register");
  mark_live(p);
}

namespace {

/** The next instruction after k on this sample's path (its registers hold the tests' values). */
template <class T>
size_t next_instr(const TapeInstr& in, size_t k, const T* value) {
  if (in.op == kJump) return static_cast<size_t>(in.b);
  if (in.op == kJumpIfZero && value[in.a] == T(0)) return static_cast<size_t>(in.b);
  return k + 1;
}

// The dense layers' arithmetic, forward and reverse, written here once: the libtorch path's MLP
// (mlp.cpp) is at::linear, a BLAS call per batch, with no scalar loop to share.

/**
 * sum_j w[j] * x[j] as four partial sums (of the j mod 4) added in pairs: every dense row's order.
 * Over consecutive x the four sums are the lanes of one vector (written as scalars, GCC kept them in
 * memory or shuffled them); over registers gathered from anywhere they are four scalars.
 */
template <class T>
T dot_lanes(const T* __restrict w, const T* __restrict x, size_t n) {
  typedef T Lanes __attribute__((vector_size(4 * sizeof(T))));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> Index;
  typedef Index Indices __attribute__((vector_size(4 * sizeof(T))));
  Lanes s = {T(0), T(0), T(0), T(0)};
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    Lanes a, b;
    std::memcpy(&a, w + j, sizeof a);
    std::memcpy(&b, x + j, sizeof b);
    s += a * b;
  }
  if (const size_t r = n - j) {  // the last 1 to 3 inputs in the first lanes; the others add 0 * 0 (never -0)
    const T z = 0;
    s += Lanes{w[j], r > 1 ? w[j + 1] : z, r > 2 ? w[j + 2] : z, z} *
         Lanes{x[j], r > 1 ? x[j + 1] : z, r > 2 ? x[j + 2] : z, z};
  }
  // (s0 + s1) + (s2 + s3) in registers (indexing the lanes one by one went through memory).
  const Lanes pairs = s + __builtin_shuffle(s, Indices{1, 0, 3, 2});
  return pairs[0] + pairs[2];
}

template <class T>
T dot_lanes(const T* w, const T* value, const std::vector<int>& reg) {
  T s[4] = {T(0), T(0), T(0), T(0)};
  for (size_t j = 0; j < reg.size(); ++j) s[j % 4] += w[j] * value[reg[j]];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

/** Row `row` of the layer: its bias plus the dot product of its weights with the inputs. */
template <class T>
T dense_row(const TapeProgram& p, const TapeDense& d, int row, const T* value, const T* blocks) {
  const size_t n = d.inputs.size();
  const T* w = blocks + p.block_offsets[d.weight] + row * n;
  const T sum = d.first >= 0 ? dot_lanes(w, value + d.first, n) : dot_lanes(w, value, d.inputs);
  return blocks[p.block_offsets[d.bias] + row] + sum;
}

/** Row `row`'s adjoint g to its inputs' adjoints and, in double, to its weights' and bias's gradients. */
template <class T>
void dense_row_adjoint(const TapeProgram& p, const TapeDense& d, int row, T g, const T* value, T* adjoint,
                       const T* blocks, double* block_grads) {
  const size_t n = d.inputs.size();
  const int64_t at = p.block_offsets[d.weight] + row * n;
  const T* __restrict w = blocks + at;
  double* __restrict wg = block_grads + at;
  if (d.first >= 0) {
    const T* __restrict x = value + d.first;
    T* __restrict a = adjoint + d.first;
    for (size_t j = 0; j < n; ++j) wg[j] += static_cast<double>(g * x[j]);
    for (size_t j = 0; j < n; ++j) a[j] += g * w[j];
  } else {
    for (size_t j = 0; j < n; ++j) {
      wg[j] += static_cast<double>(g * value[d.inputs[j]]);
      adjoint[d.inputs[j]] += g * w[j];
    }
  }
  block_grads[p.block_offsets[d.bias] + row] += static_cast<double>(g);
}

/** What a loop's run and reverse need, one set per nesting depth (a loop's body runs loops a level deeper). */
template <class T>
struct LoopScratch {
  std::vector<T> reg, next, record, adj, state_adj, cap_adj;
};

thread_local int loop_depth = 0;

/** The scratch of the current depth, entering the next one until it goes out of scope. */
template <class T>
struct LoopLevel {
  LoopScratch<T>& s;
  LoopLevel() : s(at_depth(loop_depth)) { ++loop_depth; }
  ~LoopLevel() { --loop_depth; }
  LoopLevel(const LoopLevel&) = delete;
  LoopLevel& operator=(const LoopLevel&) = delete;
  static LoopScratch<T>& at_depth(int depth) {
    thread_local std::vector<std::unique_ptr<LoopScratch<T>>> levels;
    while (static_cast<int>(levels.size()) <= depth) levels.push_back(std::make_unique<LoopScratch<T>>());
    return *levels[depth];
  }
};

/**
 * Runs a loop on its operands' values in `value`, writing its result's elements to `out`.
 * `record`, when given, receives every iteration's body registers, one after another (the reverse
 * sweep's tape).
 */
template <class T>
void run_loop(const TapeLoop& loop, const T* value, const T* blocks, T* out, std::vector<T>* record) {
  LoopLevel<T> level;
  std::vector<T>& reg = level.s.reg;
  std::vector<T>& next = level.s.next;
  const TapeProgram& body = *loop.body;
  reg.assign(body.registers(), T(0));
  for (size_t k = 0; k < body.consts.size(); ++k) reg[body.first_const() + k] = static_cast<T>(body.consts[k]);
  for (int i = 0; i < body.num_inputs; ++i) reg[i] = value[loop.inputs[i]];
  if (record) record->clear();
  const std::vector<int>& res = body.results;  // done, the result's elements, the next state's
  for (int64_t it = 0;; ++it) {
    if (it >= loop.limit) throw loop_limit_error(loop.label, loop.limit);
    tape_values(body, reg.data(), blocks);
    if (record) record->insert(record->end(), reg.begin(), reg.end());
    if (reg[res[0]] != T(0)) {
      for (int j = 0; j < loop.outputs; ++j) out[j] = reg[res[1 + j]];
      return;
    }
    // The next state, read before it is written over (a state may be carried as another's next value).
    next.resize(loop.state);
    for (int k = 0; k < loop.state; ++k) next[k] = reg[res[1 + loop.outputs + k]];
    std::copy(next.begin(), next.end(), reg.begin());
  }
}

/**
 * The loop's result adjoints g to its operands' adjoints: its iterations recomputed and recorded,
 * then differentiated last first, each iteration's state adjoint seeding the one before's next state.
 */
template <class T>
void loop_adjoint(const TapeLoop& loop, const T* g, const T* value, T* adjoint, const T* blocks, double* block_grads) {
  LoopLevel<T> level;
  LoopScratch<T>& s = level.s;
  const TapeProgram& body = *loop.body;
  const size_t n = static_cast<size_t>(body.registers());
  s.next.resize(loop.outputs);
  run_loop(loop, value, blocks, s.next.data(), &s.record);
  const size_t iterations = s.record.size() / n;
  const std::vector<int>& res = body.results;
  s.adj.resize(n);
  s.state_adj.assign(loop.state, T(0));
  s.cap_adj.assign(body.num_inputs - loop.state, T(0));
  for (size_t it = iterations; it-- > 0;) {
    std::fill(s.adj.begin(), s.adj.end(), T(0));
    if (it + 1 == iterations)
      for (int j = 0; j < loop.outputs; ++j) s.adj[res[1 + j]] += g[j];
    else
      for (int k = 0; k < loop.state; ++k) s.adj[res[1 + loop.outputs + k]] += s.state_adj[k];
    tape_adjoints(body, &s.record[it * n], s.adj.data(), blocks, block_grads);
    for (int k = 0; k < loop.state; ++k) s.state_adj[k] = s.adj[k];
    for (size_t c = 0; c < s.cap_adj.size(); ++c) s.cap_adj[c] += s.adj[loop.state + c];
  }
  for (int k = 0; k < loop.state; ++k) adjoint[loop.inputs[k]] += s.state_adj[k];
  for (size_t c = 0; c < s.cap_adj.size(); ++c) adjoint[loop.inputs[loop.state + c]] += s.cap_adj[c];
}

// ---- one instruction, forward, reverse and reach (the control instructions are their callers') ----

/** An instruction's value: a registry form, a dense row or a block read. */
template <class T>
[[gnu::always_inline]] inline void step_value(const TapeProgram& p, const TapeInstr& in, size_t k, T* value,
                                              const T* blocks) {
  T& O = value[p.first_instr() + k];
  if (in.op == kDenseRow) {
    O = dense_row(p, p.dense[in.a], in.b, value, blocks);
    return;
  }
  if (in.op == kBlockRead) {
    O = blocks[p.block_offsets[in.a] + in.b];
    return;
  }
  if (in.op == kSolve) {
    run_solve(p.solves[in.a], value, &O);
    return;
  }
  if (in.op == kExtremum) {
    const T* x = value + in.a;
    T m = x[0];
    for (int j = 1; j < in.b; ++j) m = in.attr == 0 ? max<T>(m, x[j]) : min<T>(m, x[j]);
    O = m;
    return;
  }
  const T A = value[in.a];
  const T B = in.b >= 0 ? value[in.b] : T(0);
  const T C = in.c >= 0 ? value[in.c] : T(0);
  const double e = in.attr;
  switch (in.op) {
#define NC_TAPE_FORWARD
#include "tape_steps.generated.inc"
#undef NC_TAPE_FORWARD
  }
}

/** An instruction's adjoint to its operands' adjoints (and a dense row's or block read's to the blocks' gradients). */
template <class T>
[[gnu::always_inline]] inline void step_adjoint(const TapeProgram& p, const TapeInstr& in, size_t k, const T* value,
                                                T* adjoint, const T* blocks, double* block_grads) {
  const T G = adjoint[p.first_instr() + k];
  if (in.op == kDenseRow) {
    dense_row_adjoint(p, p.dense[in.a], in.b, G, value, adjoint, blocks, block_grads);
    return;
  }
  if (in.op == kBlockRead) {
    block_grads[p.block_offsets[in.a] + in.b] += static_cast<double>(G);
    return;
  }
  if (in.op == kSolve) {
    solve_adjoint(p.solves[in.a], value, &value[p.first_instr() + k], &adjoint[p.first_instr() + k], adjoint);
    return;
  }
  if (in.op == kExtremum) {
    // autograd's (G / count) * (x == O): with a NaN extremum nothing equals it, and every share is NaN
    const T* x = value + in.a;
    const T O = value[p.first_instr() + k];
    int count = 0;
    for (int j = 0; j < in.b; ++j) count += x[j] == O;
    const T share = G / static_cast<T>(count);
    for (int j = 0; j < in.b; ++j) adjoint[in.a + j] += share * static_cast<T>(x[j] == O);
    return;
  }
  const T A = value[in.a];
  const T B = in.b >= 0 ? value[in.b] : T(0);
  const T O = value[p.first_instr() + k];
  const double e = in.attr;
  T GA = 0, GB = 0, GC = 0;
  switch (in.op) {
#define NC_TAPE_BACKWARD
#include "tape_steps.generated.inc"
#undef NC_TAPE_BACKWARD
    default:
      return;  // no gradient flows through it (rounding, comparisons)
  }
  adjoint[in.a] += GA;
  if (in.b >= 0) adjoint[in.b] += GB;
  if (in.c >= 0) adjoint[in.c] += GC;
}

/**
 * When the instruction's register is live (on the results' gradient path), marks what it passes the
 * gradient to: its operands by its `path`, a dense row's inputs and blocks, a read block (in `reached`:
 * the root's scalar params, then the blocks).
 */
template <class T>
[[gnu::always_inline]] inline void step_live(const TapeProgram& p, const TapeInstr& in, size_t k, const T* value,
                                             char* live, std::vector<char>& reached) {
  const auto mark = [&](int r) { live[r] = 1; };
  if (in.op == kSolve) {  // live if any of its results is
    const char* out = live + p.first_instr() + k;
    if (std::any_of(out, out + outputs_of(p, in), [](char c) { return c != 0; })) for_each_operand(p, in, mark);
    return;
  }
  if (!live[p.first_instr() + k] || in.path == kPathNone) return;
  if (in.path == kPathTaken) {
    live[value[in.a] != T(0) ? in.b : in.c] = 1;
    return;
  }
  for_each_operand(p, in, mark);
  const size_t scalars = reached.size() - p.block_sizes.size();
  if (in.op == kDenseRow) reached[scalars + p.dense[in.a].weight] = reached[scalars + p.dense[in.a].bias] = 1;
  if (in.op == kBlockRead) reached[scalars + in.a] = 1;
}

// ---- calls ----
// A call runs its function's frames on an explicit stack, so recursion as deep as the limit allows
// needs no deep native stack (functions run no loops: nothing else nests). Its reverse runs the call
// again recording every frame's registers and what ran, in order, then walks that record backward:
// one pass over every frame, however they nest.

using Functions = std::vector<std::shared_ptr<const TapeProgram>>;

/** A frame: a function's registers in the arena from `base`, and the next instruction it runs. */
struct CallFrame {
  const TapeProgram* p;
  size_t base;
  size_t k;
  int id;  // its index in the record's frames (a recorded run)
};

/** What a recorded run did: every frame it made, and what ran, in order. */
struct CallRecord {
  struct Frame {
    const TapeProgram* p;
    size_t base;
  };
  /** An instruction frame `frame` ran; for one of its calls (callee >= 0), the call's entry or return. */
  struct Event {
    int frame, k, callee;
    bool returned;
  };
  std::vector<Frame> frames;
  std::vector<Event> events;
};

/** The registers of a call's frames, its stack and its record: one per thread (calls do not nest runs). */
template <class T>
struct CallArena {
  std::vector<T> reg;
  std::vector<CallFrame> stack;
  CallRecord record;
  std::vector<T> out, adjoint;
  std::vector<char> live;
};

template <class T>
CallArena<T>& call_arena() {
  thread_local CallArena<T> arena;
  return arena;
}

/**
 * Runs a call on its arguments in `value` (the caller's registers), writing its result's elements
 * to `out`. With `record`, every frame's registers stay in the arena and its record says what ran.
 */
template <class T>
CallArena<T>& run_call(const Functions& functions, const TapeCall& call, const T* value, const T* blocks, T* out,
                       bool record) {
  CallArena<T>& a = call_arena<T>();
  a.reg.clear();
  a.stack.clear();
  a.record.frames.clear();
  a.record.events.clear();
  // A new frame for call c, its arguments read from `caller` (registers outside the arena) or from the frame at
  // caller_base.
  auto enter = [&](const TapeCall& c, const T* caller, size_t caller_base) {
    if (static_cast<int64_t>(a.stack.size()) >= c.limit) throw recursion_limit_error(c.label, c.limit);
    const TapeProgram& f = *functions[c.function];
    const size_t base = a.reg.size();
    a.reg.resize(base + f.registers());
    T* v = a.reg.data() + base;
    const T* from = caller ? caller : a.reg.data() + caller_base;
    for (int i = 0; i < f.num_inputs; ++i) v[i] = from[c.inputs[i]];
    for (size_t j = 0; j < f.consts.size(); ++j) v[f.first_const() + j] = static_cast<T>(f.consts[j]);
    const int id = record ? static_cast<int>(a.record.frames.size()) : -1;
    if (record) a.record.frames.push_back({&f, base});
    a.stack.push_back({&f, base, 0, id});
  };
  enter(call, value, 0);
  for (;;) {
    CallFrame& f = a.stack.back();
    const TapeProgram& p = *f.p;
    T* v = a.reg.data() + f.base;
    if (f.k < p.code.size()) {
      const TapeInstr& in = p.code[f.k];
      if (in.op == kCall) {
        if (record)
          a.record.events.push_back({f.id, static_cast<int>(f.k), static_cast<int>(a.record.frames.size()), false});
        enter(p.calls[in.a], nullptr, f.base);  // f and v now dangle
        continue;
      }
      if (!is_jump(in) && !is_rest(in)) {
        step_value(p, in, f.k, v, blocks);
        if (record) a.record.events.push_back({f.id, static_cast<int>(f.k), -1, false});
      }
      f.k = next_instr(in, f.k, v);
      continue;
    }
    // The frame returns its result to its caller's call instruction (the registers it and its rest write), or to `out`.
    const CallFrame done = f;
    a.stack.pop_back();
    const T* result = a.reg.data() + done.base;
    if (a.stack.empty()) {
      for (size_t j = 0; j < p.results.size(); ++j) out[j] = result[p.results[j]];
      return a;
    }
    CallFrame& caller = a.stack.back();
    const TapeCall& made = caller.p->calls[caller.p->code[caller.k].a];
    T* to = a.reg.data() + caller.base + caller.p->first_instr() + caller.k;
    for (int j = 0; j < made.outputs; ++j) to[j] = result[p.results[j]];
    if (record)
      a.record.events.push_back({caller.id, static_cast<int>(caller.k), done.id, true});
    else
      a.reg.resize(done.base);
    caller.k += made.outputs;  // past its rest instructions
  }
}

/**
 * Walks a recorded call backward: `on_instr(frame, k)` for each instruction ran, and the calls'
 * returns and entries through `on_return(caller, k, callee)` and `on_entry(caller, k, callee)`.
 */
template <class Instr, class Return, class Entry>
void walk_back(const CallRecord& record, Instr on_instr, Return on_return, Entry on_entry) {
  for (auto e = record.events.rbegin(); e != record.events.rend(); ++e) {
    const CallRecord::Frame& f = record.frames[e->frame];
    const size_t k = static_cast<size_t>(e->k);
    if (!f.p->live[k]) {
      // off the gradient path, and a call's whole run with it: from its return back to its entry
      if (e->callee >= 0) {
        const int callee = e->callee;
        do ++e;
        while (!(e->callee == callee && !e->returned));
      }
      continue;
    }
    if (e->callee < 0)
      on_instr(f, k);
    else if (e->returned)
      on_return(f, k, record.frames[e->callee]);
    else
      on_entry(f, k, record.frames[e->callee]);
  }
}

/** The call a frame's instruction k makes. */
inline const TapeCall& call_at(const CallRecord::Frame& f, size_t k) { return f.p->calls[f.p->code[k].a]; }

/** The call's result adjoints g to its arguments' adjoints (and the blocks' gradients), over its recorded run. */
template <class T>
void call_adjoint(const Functions& functions, const TapeCall& call, const T* g, const T* value, T* adjoint,
                  const T* blocks, double* block_grads) {
  CallArena<T>& a = call_arena<T>();
  a.out.resize(call.outputs);
  run_call(functions, call, value, blocks, a.out.data(), true);
  std::vector<T>& adj = a.adjoint;
  adj.assign(a.reg.size(), T(0));
  const CallRecord::Frame& top = a.record.frames[0];
  for (int j = 0; j < call.outputs; ++j) adj[top.base + top.p->results[j]] += g[j];
  walk_back(
      a.record,
      [&](const CallRecord::Frame& f, size_t k) {
        step_adjoint(*f.p, f.p->code[k], k, &a.reg[f.base], &adj[f.base], blocks, block_grads);
      },
      [&](const CallRecord::Frame& f, size_t k, const CallRecord::Frame& callee) {
        for (int j = 0; j < call_at(f, k).outputs; ++j)
          adj[callee.base + callee.p->results[j]] += adj[f.base + f.p->first_instr() + k + j];
      },
      [&](const CallRecord::Frame& f, size_t k, const CallRecord::Frame& callee) {
        const std::vector<int>& args = call_at(f, k).inputs;
        for (size_t i = 0; i < args.size(); ++i) adj[f.base + args[i]] += adj[callee.base + i];
      });
  for (size_t i = 0; i < call.inputs.size(); ++i) adjoint[call.inputs[i]] += adj[top.base + i];
}

/** Given which of the call's result registers are live, marks its live arguments and the blocks its frames reach. */
template <class T>
void call_reach(const Functions& functions, const TapeCall& call, const char* out_live, const T* value, const T* blocks,
                char* live, std::vector<char>& reached) {
  CallArena<T>& a = call_arena<T>();
  a.out.resize(call.outputs);
  run_call(functions, call, value, blocks, a.out.data(), true);
  std::vector<char>& lv = a.live;
  lv.assign(a.reg.size(), 0);
  const CallRecord::Frame& top = a.record.frames[0];
  for (int j = 0; j < call.outputs; ++j) lv[top.base + top.p->results[j]] |= out_live[j];
  walk_back(
      a.record,
      [&](const CallRecord::Frame& f, size_t k) {
        step_live(*f.p, f.p->code[k], k, &a.reg[f.base], &lv[f.base], reached);
      },
      [&](const CallRecord::Frame& f, size_t k, const CallRecord::Frame& callee) {
        for (int j = 0; j < call_at(f, k).outputs; ++j)
          lv[callee.base + callee.p->results[j]] |= lv[f.base + f.p->first_instr() + k + j];
      },
      [&](const CallRecord::Frame& f, size_t k, const CallRecord::Frame& callee) {
        const std::vector<int>& args = call_at(f, k).inputs;
        for (size_t i = 0; i < args.size(); ++i) lv[f.base + args[i]] |= lv[callee.base + i];
      });
  for (size_t i = 0; i < call.inputs.size(); ++i) live[call.inputs[i]] |= lv[top.base + i];
}

}  // namespace

template <class T>
void tape_values(const TapeProgram& p, T* value, const T* blocks) {
  const int first = p.first_instr();
  const size_t steps = p.code.size();
  for (size_t k = 0; k < steps; k = next_instr(p.code[k], k, value)) {
    const TapeInstr& in = p.code[k];
    // A jump: next_instr follows it; a rest: written by its loop's, call's or solve's instruction.
    if (is_jump(in) || is_rest(in)) continue;
    if (in.op == kLoop)
      run_loop(p.loops[in.a], value, blocks, &value[first + k], static_cast<std::vector<T>*>(nullptr));
    else if (in.op == kCall)
      run_call(p.functions, p.calls[in.a], value, blocks, &value[first + k], false);
    else
      step_value(p, in, k, value, blocks);
  }
}

bool tape_branches(const TapeProgram& p) {
  return !p.calls.empty() || std::any_of(p.code.begin(), p.code.end(), is_jump);
}

namespace {

/** Marks, in `reached` (scalar params, then blocks), every weight block a program's rows or reads use, its loops'
 * included. */
void mark_blocks(const TapeProgram& p, std::vector<char>& reached) {
  const size_t scalars = reached.size() - p.block_sizes.size();
  for (const TapeDense& d : p.dense) reached[scalars + d.weight] = reached[scalars + d.bias] = 1;
  for (const TapeInstr& in : p.code)
    if (in.op == kBlockRead) reached[scalars + in.a] = 1;
  for (const TapeLoop& loop : p.loops) mark_blocks(*loop.body, reached);
}

}  // namespace

template <class T>
void tape_reach(const TapeProgram& p, const T* value, const T* blocks, std::vector<char>& reached) {
  thread_local std::vector<char> ran, live;
  ran.assign(p.code.size(), 0);
  for (size_t k = 0; k < p.code.size(); k = next_instr(p.code[k], k, value)) ran[k] = 1;
  live.assign(p.registers(), 0);
  for (int r : p.results) live[r] = 1;
  const int first = p.first_instr();
  for (size_t k = p.code.size(); k-- > 0;) {
    const TapeInstr& in = p.code[k];
    if (!ran[k] || is_jump(in) || is_rest(in)) continue;
    if (in.op == kLoop) {
      const TapeLoop& loop = p.loops[in.a];
      if (std::any_of(&live[first + k], &live[first + k] + loop.outputs, [](char c) { return c != 0; })) {
        for (int r : loop.inputs) live[r] = 1;
        mark_blocks(*loop.body, reached);  // the MLPs the body calls: the program's weight blocks
      }
    } else if (in.op == kCall) {
      call_reach(p.functions, p.calls[in.a], &live[first + k], value, blocks, live.data(), reached);
    } else {
      step_live(p, in, k, value, live.data(), reached);
    }
  }
  for (int k = 0; k < p.num_params; ++k)
    if (live[p.first_param() + k]) reached[k] = 1;
}

template <class T>
void tape_adjoints(const TapeProgram& p, const T* value, T* adjoint, const T* blocks, double* block_grads) {
  const int first = p.first_instr();
  // The instructions this sample ran, found again from its tests' values: reverse walks only them.
  // One list per depth: a loop's body is differentiated from inside its parent's walk.
  thread_local std::vector<std::unique_ptr<std::vector<char>>> walks;
  thread_local int depth = 0;
  while (static_cast<int>(walks.size()) <= depth) walks.push_back(std::make_unique<std::vector<char>>());
  std::vector<char>& ran = *walks[depth];
  struct Deeper {
    int& d;
    ~Deeper() { --d; }
  } deeper{++depth};
  ran.assign(p.code.size(), 0);
  for (size_t k = 0; k < p.code.size(); k = next_instr(p.code[k], k, value)) ran[k] = 1;
  for (size_t k = p.code.size(); k-- > 0;) {
    const TapeInstr& in = p.code[k];
    // Jumps have no adjoint; a rest's is its head's; what no gradient reaches, autograd never visits.
    if (!ran[k] || !p.live[k] || is_jump(in) || is_rest(in)) continue;
    if (in.op == kLoop)
      loop_adjoint(p.loops[in.a], &adjoint[first + k], value, adjoint, blocks, block_grads);
    else if (in.op == kCall)
      call_adjoint(p.functions, p.calls[in.a], &adjoint[first + k], value, adjoint, blocks, block_grads);
    else
      step_adjoint(p, in, k, value, adjoint, blocks, block_grads);
  }
}

template <class T>
void run_tape(const TapeProgram& p, const TapeIo<T>& io) {
  thread_local std::vector<T> value, adjoint;
  const int n = p.registers();
  value.resize(n);
  const int params = p.first_param();
  const size_t m = p.results.size();
  const size_t inputs = p.input_sizes.size();
  for (int k = 0; k < p.num_params; ++k) value[params + k] = io.params[k];
  for (size_t k = 0; k < p.consts.size(); ++k) value[p.first_const() + k] = static_cast<T>(p.consts[k]);
  bool want_grads = io.param_grads != nullptr;
  // Without param gradients wanted, the blocks' go to a scratch sum nobody reads.
  thread_local std::vector<double> unused;
  if (!io.param_grads) unused.assign(p.block_elements(), 0.0);
  double* block_grads = io.param_grads ? io.param_grads + p.num_params : unused.data();
  for (size_t i = 0; i < inputs && io.input_grads; ++i) {
    want_grads = want_grads || io.input_grads[i];
    if (io.input_grads[i] && !io.batched[i]) std::fill_n(io.input_grads[i], p.input_sizes[i], T(0));
  }
  if (want_grads) adjoint.resize(n);
  for (int64_t s = 0; s < io.batch; ++s) {
    for (size_t i = 0, r = 0; i < inputs; r += p.input_sizes[i++]) {
      const int size = p.input_sizes[i];
      std::copy_n(io.inputs[i] + (io.batched[i] ? s * size : 0), size, &value[r]);
    }
    try {
      tape_values(p, value.data(), io.blocks);
    } catch (const SingularMatrix& e) {
      if (!e.per_sample) throw;
      throw NodeError(e.where, e.kind, singular_matrix_message(e.op, s));
    }
    for (size_t j = 0; j < m; ++j) io.out[s * m + j] = value[p.results[j]];
    if (!want_grads) continue;
    // The gradient of sum(out): every result element has adjoint 1 (results may share a register).
    std::fill(adjoint.begin(), adjoint.end(), T(0));
    for (size_t j = 0; j < m; ++j) adjoint[p.results[j]] += io.upstream ? io.upstream[s * m + j] : T(1);
    tape_adjoints(p, value.data(), adjoint.data(), io.blocks, block_grads);
    if (io.param_grads)
      for (int k = 0; k < p.num_params; ++k) io.param_grads[k] += static_cast<double>(adjoint[params + k]);
    for (size_t i = 0, r = 0; i < inputs && io.input_grads; r += p.input_sizes[i++]) {
      if (!io.input_grads[i]) continue;
      const int size = p.input_sizes[i];
      if (io.batched[i])
        std::copy_n(&adjoint[r], size, io.input_grads[i] + s * size);
      else
        for (int e = 0; e < size; ++e) io.input_grads[i][e] += adjoint[r + e];
    }
  }
}

template void tape_values<float>(const TapeProgram&, float*, const float*);
template void tape_values<double>(const TapeProgram&, double*, const double*);
template void tape_reach<float>(const TapeProgram&, const float*, const float*, std::vector<char>&);
template void tape_reach<double>(const TapeProgram&, const double*, const double*, std::vector<char>&);
template void tape_adjoints<float>(const TapeProgram&, const float*, float*, const float*, double*);
template void tape_adjoints<double>(const TapeProgram&, const double*, double*, const double*, double*);
template void run_tape<float>(const TapeProgram&, const TapeIo<float>&);
template void run_tape<double>(const TapeProgram&, const TapeIo<double>&);

namespace {

struct TapeForm {
  const char* name;
  int arity;
};
constexpr TapeForm kTapeForms[] = {
#define NC_TAPE_FORM(name, arity) {name, arity},
    NC_TAPE_FORMS(NC_TAPE_FORM)
#undef NC_TAPE_FORM
};

/** Whether input i is a batch of samples (one dimension more than a sample's). */
bool batched_input(const TapeProgram& p, const std::vector<at::Tensor>& inputs, size_t i) {
  return inputs[i].dim() > p.input_ranks[i];
}

bool any_batched(const TapeProgram& p, const std::vector<at::Tensor>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (batched_input(p, inputs, i)) return true;
  return false;
}

int64_t batch_of(const TapeProgram& p, const std::vector<at::Tensor>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (batched_input(p, inputs, i)) return inputs[i].size(0);
  return 1;
}

/**
 * Where run_on_tensors puts gradients: per input, null (not wanted) or `batch` or one values; the
 * params' as run_tape sums them (one per scalar param, then one per weight block element).
 */
template <class T>
struct TapeGrads {
  explicit TapeGrads(const TapeProgram& p) : params(p.num_params + p.block_elements(), 0.0) {}
  std::vector<T*> inputs;
  std::vector<double> params;
  /** Null: every sample's upstream gradient is 1 (the gradient of a sum). */
  const T* upstream = nullptr;
};

/** Param k's gradient sums in g: one for a scalar param, a weight block's elements for a block. */
template <class T>
const double* param_grads(const TapeProgram& p, const TapeGrads<T>& g, size_t k) {
  const int scalars = p.num_params;
  return static_cast<int>(k) < scalars ? &g.params[k] : &g.params[scalars + p.block_offsets[k - scalars]];
}

/** Runs the program on tensors' data into `out`: the value, and with `grads` the gradients asked for. */
template <class T>
void run_on_tensors(const TapeProgram& p, const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& params,
                    T* out, TapeGrads<T>* grads) {
  constexpr size_t kMax = 64;  // the binding's limit on inputs and params
  const T* in[kMax];
  bool flags[kMax];
  T param_values[kMax];
  for (size_t i = 0; i < inputs.size(); ++i) {
    in[i] = inputs[i].data_ptr<T>();
    flags[i] = batched_input(p, inputs, i);
  }
  for (int k = 0; k < p.num_params; ++k) param_values[k] = *params[k].data_ptr<T>();
  // The weight blocks (the params after the scalars), block after block as the dense rows read them.
  thread_local std::vector<T> blocks;
  blocks.resize(p.block_elements());
  for (size_t b = 0; b < p.block_sizes.size(); ++b)
    std::copy_n(params[p.num_params + b].data_ptr<T>(), p.block_sizes[b], blocks.data() + p.block_offsets[b]);
  TapeIo<T> io;
  io.inputs = in;
  io.batched = flags;
  io.params = param_values;
  io.blocks = blocks.data();
  io.batch = batch_of(p, inputs);
  io.out = out;
  if (grads) {
    io.upstream = grads->upstream;
    io.input_grads = grads->inputs.data();
    io.param_grads = grads->params.data();
  }
  run_tape<T>(p, io);
}

/** The result's shape: [batch, ...result_shape], or result_shape when no input is batched. */
at::DimVector result_sizes(const TapeProgram& p, const std::vector<at::Tensor>& inputs) {
  at::DimVector shape;
  if (any_batched(p, inputs)) shape.push_back(batch_of(p, inputs));
  shape.append(p.result_shape.begin(), p.result_shape.end());
  return shape;
}

/** The tier's value as a new tensor. */
at::Tensor empty_result(const TapeProgram& p, const std::vector<at::Tensor>& inputs,
                        const std::vector<at::Tensor>& params) {
  return at::empty(result_sizes(p, inputs), (inputs.empty() ? params[0] : inputs[0]).options());
}

/** n consecutive registers from `from` as one tensor [..., n] (a batch's broadcast over the registers that have it). */
at::Tensor stacked(const std::vector<at::Tensor>& reg, int from, int n) {
  return at::stack(at::broadcast_tensors(std::vector<at::Tensor>(reg.begin() + from, reg.begin() + from + n)), -1);
}

/**
 * The instructions through the kernel table, recorded: for backward passes that are differentiated
 * again. With branches, sample by sample, each through the branch it takes (a `where` of a branch
 * is the taken branch's register), so that nothing of an untaken branch is computed.
 */
std::vector<at::Tensor> replay_registers(const TapeProgram& p, const std::vector<at::Tensor>& inputs,
                                         const std::vector<at::Tensor>& params, const Functions* functions = nullptr) {
  if (!functions) functions = &p.functions;  // a function's body calls its caller's functions
  std::vector<at::Tensor> reg(inputs.begin(), inputs.end());
  for (int k = 0; k < p.num_params; ++k) reg.push_back(params[k].reshape({}));
  const auto options = (reg.empty() ? params[0] : reg[0]).options().requires_grad(false);
  for (double c : p.consts) reg.push_back(at::scalar_tensor(c, options));
  reg.resize(p.registers());
  const int first = p.first_instr();
  auto taken = [&](int test) { return reg[test].item<double>() != 0; };  // one sample: a scalar test
  for (size_t k = 0; k < p.code.size();) {
    const TapeInstr& in = p.code[k];
    if (is_jump(in)) {
      k = in.op == kJump || !taken(in.a) ? static_cast<size_t>(in.b) : k + 1;
      continue;
    }
    if (in.op == kDenseRow) {
      // Row b of the layer: its bias plus its weights times the inputs (per sample when they are batched).
      const TapeDense& d = p.dense[in.a];
      const int64_t cols = static_cast<int64_t>(d.inputs.size());
      std::vector<at::Tensor> x;
      for (int r : d.inputs) x.push_back(reg[r]);
      const at::Tensor w = params[p.num_params + d.weight].reshape({-1}).narrow(0, in.b * cols, cols);
      const at::Tensor bias = params[p.num_params + d.bias].reshape({-1}).select(0, in.b);
      reg[first + k] = bias + (at::stack(x, -1) * w).sum(-1);
      ++k;
      continue;
    }
    if (in.op == kLoop) {
      // One sample's iterations, each body replayed on the last one's next state (its params: the blocks).
      const TapeLoop& loop = p.loops[in.a];
      const std::vector<at::Tensor> blocks(params.begin() + p.num_params, params.end());
      const std::vector<int>& out = loop.body->results;
      std::vector<at::Tensor> state;
      for (int r : loop.inputs) state.push_back(reg[r]);
      for (int64_t it = 0;; ++it) {
        if (it >= loop.limit) throw loop_limit_error(loop.label, loop.limit);
        const std::vector<at::Tensor> body = replay_registers(*loop.body, state, blocks);
        if (body[out[0]].item<double>() != 0) {
          for (int j = 0; j < loop.outputs; ++j) reg[first + k + j] = body[out[1 + j]];
          break;
        }
        for (int s = 0; s < loop.state; ++s) state[s] = body[out[1 + loop.outputs + s]];
      }
      ++k;
      continue;
    }
    if (in.op == kCall) {
      // The function's body replayed on the arguments, nesting as deep as the sample's recursion (on a deep stack).
      const TapeCall& call = p.calls[in.a];
      thread_local int64_t depth = 0;
      if (depth >= call.limit) throw recursion_limit_error(call.label, call.limit);
      struct Deeper {
        int64_t& d;
        ~Deeper() { --d; }
      } deeper{++depth};
      const TapeProgram& body = *(*functions)[call.function];
      std::vector<at::Tensor> args;
      for (int r : call.inputs) args.push_back(reg[r]);
      const std::vector<at::Tensor> blocks(params.begin() + p.num_params, params.end());
      const std::vector<at::Tensor> out = replay_registers(body, args, blocks, functions);
      for (int j = 0; j < call.outputs; ++j) reg[first + k + j] = out[body.results[j]];
      ++k;
      continue;
    }
    if (is_rest(in)) {  // written by its loop's or call's instruction (a solve steps past its own)
      ++k;
      continue;
    }
    if (in.op == kBlockRead) {
      reg[first + k] = params[p.num_params + in.a].reshape({-1}).select(0, in.b);
      ++k;
      continue;
    }
    if (in.op == kSolve) {
      const TapeSolve& s = p.solves[in.a];
      auto matrix = [&](int from, int64_t cols) { return stacked(reg, from, s.n * cols).unflatten(-1, {s.n, cols}); };
      const at::Tensor A = matrix(s.a, s.n);
      // Through the kernels: their solve gives a shared B the batch explicitly, and both name a singular matrix.
      const at::Tensor X =
          (s.b < 0 ? apply_kernel("inv", {A}) : apply_kernel("solve", {A, matrix(s.b, s.k)}, {0.0})).flatten(-2);
      for (int e = 0; e < s.n * s.k; ++e) reg[first + k + e] = X.select(-1, e);
      k += s.n * s.k;
      continue;
    }
    if (in.op == kExtremum) {
      const at::Tensor x = stacked(reg, in.a, in.b);
      reg[first + k] = in.attr == 0 ? x.amax(-1) : x.amin(-1);
      ++k;
      continue;
    }
    if (in.path == kPathTaken) {
      reg[first + k] = reg[taken(in.a) ? in.b : in.c];
    } else {
      const TapeForm& form = kTapeForms[in.op];
      std::vector<at::Tensor> args;
      for (int r : {in.a, in.b, in.c})
        if (r >= 0) args.push_back(reg[r]);
      const bool pow_scalar = std::string(form.name) == "pow-scalar";
      const std::vector<double> attrs = pow_scalar ? std::vector<double>{in.attr} : std::vector<double>{};
      reg[first + k] = apply_kernel(form.name, args, attrs);
    }
    ++k;
  }
  return reg;
}

/** The inputs' elements as registers: each [batch] when its input is batched, else []. */
std::vector<at::Tensor> input_registers(const TapeProgram& p, const std::vector<at::Tensor>& inputs) {
  std::vector<at::Tensor> reg;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& t = inputs[i];
    if (p.input_ranks[i] == 0) {
      reg.push_back(t);
      continue;
    }
    const at::Tensor flat = batched_input(p, inputs, i) ? t.reshape({t.size(0), -1}) : t.reshape({-1});
    for (int e = 0; e < p.input_sizes[i]; ++e) reg.push_back(flat.select(-1, e));
  }
  return reg;
}

/** One replay's result registers as the result: [..., result_shape]. */
at::Tensor replay_sample(const TapeProgram& p, const std::vector<at::Tensor>& registers,
                         const std::vector<at::Tensor>& params) {
  const std::vector<at::Tensor> reg = replay_registers(p, registers, params);
  if (p.result_shape.empty()) return reg[p.results[0]];
  std::vector<at::Tensor> parts;
  for (int r : p.results) parts.push_back(reg[r]);
  const at::Tensor x = at::stack(at::broadcast_tensors(parts), -1);
  at::DimVector shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.append(p.result_shape.begin(), p.result_shape.end());
  return x.reshape(shape);
}

at::Tensor replay(const TapeProgram& p, const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& params) {
  const std::vector<at::Tensor> reg = input_registers(p, inputs);
  const at::DimVector sizes = result_sizes(p, inputs);
  // Branches, calls and loops go their own way per sample.
  if ((!tape_branches(p) && p.loops.empty()) || !any_batched(p, inputs))
    return replay_sample(p, reg, params).expand(sizes);
  std::vector<at::Tensor> outs;
  for (int64_t s = 0; s < batch_of(p, inputs); ++s) {
    std::vector<at::Tensor> sample;
    for (const auto& r : reg) sample.push_back(r.dim() == 1 ? r.select(0, s) : r);
    outs.push_back(replay_sample(p, sample, params));
  }
  return at::stack(outs);
}

/** The tier's autograd node: holds the program and the saved inputs and params. */
struct TapeBackward : public torch::autograd::Node {
  std::shared_ptr<const TapeProgram> program;
  std::vector<torch::autograd::SavedVariable> saved;
  size_t num_inputs = 0;
  /** Set once backward has freed the saved tensors (retain_graph false): a second backward is an error. */
  bool released = false;

  std::string name() const override { return "TapeBackward"; }
  void release_variables() override {
    // reset_data, not clear: unpacking then raises libtorch's "backward through the graph a second time".
    for (auto& v : saved) v.reset_data();
    released = true;
  }

  /** The saved inputs and params. */
  std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> unpack() {
    std::vector<at::Tensor> inputs, params;
    for (size_t j = 0; j < saved.size(); ++j) (j < num_inputs ? inputs : params).push_back(saved[j].unpack());
    return {inputs, params};
  }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grad_outputs) override {
    const auto [inputs, params] = unpack();
    const size_t n = saved.size();
    std::vector<at::Tensor> grads(n);
    if (c10::GradMode::is_enabled()) {
      // create_graph: the reverse program is invisible to autograd, so differentiate the replay.
      std::vector<at::Tensor> sources;
      for (size_t j = 0; j < n; ++j)
        if (task_should_compute_output(j)) sources.push_back(j < num_inputs ? inputs[j] : params[j - num_inputs]);
      at::Tensor out;
      auto replayed = [&] {
        c10::AutoGradMode recording(true);  // thread-local: the deep stack's thread needs it too
        out = replay(*program, inputs, params);
      };
      program->calls.empty() ? replayed() : with_deep_stack(replayed);
      const auto found = torch::autograd::grad({out}, sources, {grad_outputs[0].expand(out.sizes())}, true, true, true);
      for (size_t j = 0, k = 0; j < n; ++j)
        if (task_should_compute_output(j)) grads[j] = found[k++];
      return grads;
    }
    const at::Tensor out = empty_result(*program, inputs, params);
    const at::Tensor upstream = grad_outputs[0].expand(out.sizes()).contiguous();
    auto run = [&](auto zero) {
      using T = decltype(zero);
      TapeGrads<T> g(*program);
      g.upstream = upstream.data_ptr<T>();
      for (size_t i = 0; i < num_inputs; ++i) {
        if (task_should_compute_output(i)) grads[i] = at::empty(inputs[i].sizes(), inputs[i].options());
        g.inputs.push_back(grads[i].defined() ? grads[i].data_ptr<T>() : nullptr);
      }
      run_on_tensors<T>(*program, inputs, params, out.data_ptr<T>(), &g);
      for (size_t k = 0; k < params.size(); ++k)
        if (task_should_compute_output(num_inputs + k)) {
          grads[num_inputs + k] = at::empty(params[k].sizes(), params[k].options());
          const double* sums = param_grads(*program, g, k);
          std::copy_n(sums, params[k].numel(), grads[num_inputs + k].data_ptr<T>());
        }
    };
    out.scalar_type() == at::kDouble ? run(0.0) : run(0.0f);
    return grads;
  }
};

/**
 * The leaf an edge accumulates into when autograd's engine would do nothing there but
 * AccumulateGrad's plain sum into a dense CPU .grad of the leaf's dtype (no hooks on it); null otherwise.
 */
const at::Tensor* plain_leaf(const torch::autograd::Edge& edge) {
  auto* acc = dynamic_cast<torch::autograd::AccumulateGrad*>(edge.function.get());
  if (!acc || !acc->pre_hooks().empty() || !acc->post_hooks().empty() || !acc->tensor_pre_hooks().empty() ||
      acc->tensor_post_acc_grad_hooks() != nullptr)
    return nullptr;
  const at::Tensor& v = acc->variable;
  if (!v.defined() || v.grad_fn() || !v.requires_grad() || !v.is_contiguous()) return nullptr;
  const at::Tensor& g = v.grad();
  if (g.defined() && (!g.device().is_cpu() || g.layout() != at::kStrided || g.scalar_type() != v.scalar_type() ||
                      !g.is_contiguous() || !g.sizes().equals(v.sizes()) || g.requires_grad()))
    return nullptr;
  return &v;
}

bool no_hooks(torch::autograd::Node& node) {
  return node.pre_hooks().empty() && node.post_hooks().empty() && node.tensor_pre_hooks().empty() &&
         node.retains_grad_hooks().empty();
}

/** d(values)/d(leaf) added to the leaf's .grad as AccumulateGrad adds it (a new tensor the first time). */
template <class T>
void accumulate(const at::Tensor& leaf, const T* values, size_t n) {
  at::Tensor& grad = const_cast<at::Tensor&>(leaf).mutable_grad();
  if (!grad.defined()) {
    grad = at::empty(leaf.sizes(), leaf.options());
    std::copy(values, values + n, grad.data_ptr<T>());
    return;
  }
  T* g = grad.data_ptr<T>();
  for (size_t i = 0; i < n; ++i) g[i] += values[i];
  torch::autograd::impl::bump_version(grad);  // an in-place add, as `grad += new_grad`
}

template <class T>
bool direct_backward(TapeBackward& node) {
  const size_t n = node.saved.size();
  std::vector<const at::Tensor*> leaves(n, nullptr);
  for (size_t j = 0; j < n; ++j) {
    const auto& edge = node.next_edge(j);
    if (!edge.is_valid()) continue;
    leaves[j] = plain_leaf(edge);
    if (!leaves[j]) return false;
    // A leaf given twice: the engine adds its two gradients before accumulating (another rounding).
    for (size_t i = 0; i < j; ++i)
      if (leaves[i] && node.next_edge(i).function == edge.function) return false;
  }
  const auto [inputs, params] = node.unpack();
  const size_t num_inputs = node.num_inputs;
  // One buffer for the values and the input gradients wanted: [values | input 0 | input 1 | ...].
  thread_local std::vector<T> scratch;
  const TapeProgram& p = *node.program;
  const size_t values = static_cast<size_t>(batch_of(p, inputs)) * p.results.size();
  size_t size = values;
  for (size_t i = 0; i < num_inputs; ++i)
    if (leaves[i]) size += static_cast<size_t>(inputs[i].numel());
  scratch.resize(size);
  TapeGrads<T> g(p);
  for (size_t i = 0, at = values; i < num_inputs; ++i) {
    g.inputs.push_back(leaves[i] ? scratch.data() + at : nullptr);
    if (leaves[i]) at += static_cast<size_t>(inputs[i].numel());
  }
  run_on_tensors<T>(*node.program, inputs, params, scratch.data(), &g);
  for (size_t i = 0; i < num_inputs; ++i)
    if (leaves[i]) accumulate<T>(*leaves[i], g.inputs[i], static_cast<size_t>(inputs[i].numel()));
  for (size_t k = 0; k < params.size(); ++k)
    if (leaves[num_inputs + k]) {
      const size_t elements = static_cast<size_t>(params[k].numel());
      thread_local std::vector<T> values;
      values.resize(elements);
      std::copy_n(param_grads(*node.program, g, k), elements, values.data());
      accumulate<T>(*leaves[num_inputs + k], values.data(), elements);
    }
  return true;
}

}  // namespace

at::Tensor tape_forward(const std::shared_ptr<const TapeProgram>& program, const std::vector<at::Tensor>& inputs,
                        const std::vector<at::Tensor>& params, bool record) {
  std::vector<at::Tensor> tensors;
  for (const auto& t : inputs) tensors.push_back(t.contiguous());  // a view given by the caller: recorded, if need be
  tensors.insert(tensors.end(), params.begin(), params.end());
  if (tensors.empty()) throw Error("internal: a tape with neither inputs nor params");
  const TapeProgram& p = *program;
  if (params.size() != p.num_params + p.block_sizes.size()) throw Error("internal: the tier's params");
  if (inputs.size() != p.input_sizes.size()) throw Error("internal: the tier's inputs");
  const std::vector<at::Tensor> in(tensors.begin(), tensors.begin() + inputs.size());
  for (size_t j = 0; j < tensors.size(); ++j) {
    const at::Tensor& t = tensors[j];
    const int64_t block = static_cast<int64_t>(j) - static_cast<int64_t>(inputs.size()) - p.num_params;
    bool shape_ok = block >= 0 ? t.numel() == p.block_sizes[block] && t.is_contiguous() : true;
    if (static_cast<size_t>(j) < inputs.size()) {
      // a sample's elements, or a batch of them as long as the batch the others give
      const bool batched = batched_input(p, in, j);
      const int64_t elements = c10::multiply_integers(t.sizes().slice(batched ? 1 : 0));
      shape_ok = t.dim() - (batched ? 1 : 0) == p.input_ranks[j] && elements == p.input_sizes[j] &&
                 (!batched || t.size(0) == batch_of(p, in));
    }
    if (!t.device().is_cpu() || t.scalar_type() != tensors[0].scalar_type() || !shape_ok)
      throw Error(
          "internal: the tier takes CPU tensors of one dtype, its inputs' shapes per sample, and its weight blocks");
  }
  at::Tensor out = empty_result(p, in, params);
  tensors[0].scalar_type() == at::kDouble
      ? run_on_tensors<double>(*program, in, params, out.data_ptr<double>(), nullptr)
      : run_on_tensors<float>(*program, in, params, out.data_ptr<float>(), nullptr);
  const bool needs_grad =
      std::any_of(tensors.begin(), tensors.end(), [](const at::Tensor& t) { return t.requires_grad(); });
  if (!record || !c10::GradMode::is_enabled() || !needs_grad) return out;
  auto node = c10::make_intrusive<TapeBackward>();
  node->program = program;
  node->num_inputs = inputs.size();
  for (const auto& t : tensors) node->saved.emplace_back(t, /*is_output=*/false);
  node->set_next_edges(torch::autograd::collect_next_edges(tensors));
  torch::autograd::set_history(out, node);
  return out;
}

bool tape_backward(const at::Tensor& root) {
  if (root.numel() != 1 || torch::autograd::AnomalyMode::is_enabled()) return false;
  auto fn = root.grad_fn();
  if (!fn || !no_hooks(*fn)) return false;
  // sum(y) of a tier result y: the gradient reaching y is 1 everywhere, as for y itself of one element.
  if (auto* sum = dynamic_cast<torch::autograd::generated::SumBackward0*>(fn.get())) {
    if (sum->num_outputs() != 1 || sum->next_edge(0).input_nr != 0) return false;
    fn = sum->next_edge(0).function;
    if (!fn || !no_hooks(*fn)) return false;
  }
  auto* tape = dynamic_cast<TapeBackward*>(fn.get());
  if (!tape || tape->released) return false;
  const bool done = tape->saved[0].unpack().scalar_type() == at::kDouble ? direct_backward<double>(*tape)
                                                                         : direct_backward<float>(*tape);
  // As the engine without retain_graph: the graph's saved tensors go (SumBackward0 saves none).
  if (done) tape->release_variables();
  return done;
}

}  // namespace nc
