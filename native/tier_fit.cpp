// fit()'s objective on the small-program tier: the loss of a program of scalar ops and its
// gradient, computed sample by sample over the tape's register file with no ATen call per op.
// ODE fits integrate with the same methods, steps and failures as odeint (ode_method.h) and take
// the gradient of the discrete scheme (what autograd computes through odeint) one of two ways: a
// reverse sweep over the accepted steps (each step's stages recomputed from its saved start state,
// then differentiated last stage first), or forward sensitivities carried through the stages as
// the solve takes them (nothing kept; fit's TS side chooses, src/train/ode-gradient.ts).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "errors.h"
#include "fit_objective.h"
#include "ode_method.h"

namespace nc {
namespace {

using at::Tensor;

/** The rows to evaluate: `index`'s entries, or 0..n-1. */
std::vector<int64_t> rows_of(const Tensor& index, int64_t n) {
  std::vector<int64_t> rows;
  if (!index.defined()) {
    for (int64_t i = 0; i < n; ++i) rows.push_back(i);
    return rows;
  }
  const Tensor ix = index.to(at::kLong).contiguous();
  rows.assign(ix.data_ptr<int64_t>(), ix.data_ptr<int64_t>() + ix.numel());
  return rows;
}

/** The register file of one sample: params and constants written once per evaluation, inputs per sample. */
template <class T>
std::vector<T> register_file(const TapeProgram& p, const std::vector<Tensor>& params) {
  std::vector<T> reg(p.registers(), T(0));
  for (int k = 0; k < p.num_params; ++k) reg[p.first_param() + k] = *params[k].data_ptr<T>();
  for (size_t k = 0; k < p.consts.size(); ++k) reg[p.first_const() + k] = static_cast<T>(p.consts[k]);
  return reg;
}

/** The weight blocks' values (the tape params after the scalar ones), block after block. */
template <class T>
std::vector<T> block_values(const TapeProgram& p, const std::vector<Tensor>& params) {
  std::vector<T> out(p.block_elements());
  for (size_t k = 0; k < p.block_sizes.size(); ++k) {
    const T* v = params[p.num_params + k].data_ptr<T>();
    std::copy(v, v + p.block_sizes[k], &out[p.block_offsets[k]]);
  }
  return out;
}

/** The gradients' sums: one per scalar param, then one per weight block element. */
std::vector<double> zero_grads(const TapeProgram& p) {
  return std::vector<double>(p.num_params + p.block_elements(), 0.0);
}

/** Adds the param adjoints of a register file to the gradients. */
template <class T>
void add_param_adjoints(const TapeProgram& p, const T* adjoint, std::vector<double>& grads) {
  for (int k = 0; k < p.num_params; ++k) grads[k] += static_cast<double>(adjoint[p.first_param() + k]);
}

/**
 * The tape params' gradients into the trained params' .grad: none for the frozen ones, and none
 * for those no sample reached (as autograd leaves them, so that optimizers leave them alone).
 */
void write_grads(FitTask& task, const std::vector<int>& trained, const std::vector<double>& grads,
                 const std::vector<char>& reached) {
  const TapeProgram& tape = *task.tape;
  for (size_t k = 0; k < trained.size(); ++k) {
    if (trained[k] < 0) continue;
    Tensor& p = task.params[trained[k]];
    if (!reached[k]) {
      p.mutable_grad().reset();
    } else if (static_cast<int>(k) < tape.num_params) {
      p.mutable_grad() = at::full(p.sizes(), grads[k], p.options());
    } else {
      const size_t block = k - tape.num_params;
      const double* g = &grads[tape.num_params + tape.block_offsets[block]];
      // A tensor of its own (not a view): optimizers' zero_grad detaches it in place.
      Tensor sums = at::empty(p.sizes(), p.options().dtype(at::kDouble));
      std::copy(g, g + tape.block_sizes[block], sums.data_ptr<double>());
      p.mutable_grad() = sums.to(p.scalar_type());
    }
  }
}

/** What a program without branches reaches is the same for every sample: its path does not depend on values. */
template <class T>
std::vector<char> static_reach(const TapeProgram& p) {
  std::vector<char> reached(p.num_params + p.block_sizes.size(), 0);
  const std::vector<T> any(p.registers(), T(0));
  tape_reach(p, any.data(), static_cast<const T*>(nullptr), reached);
  return reached;
}

// ---- algebraic fits ----

template <class T>
double algebraic_loss(FitTask& task, const std::vector<int>& trained, const Tensor& index, bool grad) {
  const TapeProgram& p = *task.tape;
  const AlgebraicData& d = *task.algebraic;
  const ElementLoss<T> loss{task.config.loss};
  const int64_t m = static_cast<int64_t>(p.results.size());
  const std::vector<int64_t> rows = rows_of(index, d.target.size(0));
  std::vector<const T*> inputs;
  for (const Tensor& x : d.inputs) inputs.push_back(x.data_ptr<T>());
  const std::vector<int>& widths = p.input_sizes;
  const T* target = d.target.data_ptr<T>();
  std::vector<T> reg = register_file<T>(p, task.tape_params), adjoint(grad ? reg.size() : 0);
  const std::vector<T> blocks = block_values<T>(p, task.tape_params);
  std::vector<double> grads = zero_grads(p);
  const bool branches = tape_branches(p);
  std::vector<char> reached = branches ? std::vector<char>(p.num_params + p.block_sizes.size(), 0) : static_reach<T>(p);
  const double count = static_cast<double>(rows.size() * m);
  const T per_element = static_cast<T>(1 / count);
  double sum = 0;
  for (const int64_t s : rows) {
    for (size_t i = 0, r = 0; i < widths.size(); r += widths[i++])
      std::copy(inputs[i] + s * widths[i], inputs[i] + (s + 1) * widths[i], &reg[r]);
    tape_values(p, reg.data(), blocks.data());
    if (grad) std::fill(adjoint.begin(), adjoint.end(), T(0));
    for (int64_t r = 0; r < m; ++r) {
      const auto [term, slope] = loss.term_and_slope(reg[p.results[r]] - target[s * m + r]);
      sum += term;
      if (grad) adjoint[p.results[r]] += slope * per_element;
    }
    if (!grad) continue;
    tape_adjoints(p, reg.data(), adjoint.data(), blocks.data(), grads.data() + p.num_params);
    add_param_adjoints(p, adjoint.data(), grads);
    if (branches) tape_reach(p, reg.data(), blocks.data(), reached);
  }
  const double value = loss_mean<T>(sum, count);
  if (grad && std::isfinite(value)) write_grads(task, trained, grads, reached);
  return value;
}

// ---- ODE fits ----

/** The right-hand side of one sample over the tape: the state's components, the time and the constants in. */
template <class T>
class TapeRhs {
 public:
  TapeRhs(const TapeProgram& p, const OdeProblem& problem, const std::vector<Tensor>& params)
      : p_(p),
        problem_(problem),
        base_(register_file<T>(p, params)),
        blocks_(block_values<T>(p, params)),
        branches_(tape_branches(p)),
        reached_(branches_ ? std::vector<char>(p.num_params + p.block_sizes.size(), 0) : static_reach<T>(p)) {
    // Constants are written into the base register file once: they never change.
    for (size_t i = 0, r = 0; i < problem.slots.size(); r += p.input_sizes[i++])
      if (problem.slots[i].kind == OdeSlot::Kind::Constant) {
        const Tensor values = problem.slots[i].value.to(at::kCPU, c10::CppTypeToScalarType<T>::value).contiguous();
        std::copy(values.data_ptr<T>(), values.data_ptr<T>() + p.input_sizes[i], &base_[r]);
      }
  }

  int registers() const { return p_.registers(); }
  int components() const { return static_cast<int>(p_.results.size()); }

  /** k = f(time, y); `reg` (registers() values) keeps the sample's register file for `adjoint`. */
  void operator()(const T* y, T time, T* reg, T* k) const {
    std::copy(base_.begin(), base_.begin() + p_.first_instr(), reg);
    for (size_t i = 0, r = 0; i < problem_.slots.size(); r += p_.input_sizes[i++]) {
      const OdeSlot& slot = problem_.slots[i];
      if (slot.kind == OdeSlot::Kind::State)
        std::copy(y, y + components(), &reg[r]);
      else if (slot.kind == OdeSlot::Kind::Component)
        reg[r] = y[slot.component];
      else if (slot.kind == OdeSlot::Kind::Time)
        reg[r] = time;
    }
    tape_values(p_, reg, blocks_.data());
    for (size_t r = 0; r < p_.results.size(); ++r) k[r] = reg[p_.results[r]];
  }

  /** Given f's registers and the adjoint of k, adds the adjoint of y and the params' gradients (reach notes what they
   * reach). */
  void adjoint(const T* reg, const T* kbar, T* ybar, std::vector<double>& grads, std::vector<T>& scratch) const {
    scratch.assign(p_.registers(), T(0));
    for (size_t r = 0; r < p_.results.size(); ++r) scratch[p_.results[r]] += kbar[r];
    tape_adjoints(p_, reg, scratch.data(), blocks_.data(), grads.data() + p_.num_params);
    for (size_t i = 0, r = 0; i < problem_.slots.size(); r += p_.input_sizes[i++]) {
      const OdeSlot& slot = problem_.slots[i];
      if (slot.kind == OdeSlot::Kind::State)
        for (int j = 0; j < components(); ++j) ybar[j] += scratch[r + j];
      else if (slot.kind == OdeSlot::Kind::Component)
        ybar[slot.component] += scratch[r];
    }
    add_param_adjoints(p_, scratch.data(), grads);
  }

  /** Notes the params an evaluation's registers reach (once per evaluation, however many adjoints it seeds). */
  void reach(const T* reg) const {
    if (branches_) tape_reach(p_, reg, blocks_.data(), reached_);
  }

  /** The params on the gradient path of the evaluations differentiated so far (all of them, without branches). */
  const std::vector<char>& reached() const { return reached_; }

 private:
  const TapeProgram& p_;
  const OdeProblem& problem_;
  std::vector<T> base_;
  std::vector<T> blocks_;
  bool branches_;
  mutable std::vector<char> reached_;
};

/**
 * out = y + h sum_{l < q} a_l k_l over `width` values (stage l's row of k at l * width), as odeint's
 * combine: in order, skipping zero weights. The state's stages (width n) and their sensitivities
 * (width n x P) combine alike. `out` may be `y`.
 */
template <class T>
void combine(const T* y, double h, const std::vector<double>& a, const T* k, size_t q, size_t width, T* out) {
  if (out != y) std::copy(y, y + width, out);
  for (size_t l = 0; l < q && l < a.size(); ++l)
    if (a[l] != 0)
      for (size_t j = 0; j < width; ++j) out[j] = out[j] + T(h * a[l]) * k[l * width + j];
}

/** The stages a step differentiates: all but an FSAL method's last (the next step's first, weighing nothing here). */
inline size_t differentiated_stages(const Tableau& m) { return m.fsal ? m.c.size() - 1 : m.c.size(); }

/** The new state is y + h sum_q w_q k_q: for FSAL methods the last stage's input, whose weights are b's. */
inline const std::vector<double>& state_weights(const Tableau& m) { return m.fsal ? m.a.back() : m.b; }

/**
 * Forward sensitivities of the discrete scheme (discretise, then differentiate: the reverse
 * sweep's gradient to rounding). Per sample, S = dy/dθ (n x P, row-major), θ being the tape's
 * scalar params, its weight blocks' elements and, with trained starts, the sample's start state.
 * Each accepted step carries S through its stages from the register files the solve kept:
 * dY_q = S + h sum_{l<q} a_ql dK_l, dK_q = J_y(q) dY_q + J_θ(q), S' = S + h sum_q w_q dK_q, the
 * right-hand side's Jacobian [J_y | J_θ] taken by n reverse sweeps of the stage's registers (no
 * forward-mode formulas needed). The gradient, sum over the reported times of adjoint' S, is added
 * as the solve reports each state, so no step is kept: memory n x P per sample (and the register
 * files of the step under way), whatever the steps.
 */
template <class T>
class ForwardSensitivity {
 public:
  /** Writes the adjoint (B x n) of the states (B x n) reported at the i-th time. */
  using Adjoint = std::function<void(size_t i, const T* states, T* adjoint)>;

  ForwardSensitivity(const TapeRhs<T>& f, const Tableau& m, int64_t batch, bool starts, Adjoint adjoint,
                     std::vector<double>& grads)
      : f_(f),
        m_(m),
        B_(batch),
        n_(f.components()),
        tape_(grads.size()),
        P_(tape_ + (starts ? n_ : 0)),
        adjoint_(std::move(adjoint)),
        grads_(grads),
        S_(B_ * n_ * P_, T(0)),
        y0_sums_(starts ? B_ * n_ : 0, 0.0),
        dY_(n_ * P_),
        dK_(differentiated_stages(m) * n_ * P_),
        Jy_(n_ * n_),
        kbar_(n_),
        adj_(B_ * n_),
        Jtheta_(n_, std::vector<double>(tape_)) {}

  /** Starts every sample at S = [0 | I] (the identity in the start state's columns) and reports y0 for them. */
  void start(const T* y0) {
    std::fill(S_.begin(), S_.end(), T(0));
    if (y0_sums_.empty()) return;
    for (int64_t b = 0; b < B_; ++b)
      for (int j = 0; j < n_; ++j) S_[(b * n_ + j) * P_ + tape_ + j] = T(1);
    report(0, y0);
  }

  /** Carries sample b's S over one accepted step of size h; stage q's register file is at regs + q * stride. */
  void advance(int64_t b, double h, const T* regs, size_t stride) {
    T* S = &S_[b * n_ * P_];
    const size_t width = n_ * P_, stages = differentiated_stages(m_);
    for (size_t q = 0; q < stages; ++q) {
      if (q > 0) combine(S, h, m_.a[q], dK_.data(), q, width, dY_.data());
      const T* dY = q > 0 ? dY_.data() : S;
      jacobian(regs + q * stride);
      T* dK = &dK_[q * width];
      for (int i = 0; i < n_; ++i) {
        T* out = &dK[i * P_];
        for (size_t c = 0; c < tape_; ++c) out[c] = static_cast<T>(Jtheta_[i][c]);
        std::fill(out + tape_, out + P_, T(0));
        for (int j = 0; j < n_; ++j)
          for (size_t c = 0; c < P_; ++c) out[c] += Jy_[i * n_ + j] * dY[j * P_ + c];
      }
    }
    combine(S, h, state_weights(m_), dK_.data(), stages, width, S);
  }

  /** Adds the gradient of the states (B x n) reported at the i-th time: their adjoints times S. */
  void report(size_t i, const T* states) {
    adjoint_(i, states, adj_.data());
    for (int64_t b = 0; b < B_; ++b) {
      const T* S = &S_[b * n_ * P_];
      for (int j = 0; j < n_; ++j) {
        const double a = static_cast<double>(adj_[b * n_ + j]);
        const T* row = &S[j * P_];
        for (size_t c = 0; c < tape_; ++c) grads_[c] += a * static_cast<double>(row[c]);
        for (size_t c = tape_; c < P_; ++c) y0_sums_[b * n_ + (c - tape_)] += a * static_cast<double>(row[c]);
      }
    }
  }

  /** The gradient by the start states (B x n), with trained starts. */
  void start_gradient(T* y0_grad) const {
    for (size_t k = 0; k < y0_sums_.size(); ++k) y0_grad[k] = static_cast<T>(y0_sums_[k]);
  }

 private:
  const TapeRhs<T>& f_;
  const Tableau& m_;
  int64_t B_;
  int n_;
  size_t tape_, P_;  // the tape's gradient columns; all columns (with the start state's)
  Adjoint adjoint_;
  std::vector<double>& grads_;
  std::vector<T> S_;             // B x n x P
  std::vector<double> y0_sums_;  // B x n: the start states' gradient
  std::vector<T> dY_, dK_, Jy_;  // a stage's input sensitivity, the stages' dK, its Jacobian by y (n x n)
  std::vector<T> kbar_, adj_, scratch_;
  std::vector<std::vector<double>> Jtheta_;  // its Jacobian by the tape's params, a row per component

  /** Jy_ and Jtheta_ at a stage's registers: one reverse sweep per component, seeded with its unit adjoint. */
  void jacobian(const T* reg) {
    for (int i = 0; i < n_; ++i) {
      std::fill(kbar_.begin(), kbar_.end(), T(0));
      kbar_[i] = T(1);
      std::fill(&Jy_[i * n_], &Jy_[(i + 1) * n_], T(0));
      std::fill(Jtheta_[i].begin(), Jtheta_[i].end(), 0.0);
      f_.adjoint(reg, kbar_.data(), &Jy_[i * n_], Jtheta_[i], scratch_);
    }
    f_.reach(reg);
  }
};

/** One accepted step: where it starts, its size, and the time at which its first stage was evaluated. */
struct StepRecord {
  double t, h, t_first;
};

/** A batch of B trajectories of n components integrated in lockstep (adaptive steps are shared, as in odeint). */
template <class T>
class TapeOde {
 public:
  TapeOde(const TapeRhs<T>& f, const Tableau& m, const OdeConfig& cfg, int64_t batch, const std::vector<T>& offsets)
      : f_(f),
        m_(m),
        cfg_(cfg),
        B_(batch),
        n_(f.components()),
        offsets_(offsets),
        reg_(f.registers()),
        scratch_(f.registers()) {}

  /**
   * Integrates from y0 (B x n) over `times`: every reported state (times x B x n). Without `sens`,
   * each step is kept for reverse (with `reversed`, its stages' register files too, within
   * kKeptBytes); with it, the sensitivities are carried through each accepted step from its stages'
   * register files, and nothing is kept.
   */
  std::vector<T> solve(const std::vector<T>& y0, const std::vector<double>& times, ForwardSensitivity<T>* sens,
                       bool reversed) {
    steps_.clear();
    starts_.clear();
    interval_end_.clear();
    sens_ = sens;
    kept_.clear();
    keep_ = reversed && !sens;
    const size_t step_files = B_ * m_.c.size() * reg_;
    std::vector<int64_t> substeps;
    if (m_.e.empty()) {  // fixed steps: their number, and so the kept files' size, is known now
      substeps = fixed_substeps(times, cfg_);
      const auto steps = static_cast<size_t>(std::accumulate(substeps.begin(), substeps.end(), int64_t(0)));
      keep_ = keep_ && steps * step_files * sizeof(T) <= kKeptBytes;
      if (keep_) kept_.reserve(steps * step_files);
    }
    files_.assign(sens || keep_ ? step_files : 0, T(0));  // else every stage evaluates in scratch_
    if (sens) sens->start(y0.data());
    std::vector<T> states(y0);
    if (m_.e.empty())
      solve_fixed(y0, times, substeps, states);
    else
      solve_adaptive(y0, times, states);
    return states;
  }

  /**
   * Adds to the params' gradients those of sum(states * adjoints), adjoints being times x B x n;
   * with y0_grad (B x n), also writes that sum's gradient by the start states.
   */
  void reverse(const std::vector<T>& adjoints, size_t num_times, std::vector<double>& grads, T* y0_grad) const {
    const size_t stages = differentiated_stages(m_);
    const bool kept = keep_;
    std::vector<T> regs(kept ? 0 : stages * reg_), k(stages * n_), kbar(stages * n_), y(n_), ybar(n_), stage_bar(n_),
        scratch;
    for (int64_t b = 0; b < B_; ++b) {
      std::fill(ybar.begin(), ybar.end(), T(0));
      for (size_t i = num_times - 1; i >= 1; --i) {
        for (int j = 0; j < n_; ++j) ybar[j] += adjoints[(i * B_ + b) * n_ + j];
        const size_t first = i >= 2 ? interval_end_[i - 2] : 0;
        for (size_t s = interval_end_[i - 1]; s-- > first;) {
          const StepRecord& st = steps_[s];
          const T* y0 = &starts_[(s * B_ + b) * n_];
          // The stages' register files: kept by the solve, or recomputed (the same values, bit for bit).
          const T* files = kept ? &kept_[(s * B_ + b) * m_.c.size() * reg_] : regs.data();
          for (size_t q = 0; q < stages && !kept; ++q) {
            combine(y0, st.h, m_.a[q], k.data(), q, n_, y.data());
            f_(y.data(), time(b, q == 0 ? st.t_first : st.t + m_.c[q] * st.h), &regs[q * reg_], &k[q * n_]);
          }
          const std::vector<double>& w = state_weights(m_);
          for (size_t q = 0; q < stages; ++q)
            for (int j = 0; j < n_; ++j) kbar[q * n_ + j] = q < w.size() && w[q] != 0 ? T(st.h * w[q]) * ybar[j] : T(0);
          for (size_t q = stages; q-- > 0;) {
            std::fill(stage_bar.begin(), stage_bar.end(), T(0));
            f_.adjoint(&files[q * reg_], &kbar[q * n_], stage_bar.data(), grads, scratch);
            f_.reach(&files[q * reg_]);
            for (int j = 0; j < n_; ++j) ybar[j] += stage_bar[j];
            for (size_t l = 0; l < q; ++l)
              if (m_.a[q][l] != 0)
                for (int j = 0; j < n_; ++j) kbar[l * n_ + j] += T(st.h * m_.a[q][l]) * stage_bar[j];
          }
        }
      }
      if (y0_grad)
        for (int j = 0; j < n_; ++j) y0_grad[b * n_ + j] = ybar[j] + adjoints[b * n_ + j];
    }
  }

 private:
  const TapeRhs<T>& f_;
  const Tableau& m_;
  const OdeConfig& cfg_;
  int64_t B_;
  int n_;
  const std::vector<T>& offsets_;  // per sample start times (multiple shooting), or empty
  int reg_;
  std::vector<T> scratch_;  // the register file of evaluations not differentiated
  std::vector<StepRecord> steps_;
  std::vector<T> starts_;             // each step's start state, steps x B x n
  std::vector<size_t> interval_end_;  // the steps taken by the end of each reported interval
  ForwardSensitivity<T>* sens_ = nullptr;
  std::vector<T> files_;  // each sample's stage register files of the step under way, B x stages
  /**
   * Without sens_, every accepted step's files (steps x B x stages), for reverse to read instead of
   * recomputing the stages, while they fit in kKeptBytes; past that, none (keep_ false: reverse recomputes).
   */
  std::vector<T> kept_;
  bool keep_ = false;
  static constexpr size_t kKeptBytes = size_t(64) << 20;

  T time(int64_t b, double t) const { return offsets_.empty() ? T(t) : offsets_[b] + T(t); }

  /** Where sample b's stage q keeps its registers: its own file when they are read later, else scratch. */
  T* file(int64_t b, size_t q) { return sens_ || keep_ ? &files_[(b * m_.c.size() + q) * reg_] : scratch_.data(); }

  /** One step of sample b from y with first stage k1 given: the new state and the stages (k: stages x n). */
  void step(int64_t b, double t, double h, const T* y, T* k, T* out) {
    T* stage = out;  // the stages' inputs are built in `out`, which ends as the new state
    for (size_t q = 1; q < m_.c.size(); ++q) {
      combine(y, h, m_.a[q], k, q, n_, stage);
      f_(stage, time(b, t + m_.c[q] * h), file(b, q), &k[q * n_]);
    }
    if (!m_.fsal) combine(y, h, m_.b, k, m_.b.size(), n_, out);
  }

  /** An accepted step from y (B x n): kept for reverse, or its sensitivities carried from the stages' files. */
  void accept(double t, double h, double t_first, const T* y) {
    if (sens_) {
      for (int64_t b = 0; b < B_; ++b) sens_->advance(b, h, file(b, 0), reg_);
      return;
    }
    steps_.push_back({t, h, t_first});
    starts_.insert(starts_.end(), y, y + B_ * n_);
    if (keep_ && (kept_.size() + files_.size()) * sizeof(T) > kKeptBytes) {  // adaptive steps: found out as they go
      keep_ = false;
      std::vector<T>().swap(kept_);
    }
    if (keep_) kept_.insert(kept_.end(), files_.begin(), files_.end());
  }

  static bool finite(const std::vector<T>& y) {
    return std::all_of(y.begin(), y.end(), [](T v) { return std::isfinite(v); });
  }

  void solve_fixed(const std::vector<T>& y0, const std::vector<double>& times, const std::vector<int64_t>& substeps,
                   std::vector<T>& states) {
    std::vector<T> y(y0), k(m_.c.size() * n_), next(y0.size());
    for (size_t i = 1; i < times.size(); ++i) {
      const double h = (times[i] - times[i - 1]) / static_cast<double>(substeps[i - 1]);
      for (int64_t s = 0; s < substeps[i - 1]; ++s) {
        const double t = times[i - 1] + static_cast<double>(s) * h;
        for (int64_t b = 0; b < B_; ++b) {
          T* yb = &y[b * n_];
          f_(yb, time(b, t), file(b, 0), k.data());
          step(b, t, h, yb, k.data(), &next[b * n_]);
        }
        accept(t, h, t, y.data());
        y.swap(next);
      }
      report(i, times[i], y, states);
    }
  }

  /** The state at the i-th reported time t: checked, appended to `states`, and its gradient added forward. */
  void report(size_t i, double t, const std::vector<T>& y, std::vector<T>& states) {
    if (!finite(y)) throw_not_finite(t);
    states.insert(states.end(), y.begin(), y.end());
    interval_end_.push_back(steps_.size());
    if (sens_) sens_->report(i, y.data());
  }

  /** RMS over the components of v / scale, worst sample. */
  double rms(const std::vector<T>& v, const std::vector<T>& scale) const {
    double worst = -std::numeric_limits<double>::infinity();
    for (int64_t b = 0; b < B_; ++b) {
      T sum = 0;
      for (int j = 0; j < n_; ++j) {
        const T r = v[b * n_ + j] / scale[b * n_ + j];
        sum += r * r;
      }
      const double norm = static_cast<double>(std::sqrt(sum / static_cast<T>(n_)));
      worst = std::isnan(norm) || std::isnan(worst) ? std::numeric_limits<double>::quiet_NaN() : std::max(worst, norm);
    }
    return worst;
  }

  /** k = f(t, y) for every sample; `first` keeps the registers as each sample's first stage (a trial does not). */
  void derivatives(const std::vector<T>& y, double t, std::vector<T>& k, bool first) {
    for (int64_t b = 0; b < B_; ++b) f_(&y[b * n_], time(b, t), first ? file(b, 0) : scratch_.data(), &k[b * n_]);
  }

  double first_step(double t0, const std::vector<T>& y0, const std::vector<T>& f0) {
    std::vector<T> scale(y0.size());
    for (size_t j = 0; j < y0.size(); ++j) scale[j] = T(cfg_.atol) + T(cfg_.rtol) * std::abs(y0[j]);
    return initial_step(rms(y0, scale), rms(f0, scale), t0, [&](double h0) {
      std::vector<T> y1(y0.size()), f1(y0.size());
      for (size_t j = 0; j < y0.size(); ++j) y1[j] = y0[j] + T(h0) * f0[j];
      derivatives(y1, t0 + h0, f1, false);
      for (size_t j = 0; j < y0.size(); ++j) f1[j] = f1[j] - f0[j];
      return rms(f1, scale) / h0;
    });
  }

  void solve_adaptive(const std::vector<T>& y0, const std::vector<double>& times, std::vector<T>& states) {
    const size_t S = m_.c.size();
    double t = times.front(), t_first = t;
    std::vector<T> y(y0), k1(B_ * n_), next(B_ * n_), k_next(B_ * n_), k(S * n_), err(B_ * n_), scale(B_ * n_);
    derivatives(y, t, k1, true);
    double h = first_step(t, y, k1);
    int64_t attempts = 0;
    for (size_t i = 1; i < times.size(); ++i) {
      const double target = times[i];
      while (t < target) {
        const auto [h_try, lands] = next_attempt(t, h, target, cfg_, attempts);
        for (int64_t b = 0; b < B_; ++b) {
          std::copy(&k1[b * n_], &k1[(b + 1) * n_], k.begin());
          step(b, t, h_try, &y[b * n_], k.data(), &next[b * n_]);
          std::copy(&k[(S - 1) * n_], &k[S * n_], &k_next[b * n_]);
          std::fill(&err[b * n_], &err[(b + 1) * n_], T(0));
          for (size_t q = 0; q < S; ++q)
            if (m_.e[q] != 0)
              for (int j = 0; j < n_; ++j) err[b * n_ + j] = err[b * n_ + j] + T(h_try * m_.e[q]) * k[q * n_ + j];
          for (int j = 0; j < n_; ++j)
            scale[b * n_ + j] =
                T(cfg_.atol) + T(cfg_.rtol) * std::max(std::abs(y[b * n_ + j]), std::abs(next[b * n_ + j]));
        }
        const double ratio = rms(err, scale);
        if (ratio <= 1) {
          accept(t, h_try, t_first, y.data());
          // The last stage, evaluated at the new state, is the next step's first (FSAL): so are its registers.
          if (sens_ || keep_)
            for (int64_t b = 0; b < B_; ++b) std::copy(file(b, S - 1), file(b, S - 1) + reg_, file(b, 0));
          t_first = t + m_.c[S - 1] * h_try;
          t = lands ? target : t + h_try;
          y.swap(next);
          k1.swap(k_next);
        }
        h = h_try * step_factor(ratio);
      }
      report(i, target, y, states);
    }
  }
};

/**
 * The ODE loss: trajectories from the samples' start states (the first observation, or each
 * window's first row) against the observations, and with `grad` its gradient, by reverse sweep or
 * forward sensitivities as the data say.
 */
template <class T>
double ode_loss(FitTask& task, const std::vector<int>& trained, const Tensor& index, bool grad, bool lenient) {
  const TapeProgram& p = *task.tape;
  const OdeData& d = *task.ode;
  const ElementLoss<T> loss{task.config.loss};
  const T* o = d.observations.data_ptr<T>();
  const int64_t n = d.observations.size(1);
  const int64_t k = d.window_steps;
  // Samples: the one trajectory, or windows of k intervals sharing window 0's relative times.
  const int64_t windows = k == 0 ? 1 : (static_cast<int64_t>(d.times.size()) - 1) / k;
  const std::vector<int64_t> rows = rows_of(index, windows);
  const int64_t B = static_cast<int64_t>(rows.size());
  const size_t span = k == 0 ? d.times.size() : static_cast<size_t>(k + 1);
  std::vector<double> times(span);
  for (size_t j = 0; j < span; ++j) times[j] = d.times[j] - (k == 0 ? 0 : d.times[0]);
  std::vector<T> offsets;
  if (k > 0)
    for (const int64_t w : rows) offsets.push_back(static_cast<T>(d.times[w * k]));
  const auto observed = [&](size_t j, int64_t b) { return &o[((k == 0 ? 0 : rows[b] * k) + j) * n]; };
  // Each sample starts from its trained start state, or else from its first observation.
  const T* trained_starts = d.starts.defined() ? d.starts.data_ptr<T>() : nullptr;
  std::vector<T> y0(B * n);
  for (int64_t b = 0; b < B; ++b) {
    const T* from = trained_starts ? &trained_starts[rows[b] * n] : observed(0, b);
    std::copy(from, from + n, &y0[b * n]);
  }

  const TapeRhs<T> rhs(p, d.problem, task.tape_params);
  if (rhs.components() != n)
    throw Error("fit: the right-hand side returns " + std::to_string(rhs.components()) +
                " components but the state has " + std::to_string(n));
  const Tableau& method = tableau(d.config.method);
  TapeOde<T> ode(rhs, method, d.config, B, offsets);
  const double count = static_cast<double>(span * B * n);
  const T per_element = static_cast<T>(1 / count);
  // The loss's derivative by the reported state of sample b's component c at the j-th time.
  const auto slope = [&](size_t j, int64_t b, int64_t c, T state) {
    return loss.term_and_slope(state - observed(j, b)[c]).second * per_element;
  };
  std::vector<double> grads = zero_grads(p);
  std::vector<T> y0_grad(trained_starts ? B * n : 0);
  // Forward sensitivities take each reported state's adjoint as the solve reaches it (computed as below).
  std::optional<ForwardSensitivity<T>> sens;
  if (grad && d.gradient == OdeGradient::Forward)
    sens.emplace(
        rhs, method, B, trained_starts != nullptr,
        [&](size_t j, const T* y, T* adjoint) {
          for (int64_t b = 0; b < B; ++b)
            for (int64_t c = 0; c < n; ++c) adjoint[b * n + c] = slope(j, b, c, y[b * n + c]);
        },
        grads);
  std::vector<T> states;
  try {
    states = ode.solve(y0, times, sens ? &*sens : nullptr, grad && !sens);
  } catch (const OdeBlowUp&) {
    if (!lenient) throw;
    return std::numeric_limits<double>::quiet_NaN();
  }
  double sum = 0;
  std::vector<T> adjoints(grad && !sens ? states.size() : 0);
  for (size_t j = 0; j < span; ++j)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < n; ++c) {
        const size_t at = (j * B + b) * n + c;
        const auto [term, slope_at] = loss.term_and_slope(states[at] - observed(j, b)[c]);
        sum += term;
        if (!adjoints.empty()) adjoints[at] = slope_at * per_element;
      }
  const double value = loss_mean<T>(sum, count);
  if (!grad || !std::isfinite(value)) return value;
  if (sens)
    sens->start_gradient(y0_grad.data());
  else
    ode.reverse(adjoints, span, grads, trained_starts ? y0_grad.data() : nullptr);
  write_grads(task, trained, grads, rhs.reached());
  if (trained_starts) {
    // Rows of windows outside the minibatch get a zero gradient, as autograd's index_select gives them.
    Tensor g = at::zeros_like(d.starts);
    T* out = g.data_ptr<T>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < n; ++c) out[rows[b] * n + c] += y0_grad[b * n + c];
    d.starts.mutable_grad() = g;
  }
  return value;
}

}  // namespace

Objective tier_objective(FitTask& task) {
  const TapeProgram& p = *task.tape;
  const size_t params = p.num_params + p.block_sizes.size();
  if (task.tape_params.size() != params) throw Error("fit: internal: the tier's params");
  const at::ScalarType type = task.tape_params.empty() ? at::kFloat : task.tape_params[0].scalar_type();
  for (size_t k = 0; k < params; ++k) {
    const Tensor& t = task.tape_params[k];
    const int64_t elements = static_cast<int>(k) < p.num_params ? 1 : p.block_sizes[k - p.num_params];
    if (!t.device().is_cpu() || t.scalar_type() != type || t.numel() != elements || !t.is_contiguous())
      throw Error("fit: internal: the tier takes contiguous CPU params of one dtype, as its blocks");
  }
  // Which of the tape's params train, by identity.
  std::vector<int> trained(params, -1);
  for (size_t k = 0; k < params; ++k)
    for (size_t i = 0; i < task.params.size(); ++i)
      if (task.params[i].is_same(task.tape_params[k])) trained[k] = static_cast<int>(i);
  const bool dbl = type == at::kDouble;
  if (task.algebraic) {
    AlgebraicData& d = *task.algebraic;
    const int64_t n = d.target.defined() && d.target.dim() >= 1 ? d.target.size(0) : 0;
    if (n < 1) throw Error("fit: the target needs at least one sample");
    const int64_t m = static_cast<int64_t>(p.results.size());
    if (d.target.numel() != n * m)
      throw Error("fit: the program returns " + std::to_string(m) + " value" + (m == 1 ? "" : "s") +
                  " per sample but the target has shape " + c10::str(d.target.sizes()));
    if (d.inputs.size() != p.input_sizes.size()) throw Error("fit: internal: the tier's inputs");
    if (d.target.scalar_type() != type) throw Error("fit: internal: the tier's target dtype");
    d.target = d.target.contiguous();
    for (size_t i = 0; i < d.inputs.size(); ++i) {
      Tensor& x = d.inputs[i];
      if (x.dim() < 1 || x.size(0) != n || x.numel() != n * p.input_sizes[i] || x.scalar_type() != type)
        throw Error("fit: internal: the tier's input " + std::to_string(i) + " does not hold its elements per sample");
      x = x.contiguous();
    }
    return {n, true, [&task, trained, dbl](const Tensor& index, bool grad, bool) {
              return dbl ? algebraic_loss<double>(task, trained, index, grad)
                         : algebraic_loss<float>(task, trained, index, grad);
            }};
  }
  OdeData& d = *task.ode;
  const Tensor& obs = d.observations;
  const int64_t T = static_cast<int64_t>(d.times.size());
  if (!obs.defined() || obs.dim() != 2 || obs.size(0) != T || obs.size(1) < 1 || obs.scalar_type() != type)
    throw Error("fit: the observations must have shape [T, n] with one row per time");
  if (T < 2) throw Error("fit: at least 2 observations are needed, got " + std::to_string(T));
  check_times_and_config(d.times, type == at::kFloat, d.config);
  if (d.problem.slots.size() != p.input_sizes.size()) throw Error("fit: internal: the tier's inputs");
  for (size_t i = 0; i < d.problem.slots.size(); ++i) {
    const OdeSlot& slot = d.problem.slots[i];
    const int64_t want = slot.kind == OdeSlot::Kind::State      ? obs.size(1)
                         : slot.kind == OdeSlot::Kind::Constant ? (slot.value.defined() ? slot.value.numel() : -1)
                                                                : 1;
    if (p.input_sizes[i] != want ||
        (slot.kind == OdeSlot::Kind::Component && (slot.component < 0 || slot.component >= obs.size(1))))
      throw Error("fit: internal: the tier's input " + std::to_string(i) + " does not match its role");
  }
  d.observations = obs.contiguous();
  const int64_t windows = shooting_windows(d);
  if (d.starts.defined() && !d.starts.is_contiguous()) throw Error("fit: internal: the tier's start states");
  return {windows, d.window_steps > 0, [&task, trained, dbl](const Tensor& index, bool grad, bool lenient) {
            return dbl ? ode_loss<double>(task, trained, index, grad, lenient)
                       : ode_loss<float>(task, trained, index, grad, lenient);
          }};
}

}  // namespace nc
