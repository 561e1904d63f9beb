#include "fused_cuda.h"

#include <ATen/ATen.h>

#include "errors.h"
#include "fused_cuda_source.h"

#if defined(NC_WITH_CUDA)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nvrtc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>
#endif

namespace nc {

bool cuda_fusable(c10::ArrayRef<at::Tensor> inputs) {
#if defined(NC_WITH_CUDA)
  return inputs[0].is_cuda() && kernel_operands(inputs);
#else
  return false;
#endif
}

#if !defined(NC_WITH_CUDA)

namespace {
[[noreturn]] void no_cuda() {
  throw Error(
      "this build of the addon has no CUDA: NVRTC and the fused CUDA kernels come with a CUDA libtorch "
      "(`NC_TORCH=cuda npm install`, or LIBTORCH=/path/to/a/cuda/libtorch npm run build)");
}
}  // namespace

at::Tensor cuda_fused_forward(const FusedProgram&, c10::ArrayRef<at::Tensor>) { no_cuda(); }
std::vector<at::Tensor> cuda_fused_backward(const FusedProgram&, c10::ArrayRef<at::Tensor>, const at::Tensor&,
                                            const std::vector<char>&) {
  no_cuda();
}
CudaPtx cuda_compile_ptx(const std::string&, int, const std::optional<std::string>&) { no_cuda(); }

#else

namespace {

// NVRTC and the driver API are reached through their own libraries, with the prototypes of NVIDIA's
// headers: libnvrtc is the one libtorch_cuda already loaded (RTLD_NOLOAD finds it), libcuda.so.1 comes
// with the driver and is needed only to launch. libtorch's at::cuda::NVRTC table is not used: its
// definition (ATenNVRTC.h) is not among the headers libtorch ships, and its loader needs the driver
// even to compile, so PTX could not be produced on a machine without a GPU.
/** A shared library opened once, whose functions are looked up by name with the type of their prototype. */
class Library {
 public:
  Library(const char* name, const char* purpose) : name_(name) {
    handle_ = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
    if (!handle_) handle_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw Error(std::string("cannot load ") + name + " (" + purpose + "): " + dlerror());
  }
  template <class F>
  void get(F& out, const char* symbol) const {
    void* p = dlsym(handle_, symbol);
    if (!p) throw Error(std::string(name_) + " has no " + symbol + ": is it older than CUDA 12?");
    out = reinterpret_cast<F>(p);
  }

 private:
  const char* name_;
  void* handle_;
};

struct Nvrtc {
  decltype(&nvrtcVersion) version;
  decltype(&nvrtcGetNumSupportedArchs) num_archs;
  decltype(&nvrtcGetSupportedArchs) archs;
  decltype(&nvrtcCreateProgram) create;
  decltype(&nvrtcCompileProgram) compile;
  decltype(&nvrtcGetProgramLogSize) log_size;
  decltype(&nvrtcGetProgramLog) log;
  decltype(&nvrtcGetPTXSize) ptx_size;
  decltype(&nvrtcGetPTX) ptx;
  decltype(&nvrtcDestroyProgram) destroy;
  decltype(&nvrtcGetErrorString) error_string;
};

const Nvrtc& nvrtc() {
  static const Nvrtc api = [] {
    const Library lib("libnvrtc.so.13", "NVRTC, the CUDA run-time compiler");
    Nvrtc a;
    lib.get(a.version, "nvrtcVersion");
    lib.get(a.num_archs, "nvrtcGetNumSupportedArchs");
    lib.get(a.archs, "nvrtcGetSupportedArchs");
    lib.get(a.create, "nvrtcCreateProgram");
    lib.get(a.compile, "nvrtcCompileProgram");
    lib.get(a.log_size, "nvrtcGetProgramLogSize");
    lib.get(a.log, "nvrtcGetProgramLog");
    lib.get(a.ptx_size, "nvrtcGetPTXSize");
    lib.get(a.ptx, "nvrtcGetPTX");
    lib.get(a.destroy, "nvrtcDestroyProgram");
    lib.get(a.error_string, "nvrtcGetErrorString");
    return a;
  }();
  return api;
}

struct Driver {
  decltype(&cuCtxGetCurrent) current_context;
  decltype(&cuModuleLoadData) load_module;
  decltype(&cuModuleGetFunction) get_function;
  decltype(&cuLaunchKernel) launch;
  decltype(&cuGetErrorString) error_string;
};

const Driver& driver() {
  static const Driver api = [] {
    const Library lib("libcuda.so.1", "the CUDA driver");
    Driver d;
    lib.get(d.current_context, "cuCtxGetCurrent");
    lib.get(d.load_module, "cuModuleLoadData");
    lib.get(d.get_function, "cuModuleGetFunction");
    lib.get(d.launch, "cuLaunchKernel");
    lib.get(d.error_string, "cuGetErrorString");
    return d;
  }();
  return api;
}

void check_nvrtc(nvrtcResult r, const char* what) {
  if (r != NVRTC_SUCCESS) throw Error(std::string("NVRTC ") + what + " failed: " + nvrtc().error_string(r));
}

void check_driver(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  const char* message = nullptr;
  driver().error_string(r, &message);
  throw Error(std::string("CUDA ") + what + " failed: " + (message ? message : "error " + std::to_string(r)));
}

void check_runtime(cudaError_t r, const char* what) {
  if (r != cudaSuccess) throw Error(std::string("CUDA ") + what + " failed: " + cudaGetErrorString(r));
}

int nvrtc_version() {
  int major = 0, minor = 0;
  check_nvrtc(nvrtc().version(&major, &minor), "version");
  return major * 1000 + minor * 10;
}

/** The newest architecture NVRTC compiles for that is not newer than `wanted` (0: the oldest it supports). */
int supported_arch(int wanted) {
  int count = 0;
  check_nvrtc(nvrtc().num_archs(&count), "architecture count");
  std::vector<int> archs(count);
  check_nvrtc(nvrtc().archs(archs.data()), "architecture list");
  if (archs.empty()) throw Error("NVRTC supports no architecture");
  std::sort(archs.begin(), archs.end());
  if (wanted == 0) return archs.front();
  int best = 0;
  for (int a : archs)
    if (a <= wanted) best = a;
  if (best == 0)
    throw Error("the GPU's architecture sm_" + std::to_string(wanted) + " is older than any this NVRTC supports (sm_" +
                std::to_string(archs.front()) + " and newer)");
  return best;
}

/** FNV-1a, 64 bits: stable across runs and machines, unlike std::hash, so it can name files on disk. */
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

/** Where compiled kernels are kept between runs: $NC_CUDA_CACHE ("off" disables), else the per-user cache. */
std::string default_cache_dir() {
  if (const char* dir = std::getenv("NC_CUDA_CACHE")) return dir;
  std::string base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"))
    base = xdg;
  else if (const char* home = std::getenv("HOME"))
    base = std::string(home) + "/.cache";
  else
    return "";
  return base + "/neural-compiler/cuda-kernels";
}

/** The PTX file of a source: the hash names it, and its first line repeats the whole key, checked on reading. */
struct DiskEntry {
  std::string path, key;
};

DiskEntry disk_entry(const std::string& dir, const std::string& source, const std::string& arch, int version) {
  if (dir.empty() || dir == "off") return {};
  char name[64];
  std::snprintf(name, sizeof name, "/%016llx-%s-%d.ptx", static_cast<unsigned long long>(fnv1a(source)), arch.c_str(),
                version);
  return {dir + name, "// nc-kernel " + std::to_string(source.size()) + " " + name};
}

std::string read_disk(const DiskEntry& e) {
  if (e.path.empty()) return "";
  std::ifstream in(e.path, std::ios::binary);
  std::string first;
  if (!in || !std::getline(in, first) || first != e.key) return "";
  std::stringstream rest;
  rest << in.rdbuf();
  return rest.str();
}

void write_disk(const DiskEntry& e, const std::string& ptx) {
  if (e.path.empty()) return;
  const std::string dir = e.path.substr(0, e.path.rfind('/'));
  // mkdir -p, quietly: a cache that cannot be written only costs a compile next time.
  for (size_t at = 1; at != std::string::npos; at = dir.find('/', at + 1)) mkdir(dir.substr(0, at).c_str(), 0755);
  mkdir(dir.c_str(), 0755);
  const std::string tmp = e.path + ".tmp" + std::to_string(getpid());
  std::ofstream out(tmp, std::ios::binary);
  out << e.key << '\n' << ptx;
  out.close();
  // Renamed whole into place, so a concurrent reader sees the old entry or the new one, never half.
  if (!out || std::rename(tmp.c_str(), e.path.c_str()) != 0) std::remove(tmp.c_str());
}

CudaPtx compile(const std::string& source, int arch) {
  CudaPtx r;
  r.nvrtc_version = nvrtc_version();
  r.architecture = "compute_" + std::to_string(supported_arch(arch));
  nvrtcProgram program = nullptr;
  check_nvrtc(nvrtc().create(&program, source.c_str(), "nc_fused.cu", 0, nullptr, nullptr), "program creation");
  const std::string arch_option = "--gpu-architecture=" + r.architecture;
  const char* options[] = {arch_option.c_str(), "--std=c++17"};
  const nvrtcResult compiled = nvrtc().compile(program, 2, options);
  size_t log_size = 0;
  nvrtc().log_size(program, &log_size);
  if (log_size > 1) {
    r.log.resize(log_size);
    nvrtc().log(program, r.log.data());
    r.log.resize(log_size - 1);
  }
  if (compiled == NVRTC_SUCCESS) {
    size_t size = 0;
    check_nvrtc(nvrtc().ptx_size(program, &size), "PTX size");
    r.ptx.resize(size);
    check_nvrtc(nvrtc().ptx(program, r.ptx.data()), "PTX");
    r.ptx.resize(size > 0 ? size - 1 : 0);  // the trailing NUL
  }
  nvrtc().destroy(&program);
  if (compiled != NVRTC_SUCCESS)
    throw Error("internal: NVRTC did not compile a fused plan (" + std::string(nvrtc().error_string(compiled)) +
                "):\n" + r.log + "\n" + source);
  return r;
}

/** The PTX of a source from the disk cache in `dir` ("off" or empty: none), else compiled by NVRTC and written there.
 */
CudaPtx cached_ptx(const std::string& source, int arch, const std::string& dir) {
  const int version = nvrtc_version();
  const std::string target = "compute_" + std::to_string(supported_arch(arch));
  const DiskEntry entry = disk_entry(dir, source, target, version);
  CudaPtx r;
  r.ptx = read_disk(entry);
  if (!r.ptx.empty()) {
    r.architecture = target;
    r.nvrtc_version = version;
    r.from_disk = true;
    return r;
  }
  r = compile(source, arch);
  write_disk(entry, r.ptx);
  return r;
}

int device_attribute(cudaDeviceAttr attribute, int device) {
  int value = 0;
  check_runtime(cudaDeviceGetAttribute(&value, attribute, device), "device query");
  return value;
}

/** The kernels of one plan and signature, loaded on one device, and how many blocks a launch there takes at most. */
struct Loaded {
  CUfunction forward = nullptr, backward = nullptr;
  int64_t max_blocks = 0;
};

/**
 * What a plan's source depends on, compactly: each step's op, operands and exponent, and the signature's
 * flags. The loaded kernels are found by it, so a launch never writes the source again.
 */
std::string plan_key(const FusedProgram& p, const CudaSignature& sig) {
  std::string key(sig.is_double ? "d" : "f");
  key += sig.grad_broadcast ? '1' : '0';
  for (size_t k = 0; k < sig.broadcast.size(); ++k)
    key += static_cast<char>('0' + sig.broadcast[k] + 2 * (k < sig.wanted.size() && sig.wanted[k]));
  for (const FusedStep& st : p.steps) {
    const int fields[3] = {static_cast<int>(st.op), st.a, st.b};
    key.append(reinterpret_cast<const char*>(fields), sizeof fields);
    key.append(reinterpret_cast<const char*>(&st.exponent), sizeof st.exponent);
  }
  return key;
}

/** The plan's kernels on `device`: compiled (or found in the disk cache) and loaded on the first launch there. */
const Loaded& kernels(const FusedProgram& program, const CudaSignature& sig, int device) {
  static std::mutex mutex;
  static std::map<std::pair<int, std::string>, Loaded> loaded;  // never unloaded: one per plan and device
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = plan_key(program, sig);
  auto found = loaded.find({device, key});
  if (found != loaded.end()) return found->second;
  const std::string source = fused_cuda_source(program, sig);
  // The runtime creates the device's primary context lazily; the driver API needs it current.
  CUcontext context = nullptr;
  check_driver(driver().current_context(&context), "context query");
  if (!context) check_runtime(cudaFree(nullptr), "context creation");
  const int arch = device_attribute(cudaDevAttrComputeCapabilityMajor, device) * 10 +
                   device_attribute(cudaDevAttrComputeCapabilityMinor, device);
  const std::string ptx = cached_ptx(source, arch, default_cache_dir()).ptx;
  CUmodule module = nullptr;
  check_driver(driver().load_module(&module, ptx.c_str()), "module load");
  Loaded k;
  check_driver(driver().get_function(&k.forward, module, kCudaForwardKernel), "kernel lookup");
  if (std::find(sig.wanted.begin(), sig.wanted.end(), 1) != sig.wanted.end())
    check_driver(driver().get_function(&k.backward, module, kCudaBackwardKernel), "kernel lookup");
  k.max_blocks = 32LL * device_attribute(cudaDevAttrMultiProcessorCount, device);  // the loops stride the rest
  return loaded.emplace(std::make_pair(device, key), k).first->second;
}

CudaSignature signature_of(c10::ArrayRef<at::Tensor> inputs, std::vector<char> wanted, bool grad_broadcast) {
  const int64_t n = full_numel(inputs);
  CudaSignature sig;
  sig.is_double = inputs[0].scalar_type() == at::kDouble;
  for (const auto& t : inputs) sig.broadcast.push_back(t.numel() != n);
  sig.wanted = std::move(wanted);
  sig.grad_broadcast = grad_broadcast;
  return sig;
}

/** Launches a kernel over n elements on the device's current stream; args are the kernel's parameters in order. */
void launch(CUfunction kernel, const Loaded& loaded, int device, int64_t n, std::vector<void*> pointers) {
  const int64_t wanted_blocks = (n + kCudaThreads - 1) / kCudaThreads;
  const unsigned blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min(wanted_blocks, loaded.max_blocks)));
  long long count = n;
  std::vector<void*> args{&count};
  for (void*& p : pointers) args.push_back(&p);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device).stream();
  check_driver(driver().launch(kernel, blocks, 1, 1, kCudaThreads, 1, 1, 0, stream, args.data(), nullptr),
               "kernel launch");
}

}  // namespace

at::Tensor cuda_fused_forward(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs) {
  const std::vector<at::Tensor> in = contiguous(inputs);
  const int device = in[0].get_device();
  const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  const int64_t n = full_numel(in);
  at::Tensor out = at::empty(full_sizes(in, n), in[0].options());
  const Loaded& k = kernels(program, signature_of(in, {}, false), device);
  std::vector<void*> pointers;
  for (const auto& t : in) pointers.push_back(t.data_ptr());
  pointers.push_back(out.data_ptr());
  launch(k.forward, k, device, n, pointers);
  return out;
}

std::vector<at::Tensor> cuda_fused_backward(const FusedProgram& program, c10::ArrayRef<at::Tensor> inputs,
                                            const at::Tensor& grad_out, const std::vector<char>& wanted) {
  const std::vector<at::Tensor> in = contiguous(inputs);
  const int device = in[0].get_device();
  const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  const int64_t n = full_numel(in);
  std::vector<at::Tensor> grads(in.size());
  if (std::none_of(wanted.begin(), wanted.end(), [](char w) { return w != 0; })) return grads;
  // The gradient of a sum is one value expanded: read at index 0, never materialised.
  const bool one_value = broadcast_value(grad_out);
  const at::Tensor g = one_value ? grad_out : grad_out.contiguous();
  const Loaded& k = kernels(program, signature_of(in, wanted, one_value && n > 1), device);
  std::vector<void*> pointers;
  for (const auto& t : in) pointers.push_back(t.data_ptr());
  pointers.push_back(g.data_ptr());
  for (size_t k = 0; k < in.size(); ++k) {
    if (!wanted[k]) continue;
    // A broadcast input's gradient is summed by atomicAdd into a zeroed element.
    grads[k] =
        in[k].numel() == n ? at::empty(in[k].sizes(), in[k].options()) : at::zeros(in[k].sizes(), in[k].options());
    pointers.push_back(grads[k].data_ptr());
  }
  launch(k.backward, k, device, n, pointers);
  return grads;
}

CudaPtx cuda_compile_ptx(const std::string& source, int arch, const std::optional<std::string>& cache_dir) {
  return cached_ptx(source, arch, cache_dir ? *cache_dir : default_cache_dir());
}

#endif

}  // namespace nc
