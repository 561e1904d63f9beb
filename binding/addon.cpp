// Module entry: registers the tensor class and the free functions of the native API.
#include <ATen/core/Tensor.h>
#include <napi.h>

#include "addon_data.h"
#include "allocator.h"
#include "autograd_wrap.h"
#include "build_info.h"
#include "common.h"
#include "cuda_wrap.h"
#include "fit_wrap.h"
#include "graph_wrap.h"
#include "kernels.h"
#include "mlp_wrap.h"
#include "ode_wrap.h"
#include "optim_wrap.h"
#include "tape_wrap.h"
#include "tensor.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

nc::Shape checked_shape(const Napi::CallbackInfo& info, size_t i) { return shape_arg(info, i); }

// fromHost(data: Float32Array | Float64Array, shape, dtype, device)
Napi::Value FromHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "data must be a Float32Array or Float64Array");
    auto arr = info[0].As<Napi::TypedArray>();
    c10::ScalarType src;
    if (arr.TypedArrayType() == napi_float32_array)
      src = c10::kFloat;
    else if (arr.TypedArrayType() == napi_float64_array)
      src = c10::kDouble;
    else
      throw Napi::TypeError::New(env, "data must be a Float32Array or Float64Array");
    nc::Shape shape = checked_shape(info, 1);
    int64_t numel = 1;
    for (auto d : shape) numel *= d;
    if (static_cast<size_t>(numel) != arr.ElementLength())
      throw nc::Error("shape holds " + std::to_string(numel) + " elements but the data has " +
                      std::to_string(arr.ElementLength()));
    const auto* base = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    auto dtype = nc::parse_dtype(string_arg(info, 2, "dtype"));
    auto device = nc::parse_device(string_arg(info, 3, "device"));
    return NativeTensor::Wrap(env, nc::from_host(base, src, shape, dtype, device));
  });
}

// full(shape, value, dtype, device)
Napi::Value Full(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    return NativeTensor::Wrap(
        env, nc::full(checked_shape(info, 0), info[1].As<Napi::Number>().DoubleValue(),
                      nc::parse_dtype(string_arg(info, 2, "dtype")), nc::parse_device(string_arg(info, 3, "device"))));
  });
}

// randn(shape, seed | undefined, dtype, device)
Napi::Value Randn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::optional<uint64_t> seed;
    if (info[1].IsNumber()) seed = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    return NativeTensor::Wrap(env,
                              nc::randn(checked_shape(info, 0), seed, nc::parse_dtype(string_arg(info, 2, "dtype")),
                                        nc::parse_device(string_arg(info, 3, "device"))));
  });
}

// apply(op, tensors[], attrs?): one eager kernel from the shared table.
Napi::Value Apply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::string op = string_arg(info, 0, "op");
    auto arr = info[1].As<Napi::Array>();
    std::vector<at::Tensor> args;
    for (uint32_t i = 0; i < arr.Length(); ++i) args.push_back(NativeTensor::TensorOf(arr.Get(i)));
    return NativeTensor::Wrap(env, nc::apply_kernel(op, args, doubles_arg(info[2])));
  });
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) {
  auto names = nc::kernel_names();
  auto arr = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) arr.Set(static_cast<uint32_t>(i), names[i]);
  return arr;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    nc::set_num_threads(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  });
}

// setDevicePathsOnCpu(on): tests reach the device-agnostic paths of kernels with a CPU fast path.
Napi::Value SetDevicePathsOnCpu(const Napi::CallbackInfo& info) {
  nc::set_device_paths_on_cpu(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), nc::num_threads()); }
Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), nc::cuda_available());
}

// The caching CPU allocator's figures, or null when it is not installed.
Napi::Value CpuMemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto stats = nc::cpu_memory_stats();
  if (!stats) return env.Null();
  auto out = Napi::Object::New(env);
  out.Set("liveBytes", static_cast<double>(stats->live_bytes));
  out.Set("peakBytes", static_cast<double>(stats->peak_bytes));
  out.Set("cachedBytes", static_cast<double>(stats->cached_bytes));
  out.Set("cacheLimitBytes", static_cast<double>(stats->cache_limit_bytes));
  return out;
}

// buildInfo(): the libtorch the addon was built against and runs on, CUDA and threads (neuralc doctor).
Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto build = nc::build_info();
    auto out = Napi::Object::New(env);
    out.Set("compiledTorchVersion", build.compiled_torch_version);
    out.Set("loadedTorchVersion",
            build.loaded_torch_version.empty() ? env.Null() : Napi::String::New(env, build.loaded_torch_version));
    out.Set("libtorchPath", build.libtorch_path.empty() ? env.Null() : Napi::String::New(env, build.libtorch_path));
    out.Set("cudaBuilt", build.cuda_built);
    out.Set("cudaDevices", build.cuda_devices);
    out.Set("threads", build.threads);
    out.Set("ncclVersion", build.nccl_version.empty() ? env.Null() : Napi::String::New(env, build.nccl_version));
    return out;
  });
}

Napi::Value EmptyCpuCache(const Napi::CallbackInfo& info) {
  nc::empty_cpu_cache();
  return info.Env().Undefined();
}

Napi::Value ResetCpuPeak(const Napi::CallbackInfo& info) {
  nc::reset_cpu_peak();
  return info.Env().Undefined();
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  nc::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

Napi::Value CheckDevice(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), nc::device_name(nc::parse_device(string_arg(info, 0, "device"))));
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nc::init_runtime();
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function tensor = NativeTensor::Define(env);
  data->tensor_ctor = Napi::Persistent(tensor);
  exports.Set("NativeTensor", tensor);
  exports.Set("NativeGraph", NativeGraph::Define(env));
  exports.Set("NativeTape", NativeTape::Define(env));
  exports.Set("fromHost", Napi::Function::New<FromHost>(env));
  exports.Set("full", Napi::Function::New<Full>(env));
  exports.Set("randn", Napi::Function::New<Randn>(env));
  exports.Set("apply", Napi::Function::New<Apply>(env));
  exports.Set("kernelNames", Napi::Function::New<KernelNames>(env));
  exports.Set("setNumThreads", Napi::Function::New<SetNumThreads>(env));
  exports.Set("setDevicePathsOnCpu", Napi::Function::New<SetDevicePathsOnCpu>(env));
  exports.Set("getNumThreads", Napi::Function::New<GetNumThreads>(env));
  exports.Set("cudaAvailable", Napi::Function::New<CudaAvailable>(env));
  exports.Set("cpuMemoryStats", Napi::Function::New<CpuMemoryStats>(env));
  exports.Set("buildInfo", Napi::Function::New<BuildInfo>(env));
  exports.Set("emptyCpuCache", Napi::Function::New<EmptyCpuCache>(env));
  exports.Set("resetCpuPeak", Napi::Function::New<ResetCpuPeak>(env));
  exports.Set("manualSeed", Napi::Function::New<ManualSeed>(env));
  exports.Set("checkDevice", Napi::Function::New<CheckDevice>(env));
  RegisterOptim(env, exports);
  RegisterMlp(env, exports);
  RegisterOde(env, exports);
  RegisterFit(env, exports);
  RegisterAutograd(env, exports);
  RegisterCuda(env, exports);
  return exports;
}

}  // namespace ncb

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ncb::Init(env, exports); }
NODE_API_MODULE(neural_compiler, InitModule)
