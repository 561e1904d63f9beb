// The hand-written eager libtorch anchor of `npm run bench` (scripts/bench.js): the benchmark
// programs written as a person would with ATen calls, float32, timed inside this process (start-up
// excluded) with warm-up and medians, on the thread count given.
//
// Usage: bench_eager MIN_MS THREADS PROGRAM:BATCH[:params]...
//   PROGRAM  a name below, or chainN (the generated chain of N ops, see scripts/bench/programs.js)
//   stdout   per job {"program", "batch", "grad", "forward": us, "backward": us, "reps": [n, n]}: medians
//            in microseconds; backward is forward plus out.sum().backward(), every input and param
//            requiring a gradient (gradients accumulate, as they do on the other sides), or with
//            ":params" (grad "params") only the params
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using at::Tensor;
using Fn = std::function<Tensor(const std::vector<Tensor>& in, const std::vector<Tensor>& p)>;

struct Input {
  std::vector<int64_t> sample;  // per-sample shape
  double lo, hi;
  bool batched = true;
};

struct Program {
  std::vector<Input> inputs;
  std::vector<double> params;
  Fn fn;
};

// The same programs as scripts/bench/programs.js (inputs, ranges and params in the same order).
const std::map<std::string, Program>& programs() {
  static const std::map<std::string, Program> p = {
      // (/ (* G (* m1 m2)) (pow r 2))
      {"gravity",
       {{{{}, 1e3, 1e6}, {{}, 1e3, 1e6}, {{}, 1, 100}},
        {6.674e-11},
        [](auto& in, auto& p) { return p[0] * (in[0] * in[1]) / at::pow(in[2], 2); }}},
      // (/ (* m0 (pow c 2)) (sqrt (- 1 (pow (/ v c) 2))))
      {"relativistic_energy",
       {{{{}, 1, 10}, {{}, 1e7, 2e8}},
        {2.99792458e8},
        [](auto& in, auto& p) { return in[0] * at::pow(p[0], 2) / at::sqrt(1 - at::pow(in[1] / p[0], 2)); }}},
      // (* n0 (exp (/ (* (- 0 m) (* g x)) (* kB T))))
      {"barometric",
       {{{{}, 0, 1e4}, {{}, 200, 300}},
        {2.5e25, 4.8e-26, 9.81, 1.380649e-23},
        [](auto& in, auto& p) { return p[0] * at::exp((0 - p[1]) * (p[2] * in[0]) / (p[3] * in[1])); }}},
      // (/ (exp (- 0 (/ (pow x 2) (* 2 (pow sigma 2))))) (* (sqrt (* 2 pi)) sigma))
      {"gaussian",
       {{{{}, -3, 3}},
        {1.0},
        [](auto& in, auto& p) {
          return at::exp(0 - at::pow(in[0], 2) / (2 * at::pow(p[0], 2))) / (std::sqrt(2 * M_PI) * p[0]);
        }}},
      // (* A (sin (+ (* omega t) phi)))
      {"harmonic_oscillator",
       {{{{}, 0, 10}}, {1.5, 2.0, 0.3}, [](auto& in, auto& p) { return p[0] * at::sin(p[1] * in[0] + p[2]); }}},
      // x -> x+1 -> x*x -> sin -> 2x -> exp -> 0-x -> x*(x*x): composition of examples/composition
      {"composition",
       {{{{}, -1, 1}},
        {},
        [](auto& in, auto&) {
          Tensor v = at::sin((in[0] + 1) * (in[0] + 1));
          v = 0 - at::exp(2 * v);
          return v * (v * v);
        }}},
      // (+ u (scale (* dt alpha) (matvec L u))), u [B, 8], L [8, 8] and dt unbatched
      {"heat_step",
       {{{{8}, 0, 1}, {{8, 8}, -1, 1, false}, {{}, 1e-3, 1e-2, false}},
        {0.5},
        [](auto& in, auto& p) { return in[0] + (in[2] * p[0]) * at::matmul(in[1], in[0].unsqueeze(-1)).squeeze(-1); }}},
      // (scale (- 0 (/ (* G (* m1 m2)) (pow (norm r) 3))) r), r [B, 3]
      {"gravity_3d",
       {{{{3}, 1, 10}, {{}, 1e3, 1e6}, {{}, 1e3, 1e6}},
        {6.674e-11},
        [](auto& in, auto& p) {
          Tensor f = 0 - p[0] * (in[1] * in[2]) / at::pow(at::linalg_vector_norm(in[0], 2, {-1}), 3);
          return f.unsqueeze(-1) * in[0];
        }}},
  };
  return p;
}

// chainN: v = x, then op k of N: sin v, a*v, v+x, v*v in turn (scripts/bench/programs.js writes the same).
Program chain(int n) {
  return {{{{}, 0, 1}}, {1.1}, [n](auto& in, auto& p) {
            Tensor v = in[0];
            for (int k = 0; k < n; ++k) {
              switch (k % 4) {
                case 0:
                  v = at::sin(v);
                  break;
                case 1:
                  v = p[0] * v;
                  break;
                case 2:
                  v = v + in[0];
                  break;
                default:
                  v = v * v;
                  break;
              }
            }
            return v;
          }};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/** Median microseconds of f, after warm-up, over at least 5 repetitions and about min_ms of running. */
std::pair<double, size_t> time_us(const std::function<void()>& f, double min_ms) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> samples;
  const auto start = clock::now();
  while (samples.size() < 5 || (std::chrono::duration<double, std::milli>(clock::now() - start).count() < min_ms &&
                                samples.size() < 100000)) {
    const auto t0 = clock::now();
    f();
    samples.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
  }
  return {median(samples), samples.size()};
}

/** Times one program at one batch size and prints its JSON line. */
void run(const std::string& name, int64_t batch, const std::string& grad, double min_ms) {
  Program prog;
  if (name.rfind("chain", 0) == 0) {
    prog = chain(std::atoi(name.c_str() + 5));
  } else {
    auto it = programs().find(name);
    if (it == programs().end()) throw std::runtime_error("unknown program '" + name + "'");
    prog = it->second;
  }
  at::manual_seed(1);
  std::vector<Tensor> in, params;
  for (const auto& i : prog.inputs) {
    std::vector<int64_t> shape;
    if (i.batched) shape.push_back(batch);
    shape.insert(shape.end(), i.sample.begin(), i.sample.end());
    in.push_back((at::rand(shape, at::kFloat) * (i.hi - i.lo) + i.lo).set_requires_grad(grad == "all"));
  }
  for (double v : prog.params) params.push_back(at::scalar_tensor(v, at::kFloat).set_requires_grad(true));

  const auto fwd = time_us(
      [&] {
        at::NoGradGuard no_grad;
        prog.fn(in, params);
      },
      min_ms);
  const auto bwd = time_us([&] { prog.fn(in, params).sum().backward(); }, min_ms);
  std::printf(
      "{\"program\": \"%s\", \"batch\": %lld, \"grad\": \"%s\", \"forward\": %.4f, \"backward\": %.4f, "
      "\"reps\": [%zu, %zu]}\n",
      name.c_str(), static_cast<long long>(batch), grad.c_str(), fwd.first, bwd.first, fwd.second, bwd.second);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_eager MIN_MS THREADS PROGRAM:BATCH[:params]...\n");
    return 2;
  }
  const double min_ms = std::atof(argv[1]);
  at::set_num_threads(std::atoi(argv[2]));
  try {
    for (int k = 3; k < argc; ++k) {
      const std::string job = argv[k];
      const size_t colon = job.find(':');
      if (colon == std::string::npos) throw std::runtime_error("expected PROGRAM:BATCH[:params], got '" + job + "'");
      const size_t second = job.find(':', colon + 1);
      const std::string grad = second == std::string::npos ? "all" : job.substr(second + 1);
      if (grad != "all" && grad != "params")
        throw std::runtime_error("expected ':params' after the batch in '" + job + "'");
      run(job.substr(0, colon), std::atoll(job.c_str() + colon + 1), grad, min_ms);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_eager: %s\n", e.what());
    return 1;
  }
  return 0;
}
