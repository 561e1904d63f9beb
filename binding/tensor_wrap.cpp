#include "tensor_wrap.h"

#include <ATen/Functions.h>
#include <torch/csrc/autograd/variable.h>

#include "addon_data.h"
#include "autograd.h"
#include "common.h"

namespace ncb {

Napi::Function NativeTensor::Define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceMethod<&NativeTensor::Shape>("shape"),
                         InstanceMethod<&NativeTensor::Dtype>("dtype"),
                         InstanceMethod<&NativeTensor::Device>("device"),
                         InstanceMethod<&NativeTensor::ToTypedArray>("toTypedArray"),
                         InstanceMethod<&NativeTensor::Item>("item"),
                         InstanceMethod<&NativeTensor::RequiresGrad>("requiresGrad"),
                         InstanceMethod<&NativeTensor::SetRequiresGrad>("setRequiresGrad"),
                         InstanceMethod<&NativeTensor::Backward>("backward"),
                         InstanceMethod<&NativeTensor::Grad>("grad"),
                         InstanceMethod<&NativeTensor::ZeroGrad>("zeroGrad"),
                         InstanceMethod<&NativeTensor::Detach>("detach"),
                         InstanceMethod<&NativeTensor::Assign>("assign"),
                         InstanceMethod<&NativeTensor::To>("to"),
                         InstanceMethod<&NativeTensor::Reshape>("reshape"),
                         InstanceMethod<&NativeTensor::Dispose>("dispose"),
                         InstanceMethod<&NativeTensor::IsDisposed>("isDisposed"),
                     });
}

// The constructor takes its tensor from here: cheaper than an External per tensor, and JS code
// cannot construct a NativeTensor by itself.
static thread_local at::Tensor* pending = nullptr;

Napi::Object NativeTensor::Wrap(Napi::Env env, at::Tensor t) {
  pending = &t;
  Napi::Object obj = AddonData::Of(env).tensor_ctor.New({});
  pending = nullptr;
  return obj;
}

bool NativeTensor::Is(const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(AddonData::Of(v.Env()).tensor_ctor.Value());
}

const at::Tensor& NativeTensor::TensorOf(const Napi::Value& v) {
  if (!Is(v)) throw Napi::TypeError::New(v.Env(), "expected a Tensor");
  return Napi::ObjectWrap<NativeTensor>::Unwrap(v.As<Napi::Object>())->live();
}

NativeTensor::NativeTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTensor>(info) {
  if (pending == nullptr)
    throw Napi::TypeError::New(info.Env(), "NativeTensor cannot be constructed from JS; use the tensor factories");
  tensor_ = std::move(*pending);
  pending = nullptr;
  // Tell V8 how much memory this object keeps alive, so the GC runs finalizers in time.
  accounted_bytes_ = tensor_.defined() ? static_cast<int64_t>(tensor_.nbytes()) : 0;
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), accounted_bytes_);
}

NativeTensor::~NativeTensor() { tensor_.reset(); }

const at::Tensor& NativeTensor::live() const {
  if (!tensor_.defined()) throw Napi::Error::New(Env(), "this Tensor has been disposed and cannot be used any more");
  return tensor_;
}

void NativeTensor::Release() {
  if (!tensor_.defined()) return;
  tensor_.reset();
  Napi::MemoryManagement::AdjustExternalMemory(Env(), -accounted_bytes_);
  accounted_bytes_ = 0;
}

Napi::Value NativeTensor::Shape(const Napi::CallbackInfo& info) {
  const auto& t = live();
  auto arr = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); ++i)
    arr.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
  return arr;
}

Napi::Value NativeTensor::Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), nc::dtype_name(live().scalar_type()));
}

Napi::Value NativeTensor::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), nc::device_name(live().device()));
}

Napi::Value NativeTensor::ToTypedArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    at::Tensor host = nc::to_host(live());
    const size_t n = static_cast<size_t>(host.numel());
    if (host.scalar_type() == c10::kDouble) {
      auto out = Napi::Float64Array::New(env, n);
      std::memcpy(out.Data(), host.data_ptr<double>(), n * sizeof(double));
      return out;
    }
    host = host.to(c10::kFloat);
    auto out = Napi::Float32Array::New(env, n);
    std::memcpy(out.Data(), host.data_ptr<float>(), n * sizeof(float));
    return out;
  });
}

Napi::Value NativeTensor::Item(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto& t = live();
    if (t.numel() != 1)
      throw nc::Error("item() needs a tensor with exactly one element, this one has " + std::to_string(t.numel()));
    return Napi::Number::New(info.Env(), t.item<double>());
  });
}

Napi::Value NativeTensor::RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), live().requires_grad());
}

Napi::Value NativeTensor::SetRequiresGrad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    at::Tensor t = live();
    if (!t.is_leaf())
      throw nc::Error(
          "requiresGrad can only be set on a leaf tensor (one not computed from others); use detach() first");
    t.set_requires_grad(info[0].ToBoolean().Value());
    return info.Env().Undefined();
  });
}

Napi::Value NativeTensor::Backward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto& t = live();
    if (!t.requires_grad())
      throw nc::Error(
          "backward() on a tensor that does not require a gradient: nothing it depends on has requiresGrad set");
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      nc::backward(t, TensorOf(info[0]));
    } else {
      if (t.numel() != 1)
        throw nc::Error(
            "backward() without a gradient needs a single-element tensor (reduce it first, e.g. sum()), this one has " +
            std::to_string(t.numel()) + " elements");
      nc::backward(t, at::Tensor());
    }
    return info.Env().Undefined();
  });
}

Napi::Value NativeTensor::Grad(const Napi::CallbackInfo& info) {
  const auto& g = live().grad();
  if (!g.defined()) return info.Env().Undefined();
  return Wrap(info.Env(), g.detach().clone());
}

Napi::Value NativeTensor::ZeroGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = live();
  t.mutable_grad().reset();
  return info.Env().Undefined();
}

Napi::Value NativeTensor::Detach(const Napi::CallbackInfo& info) { return Wrap(info.Env(), live().detach()); }

Napi::Value NativeTensor::Assign(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    at::Tensor t = live();
    const at::Tensor values = TensorOf(info[0]);
    if (!values.sizes().equals(t.sizes()))
      throw nc::Error("assign: values of shape " + c10::str(values.sizes()) + " into a tensor of shape " +
                      c10::str(t.sizes()));
    at::NoGradGuard no_grad;
    t.copy_(values);
    return info.Env().Undefined();
  });
}

Napi::Value NativeTensor::To(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto dtype = nc::parse_dtype(string_arg(info, 0, "dtype"));
    auto device = nc::parse_device(string_arg(info, 1, "device"));
    return Wrap(info.Env(), live().to(device, dtype));
  });
}

// The element count was checked in TS; a view where libtorch can make one, as torch.reshape.
Napi::Value NativeTensor::Reshape(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Wrap(info.Env(), live().reshape(shape_arg(info, 0))); });
}

Napi::Value NativeTensor::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value NativeTensor::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.defined());
}

}  // namespace ncb
