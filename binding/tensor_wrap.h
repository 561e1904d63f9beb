// NativeTensor: a JS object owning one at::Tensor. dispose() frees it at once; the finalizer is the
// safety net. Only tensors the user holds get one: graph intermediates never cross into JS.
#pragma once
#include <ATen/core/Tensor.h>
#include <napi.h>

namespace ncb {

class NativeTensor : public Napi::ObjectWrap<NativeTensor> {
 public:
  static Napi::Function Define(Napi::Env env);
  /** Wraps a tensor in a new JS object. */
  static Napi::Object Wrap(Napi::Env env, at::Tensor t);
  /** The tensor behind a JS value; throws a JS Error when it is not a live NativeTensor. */
  static const at::Tensor& TensorOf(const Napi::Value& v);
  static bool Is(const Napi::Value& v);

  explicit NativeTensor(const Napi::CallbackInfo& info);
  ~NativeTensor() override;

 private:
  at::Tensor tensor_;
  int64_t accounted_bytes_ = 0;

  void Release();
  const at::Tensor& live() const;
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value ToTypedArray(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  // assign(values: NativeTensor): copies values of the same shape in, gradient history untouched (a
  //   parameter reset between fits); dtype and device are converted as copy_ does.
  Napi::Value Assign(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Reshape(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
};

}  // namespace ncb
