// The hand-written libtorch C++ anchor of the heat 2-D benchmark (issue 14; scripts/bench/heat2d.js):
// N x N field, STEPS explicit zero-flux steps u <- u + alpha dt/h^2 * lap5(pad_replicate(u)), loss
// sum(u_N^2), backward to the scalar alpha. float32, written as a person would with ATen calls, the
// same problem as scripts/bench/heat2d_torch.py and our program (scripts/bench/heat2d-problem.js).
//
// Usage: heat2d_eager time N STEPS REPS THREADS    median ms of forward+backward over REPS runs
//        heat2d_eager memory N STEPS THREADS       peak RSS growth of one forward+backward
//        heat2d_eager bandwidth N REPS             streaming copy and triad on N x N float arrays
// stdout: one JSON line.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using at::Tensor;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/** Median milliseconds of f over reps runs after one warm-up run. */
double median_ms(const std::function<void()>& f, int reps) {
  f();
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clock_type::now();
    f();
    samples.push_back(ms_since(t0));
  }
  return median(samples);
}

// --- the problem (scripts/bench/heat2d-problem.js has the same numbers) ---

/** A Gaussian bump off the centre, so the zero-flux boundary matters. */
Tensor initial_field(int64_t n) {
  const Tensor x = at::arange(n, at::kDouble) / static_cast<double>(n - 1);
  const Tensor dx = (x - 0.35).pow(2).unsqueeze(1);
  const Tensor dy = (x - 0.6).pow(2).unsqueeze(0);
  return at::exp(-(dx + dy) / (2 * 0.1 * 0.1)).to(at::kFloat);
}

constexpr int64_t kWarmN = 16;

struct Result {
  double loss, grad;
};

/** Forward and backward; alpha's gradient is read (and zeroed for the next run). */
Result forward_backward(const Tensor& u0, const Tensor& alpha, int64_t n, int steps) {
  const double h = 1.0 / static_cast<double>(n - 1);
  const double dt = 0.2 * h * h;
  Tensor u = u0;
  const Tensor r = alpha * (dt / (h * h));
  for (int k = 0; k < steps; ++k) {
    const Tensor p = at::pad(u.unsqueeze(0), {1, 1, 1, 1}, "replicate").squeeze(0);
    using at::indexing::Slice;
    const Tensor lap = p.index({Slice(0, -2), Slice(1, -1)}) + p.index({Slice(2, at::indexing::None), Slice(1, -1)}) +
                       p.index({Slice(1, -1), Slice(0, -2)}) + p.index({Slice(1, -1), Slice(2, at::indexing::None)}) -
                       4 * u;
    u = u + r * lap;
  }
  const Tensor loss = (u * u).sum();
  loss.backward();
  const double g = alpha.grad().item<double>();
  alpha.mutable_grad().zero_();
  return {loss.item<double>(), g};
}

long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  throw std::runtime_error(std::string("no ") + field + " in /proc/self/status");
}

/** Resets the peak-RSS mark (VmHWM) to the current RSS. */
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

void run_problem(bool memory, int64_t n, int steps, int reps) {
  const Tensor u0 = initial_field(n);
  const Tensor alpha = at::scalar_tensor(1.0, at::kFloat).set_requires_grad(true);
  Result res{};
  if (memory) {
    // Warm-up on a small field: lazy initialisation is not the run's memory, and a small run leaves
    // no freed heap behind for the measured run to reuse unseen.
    forward_backward(initial_field(kWarmN), alpha, kWarmN, steps);
    reset_peak();
    const long before = status_kb("VmRSS");
    res = forward_backward(u0, alpha, n, steps);
    std::printf("{\"peakKb\": %ld, ", status_kb("VmHWM") - before);
  } else {
    const double ms = median_ms([&] { res = forward_backward(u0, alpha, n, steps); }, reps);
    std::printf("{\"ms\": %.4f, ", ms);
  }
  std::printf("\"loss\": %.9g, \"grad\": %.9g}\n", res.loss, res.grad);
}

/**
 * Streaming bandwidth on arrays of one field's size and on arrays far beyond the caches, in GB/s of
 * bytes read plus written: copy (b = a) and triad (a = b + s c), the best of reps passes.
 */
void run_bandwidth(int64_t n, int reps) {
  auto measure = [reps](size_t len) {
    std::vector<float> a(len, 1.0f), b(len, 2.0f), c(len, 3.0f);
    const float s = 0.5f;
    double copy = 0, triad = 0;
    for (int r = 0; r < reps; ++r) {
      auto t0 = clock_type::now();
      std::copy(a.begin(), a.end(), b.begin());
      copy = std::max(copy, 2.0 * 4 * len / (ms_since(t0) * 1e6));
      t0 = clock_type::now();
      for (size_t i = 0; i < len; ++i) a[i] = b[i] + s * c[i];
      triad = std::max(triad, 3.0 * 4 * len / (ms_since(t0) * 1e6));
    }
    // Keeps the loops from being optimised away.
    if (a[len / 2] == -1.0f) std::printf("#");
    return std::make_pair(copy, triad);
  };
  const auto field = measure(static_cast<size_t>(n * n));
  const auto dram = measure(size_t{64} << 20);  // 256 MiB per array
  std::printf("{\"fieldCopy\": %.3f, \"fieldTriad\": %.3f, \"dramCopy\": %.3f, \"dramTriad\": %.3f}\n", field.first,
              field.second, dram.first, dram.second);
}

int arg(char** argv, int k) { return std::atoi(argv[k]); }

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "time" && argc == 6) {
      at::set_num_threads(arg(argv, 5));
      run_problem(false, arg(argv, 2), arg(argv, 3), arg(argv, 4));
    } else if (mode == "memory" && argc == 5) {
      at::set_num_threads(arg(argv, 4));
      run_problem(true, arg(argv, 2), arg(argv, 3), 0);
    } else if (mode == "bandwidth" && argc == 4) {
      run_bandwidth(arg(argv, 2), arg(argv, 3));
    } else {
      std::fprintf(stderr,
                   "usage: heat2d_eager time N STEPS REPS THREADS | memory N STEPS THREADS | bandwidth N REPS\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heat2d_eager: %s\n", e.what());
    return 1;
  }
  return 0;
}
