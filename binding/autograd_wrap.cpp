#include "autograd_wrap.h"

#include <vector>

#include "autograd.h"
#include "common.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

// grad(outputs, inputs[], gradOutputs | undefined, createGraph) -> Tensor[]
Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "inputs must be an array of Tensors");
    auto arr = info[1].As<Napi::Array>();
    std::vector<at::Tensor> inputs;
    for (uint32_t i = 0; i < arr.Length(); ++i) inputs.push_back(NativeTensor::TensorOf(arr.Get(i)));
    at::Tensor seed = info[2].IsUndefined() ? at::Tensor() : NativeTensor::TensorOf(info[2]);
    auto grads = nc::grad(NativeTensor::TensorOf(info[0]), inputs, seed, info[3].ToBoolean().Value());
    auto out = Napi::Array::New(env, grads.size());
    for (size_t i = 0; i < grads.size(); ++i) out.Set(static_cast<uint32_t>(i), NativeTensor::Wrap(env, grads[i]));
    return out;
  });
}

}  // namespace

void RegisterAutograd(Napi::Env env, Napi::Object exports) { exports.Set("grad", Napi::Function::New<Grad>(env)); }

}  // namespace ncb
