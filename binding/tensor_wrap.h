// NativeTensor: a JS object owning one at::Tensor. dispose() frees it at once; the finalizer is the
// safety net. Only tensors the user holds get one: graph intermediates never cross into JS.
#pragma once
#include <ATen/core/Tensor.h>
#include <napi.h>

namespace ncb {

/**
 * A typed array of a fresh CPU tensor's dtype over its memory, which the array keeps alive until it
 * is collected: a result handed to JS without a copy, on pages libtorch's caching allocator has
 * already faulted in (a new JS array's pages are faulted in as they are first written). A copy
 * where the runtime allows no external buffers (Electron's V8 sandbox). Only for tensors nothing
 * else writes to: the array sees every later change.
 */
Napi::TypedArray typed_array_over(Napi::Env env, const at::Tensor& t);

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
