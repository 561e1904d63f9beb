#include "fused_cuda_source.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "errors.h"
#include "fused_cuda.generated.h"

namespace nc {
namespace {

/** Each fused op as CUDA C, from the registry's formulas (FusedOp order). */
struct CudaForm {
  const char* value;
  const char* da;
  const char* db;  // empty for a unary op
};
constexpr CudaForm kCudaForms[] = {
#define NC_CUDA_FORM(id, value, da, db) {value, da, db},
    NC_FUSED_CUDA(NC_CUDA_FORM)
#undef NC_CUDA_FORM
};

/**
 * The functions the forms call, over T: CUDA's own math (the float forms for float, the 1 to 2 ulp
 * ones the CUDA math library documents), and pow with an exponent known at compile time chosen as
 * the CPU kernels choose it (x*x for 2, sqrt for 0.5, ...), so rounding stays close to libtorch's.
 */
std::string prelude(bool is_double) {
  const char* f = is_double ? "" : "f";
  std::ostringstream s;
  s << "typedef " << (is_double ? "double" : "float") << " T;\n";
  for (const char* fn : {"sqrt", "exp", "log", "sin", "cos", "tanh"})
    s << "__device__ __forceinline__ T nc_" << fn << "(T x) { return " << fn << f << "(x); }\n";
  s << "__device__ __forceinline__ T nc_abs(T x) { return fabs" << f << "(x); }\n"
    << "__device__ __forceinline__ T nc_sgn(T x) { return T((x > T(0)) - (x < T(0))); }\n"
    << "__device__ __forceinline__ T nc_sigmoid(T x) { return T(1) / (T(1) + nc_exp(-x)); }\n"
    << "__device__ __forceinline__ T nc_pow(T x, T e) {\n"
    << "  if (e == T(1)) return x;\n"
    << "  if (e == T(2)) return x * x;\n"
    << "  if (e == T(3)) return x * x * x;\n"
    << "  if (e == T(0.5)) return nc_sqrt(x);\n"
    << "  if (e == T(-1)) return T(1) / x;\n"
    << "  if (e == T(-2)) return T(1) / (x * x);\n"
    << "  return pow" << f << "(x, e);\n"
    << "}\n";
  return s.str();
}

/** A double as a C literal that reads back to the same value (non-finite ones as constant expressions). */
std::string literal(double v) {
  if (std::isnan(v)) return "(0.0 / 0.0)";
  if (std::isinf(v)) return v > 0 ? "(1.0 / 0.0)" : "(-1.0 / 0.0)";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/** A form with its placeholders replaced: %x %y the operands, %o the step's value, %g its adjoint, %e the exponent. */
std::string instantiate(const char* form, const FusedStep& st, int self) {
  std::string out;
  for (const char* p = form; *p; ++p) {
    if (*p != '%') {
      out += *p;
      continue;
    }
    switch (*++p) {
      case 'x':
        out += "v" + std::to_string(st.a);
        break;
      case 'y':
        out += "v" + std::to_string(st.b);
        break;
      case 'o':
        out += "v" + std::to_string(self);
        break;
      case 'g':
        out += "g" + std::to_string(self);
        break;
      case 'e':
        out += literal(st.exponent);
        break;
      default:
        throw Error(std::string("internal: unknown placeholder %") + *p + " in a CUDA form");
    }
  }
  return out;
}

const CudaForm& form_of(const FusedStep& st) { return kCudaForms[static_cast<int>(st.op)]; }
bool binary(const FusedStep& st) { return form_of(st).db[0] != '\0'; }

/** The kernel's leading parameters: the element count and the inputs. */
std::string input_params(int num_inputs) {
  std::string s = "long long n";
  for (int k = 0; k < num_inputs; ++k) s += ", const T* __restrict__ in" + std::to_string(k);
  return s;
}

/** The statements that load the inputs and compute every step's value for element i. */
std::string forward_values(const FusedProgram& p, const CudaSignature& sig) {
  std::ostringstream s;
  for (int k = 0; k < p.num_inputs; ++k)
    s << "    const T v" << k << " = in" << k << (sig.broadcast[k] ? "[0]" : "[i]") << ";\n";
  for (size_t j = 0; j < p.steps.size(); ++j) {
    const int self = p.num_inputs + static_cast<int>(j);
    s << "    const T v" << self << " = " << instantiate(form_of(p.steps[j]).value, p.steps[j], self) << ";\n";
  }
  return s.str();
}

const char* kLoop =
    "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;"
    " i += (long long)blockDim.x * gridDim.x) {\n";

std::string forward_kernel(const FusedProgram& p, const CudaSignature& sig) {
  std::ostringstream s;
  s << "extern \"C\" __global__ void " << kCudaForwardKernel << "(" << input_params(p.num_inputs)
    << ", T* __restrict__ out) {\n"
    << kLoop << forward_values(p, sig) << "    out[i] = v" << p.num_inputs + p.steps.size() - 1 << ";\n  }\n}\n";
  return s.str();
}

std::string backward_kernel(const FusedProgram& p, const CudaSignature& sig) {
  const int values = p.num_inputs + static_cast<int>(p.steps.size());
  // Adjoints only for the values a wanted input depends on.
  std::vector<char> reaches(sig.wanted.begin(), sig.wanted.end());
  for (const auto& st : p.steps) reaches.push_back(reaches[st.a] || (binary(st) && reaches[st.b]));
  std::ostringstream s;
  s << "extern \"C\" __global__ void " << kCudaBackwardKernel << "(" << input_params(p.num_inputs)
    << ", const T* __restrict__ grad_out";
  for (int k = 0; k < p.num_inputs; ++k)
    if (sig.wanted[k]) s << ", T* __restrict__ grad" << k;
  s << ") {\n";
  for (int k = 0; k < p.num_inputs; ++k)
    if (sig.wanted[k] && sig.broadcast[k]) s << "  T sum" << k << " = T(0);\n";
  s << kLoop << forward_values(p, sig);
  for (int v = 0; v < values - 1; ++v)
    if (reaches[v]) s << "    T g" << v << " = T(0);\n";
  s << "    const T g" << values - 1 << " = grad_out" << (sig.grad_broadcast ? "[0]" : "[i]") << ";\n";
  for (size_t j = p.steps.size(); j-- > 0;) {
    const FusedStep& st = p.steps[j];
    const int self = p.num_inputs + static_cast<int>(j);
    if (!reaches[self]) continue;
    if (reaches[st.a]) s << "    g" << st.a << " += " << instantiate(form_of(st).da, st, self) << ";\n";
    if (binary(st) && reaches[st.b]) s << "    g" << st.b << " += " << instantiate(form_of(st).db, st, self) << ";\n";
  }
  for (int k = 0; k < p.num_inputs; ++k) {
    if (!sig.wanted[k]) continue;
    if (sig.broadcast[k])
      s << "    sum" << k << " += g" << k << ";\n";
    else
      s << "    grad" << k << "[i] = g" << k << ";\n";
  }
  s << "  }\n";
  // A broadcast input's gradient: the block's partial sums halved in shared memory, one atomicAdd per block.
  bool shared = false;
  for (int k = 0; k < p.num_inputs; ++k) {
    if (!sig.wanted[k] || !sig.broadcast[k]) continue;
    if (!shared) s << "  __shared__ T partial[" << kCudaThreads << "];\n";
    shared = true;
    s << "  partial[threadIdx.x] = sum" << k << ";\n"
      << "  __syncthreads();\n"
      << "  for (int half = " << kCudaThreads / 2 << "; half > 0; half >>= 1) {\n"
      << "    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];\n"
      << "    __syncthreads();\n"
      << "  }\n"
      << "  if (threadIdx.x == 0) atomicAdd(grad" << k << ", partial[0]);\n"
      << "  __syncthreads();\n";
  }
  s << "}\n";
  return s.str();
}

}  // namespace

std::string fused_cuda_source(const FusedProgram& program, const CudaSignature& signature) {
  const size_t n = static_cast<size_t>(program.num_inputs);
  if (program.steps.empty() || signature.broadcast.size() != n ||
      (!signature.wanted.empty() && signature.wanted.size() != n))
    throw Error("internal: a CUDA signature needs one broadcast flag (and one wanted flag, if any) per input");
  std::ostringstream s;
  s << "// neural-compiler: a fused plan of " << program.steps.size() << " steps over " << n << " inputs\n"
    << prelude(signature.is_double) << forward_kernel(program, signature);
  bool any_wanted = false;
  for (char w : signature.wanted) any_wanted = any_wanted || w;
  if (any_wanted) s << backward_kernel(program, signature);
  return s.str();
}

}  // namespace nc
