#include "cuda_wrap.h"

#include "common.h"
#include "fields.h"
#include "fused_cuda.h"
#include "fused_cuda_source.h"
#include "spec_reader.h"

namespace ncb {
namespace {

Napi::Value FusedCudaSource(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const SpecReader in("fused CUDA plan");
    const Napi::Object o = in.object(info[0], "plan");
    nc::FusedProgram program;
    program.num_inputs = static_cast<int>(in.whole(o, "numInputs"));
    const Napi::Array steps = in.array(o, "steps");
    for (uint32_t i = 0; i < steps.Length(); ++i) {
      const Napi::Object step = in.object(steps.Get(i), "steps");
      program.steps.push_back(nc::fused_step(in.string(step, "op"), in.ints(step, "args"), in.doubles(step, "attrs")));
    }
    nc::CudaSignature signature;
    signature.is_double = in.string(o, "dtype") == "float64";
    const Fields flags{"fused CUDA plan"};
    signature.broadcast = flags.flags(o, "broadcast");
    signature.wanted = flags.flags(o, "wanted");
    signature.grad_broadcast = in.boolean(o, "gradBroadcast");
    return Napi::String::New(env, nc::fused_cuda_source(program, signature));
  });
}

Napi::Value CudaCompilePtx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::optional<std::string> cache_dir;
    if (info[2].IsString()) cache_dir = info[2].As<Napi::String>().Utf8Value();
    const nc::CudaPtx r = nc::cuda_compile_ptx(string_arg(info, 0, "source"),
                                               static_cast<int>(info[1].As<Napi::Number>().Int32Value()), cache_dir);
    auto out = Napi::Object::New(env);
    out.Set("ptx", r.ptx);
    out.Set("log", r.log);
    out.Set("architecture", r.architecture);
    out.Set("nvrtcVersion", r.nvrtc_version);
    out.Set("fromDisk", r.from_disk);
    return out;
  });
}

}  // namespace

void RegisterCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("fusedCudaSource", Napi::Function::New<FusedCudaSource>(env));
  exports.Set("cudaCompilePtx", Napi::Function::New<CudaCompilePtx>(env));
}

}  // namespace ncb
