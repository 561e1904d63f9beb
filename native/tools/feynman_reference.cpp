// Hand-written eager libtorch versions of the 15 Feynman equations in examples/feynman, for
// tests/feynman-native.test.ts: the compiled modules must give the same float32 bits, values and
// gradients. Each equation is the program text transcribed op for op into ATen calls.
//
// Usage: feynman_reference EQUATION N NAME...
//   NAME...  the equation's params, then its inputs, in the order of the table below (checked, so
//            the caller and this table cannot drift apart)
//   stdin    float32 values in native byte order: one per param, then N per input, in NAME order
//   stdout   float32 values: the N outputs, then d(sum of outputs)/d(each NAME) in NAME order
//            (one value per param, N per input)
//
// Literal exponents are written as a person would, at::pow(x, 2.0) with a plain number: libtorch then
// computes x*x exactly. (A 0-dim tensor exponent takes the general pow, off by 1 ulp on about 1.7% of
// float32 inputs; the compiler passes literal exponents as numbers for that reason.)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using at::Tensor;

const at::TensorOptions kFloat32 = at::TensorOptions().dtype(at::kFloat);

/** A literal of the program, as the compiler passes it: a 0-dim float32 tensor. */
Tensor lit(double value) { return at::scalar_tensor(value, kFloat32); }

/** (pow x e) with a literal exponent; see the note at the top. */
Tensor pow_lit(const Tensor& x, double e) { return at::pow(x, e); }

struct Vars {
  std::map<std::string, Tensor> values;
  const Tensor& operator()(const std::string& name) const { return values.at(name); }
};

struct Equation {
  std::vector<std::string> params;
  std::vector<std::string> inputs;
  std::function<Tensor(const Vars&)> fn;
};

// Keyed by the example's file name without .neural; params and inputs as in each file's header.
const std::map<std::string, Equation> kEquations = {
    // (* h f)
    {"planck", {{"h"}, {"f"}, [](const Vars& v) { return at::mul(v("h"), v("f")); }}},
    // (* neg_k x)
    {"hooke", {{"neg_k"}, {"x"}, [](const Vars& v) { return at::mul(v("neg_k"), v("x")); }}},
    // (* alpha (* m (pow v 2)))
    {"kinetic_energy",
     {{"alpha"}, {"m", "v"}, [](const Vars& v) { return at::mul(v("alpha"), at::mul(v("m"), pow_lit(v("v"), 2))); }}},
    // (/ (* n (* kB T)) V)
    {"ideal_gas",
     {{"kB"},
      {"n", "T", "V"},
      [](const Vars& v) { return at::div(at::mul(v("n"), at::mul(v("kB"), v("T"))), v("V")); }}},
    // (/ (* G (* m1 m2)) (pow r 2))
    {"gravity",
     {{"G"},
      {"m1", "m2", "r"},
      [](const Vars& v) { return at::div(at::mul(v("G"), at::mul(v("m1"), v("m2"))), pow_lit(v("r"), 2)); }}},
    // (/ (* ke (* q1 q2)) (pow r 2))
    {"coulomb",
     {{"ke"},
      {"q1", "q2", "r"},
      [](const Vars& v) { return at::div(at::mul(v("ke"), at::mul(v("q1"), v("q2"))), pow_lit(v("r"), 2)); }}},
    // (* coeff (pow Ef 2))
    {"efield_energy", {{"coeff"}, {"Ef"}, [](const Vars& v) { return at::mul(v("coeff"), pow_lit(v("Ef"), 2)); }}},
    // (/ (* kappa (* (- T2 T1) A)) d)
    {"heat_conduction",
     {{"kappa"},
      {"T1", "T2", "A", "d"},
      [](const Vars& v) { return at::div(at::mul(v("kappa"), at::mul(at::sub(v("T2"), v("T1")), v("A"))), v("d")); }}},
    // (sqrt (/ (* gamma pr) rho))
    {"speed_of_sound",
     {{"gamma"},
      {"pr", "rho"},
      [](const Vars& v) { return at::sqrt(at::div(at::mul(v("gamma"), v("pr")), v("rho"))); }}},
    // (* two_pi (sqrt (/ L g)))
    {"pendulum_period",
     {{"two_pi", "g"}, {"L"}, [](const Vars& v) { return at::mul(v("two_pi"), at::sqrt(at::div(v("L"), v("g")))); }}},
    // (/ m0 (sqrt (- 1 (pow (/ v c) 2))))
    {"lorentz_factor",
     {{"c"},
      {"m0", "v"},
      [](const Vars& v) { return at::div(v("m0"), at::sqrt(at::sub(lit(1), pow_lit(at::div(v("v"), v("c")), 2)))); }}},
    // (/ (* m0 (pow c 2)) (sqrt (- 1 (pow (/ v c) 2))))
    {"relativistic_energy",
     {{"c"},
      {"m0", "v"},
      [](const Vars& v) {
        return at::div(at::mul(v("m0"), pow_lit(v("c"), 2)),
                       at::sqrt(at::sub(lit(1), pow_lit(at::div(v("v"), v("c")), 2))));
      }}},
    // (* A (sin (+ (* omega t) phi)))
    {"harmonic_oscillator",
     {{"A", "omega", "phi"},
      {"t"},
      [](const Vars& v) { return at::mul(v("A"), at::sin(at::add(at::mul(v("omega"), v("t")), v("phi")))); }}},
    // (/ (exp (- 0 (/ (pow x 2) (* 2 (pow sigma 2))))) (* (sqrt (* 2 pi)) sigma))
    // The compiler folds (* 2 pi) in float64 and rounds once to float32; 2 * float32(pi) here is the
    // same number, since doubling is exact. (std::sqrt(2 * M_PI) in double, then rounded, need not be.)
    {"gaussian",
     {{"sigma"},
      {"x"},
      [](const Vars& v) {
        Tensor exponent = at::sub(lit(0), at::div(pow_lit(v("x"), 2), at::mul(lit(2), pow_lit(v("sigma"), 2))));
        return at::div(at::exp(exponent), at::mul(at::sqrt(at::mul(lit(2), lit(M_PI))), v("sigma")));
      }}},
    // (* n0 (exp (/ (* (- 0 m) (* g x)) (* kB T))))
    // (- 0 m) as written; at::neg(m) would give the same bits (0 - m is exact) and the same gradient.
    {"barometric",
     {{"n0", "m", "g", "kB"},
      {"x", "T"},
      [](const Vars& v) {
        return at::mul(v("n0"), at::exp(at::div(at::mul(at::sub(lit(0), v("m")), at::mul(v("g"), v("x"))),
                                                at::mul(v("kB"), v("T")))));
      }}},
};

std::vector<float> read_stdin() {
  std::vector<float> data;
  float buffer[4096];
  size_t got;
  while ((got = std::fread(buffer, sizeof(float), 4096, stdin)) > 0) data.insert(data.end(), buffer, buffer + got);
  return data;
}

void write_floats(const Tensor& t) {
  Tensor c = t.detach().contiguous();
  std::fwrite(c.data_ptr<float>(), sizeof(float), static_cast<size_t>(c.numel()), stdout);
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : " ") + n;
  return s;
}

int run(std::vector<std::string> args) {
  if (args.size() < 2) throw std::invalid_argument("usage: feynman_reference EQUATION N NAME... < float32 data");
  auto it = kEquations.find(args[0]);
  if (it == kEquations.end()) throw std::invalid_argument("unknown equation '" + args[0] + "'");
  const Equation& eq = it->second;
  const int64_t n = std::stoll(args[1]);
  std::vector<std::string> names = eq.params;
  names.insert(names.end(), eq.inputs.begin(), eq.inputs.end());
  const std::vector<std::string> given(args.begin() + 2, args.end());
  if (given != names) throw std::invalid_argument(args[0] + " takes " + join(names) + ", got " + join(given));

  const std::vector<float> data = read_stdin();
  const size_t expected = eq.params.size() + static_cast<size_t>(n) * eq.inputs.size();
  if (data.size() != expected)
    throw std::invalid_argument("expected " + std::to_string(expected) + " float32 values on stdin, got " +
                                std::to_string(data.size()));

  // Leaves as the module sees them: 0-dim params, [N] inputs, all requiring gradients.
  Vars vars;
  float* next = const_cast<float*>(data.data());
  for (size_t i = 0; i < names.size(); ++i) {
    const bool param = i < eq.params.size();
    const std::vector<int64_t> shape = param ? std::vector<int64_t>{} : std::vector<int64_t>{n};
    vars.values[names[i]] = at::from_blob(next, shape, kFloat32).clone().set_requires_grad(true);
    next += param ? 1 : n;
  }

  Tensor out = eq.fn(vars);
  out.sum().backward();
  write_floats(out);
  for (const auto& name : names) write_floats(vars(name).grad());
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);  // as the addon does by default
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feynman_reference: %s\n", e.what());
    return 2;
  }
}
