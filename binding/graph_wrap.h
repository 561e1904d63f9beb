// NativeGraph: a compiled program's GraphModule, built once from the compiler's spec object.
#pragma once
#include <napi.h>

#include <memory>

#include "graph.h"

namespace ncb {

class NativeGraph : public Napi::ObjectWrap<NativeGraph> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new NativeGraph(spec, params: {name, tensor}[], dtype, device, callables?: NativeMlp[])
  explicit NativeGraph(const Napi::CallbackInfo& info);
  /** The module behind a JS NativeGraph, for other native features (integrators, training); throws a JS Error if
   * disposed. */
  static std::shared_ptr<nc::GraphModule> ModuleOf(const Napi::Value& v);

 private:
  std::shared_ptr<nc::GraphModule> module_;
  c10::ScalarType dtype_ = c10::kFloat;

  // forward(inputs: NativeTensor[], needGrad: boolean): NativeTensor
  Napi::Value Forward(const Napi::CallbackInfo& info);
  // valueAndSumGrad(inputs: TypedArray[], batched: boolean[], batch, out: TypedArray, wanted: boolean[]):
  //   {params, inputs: (NativeTensor | null)[]}, the value written to out; null when the program's
  //   result is not a fused node (nc::GraphModule::value_and_sum_grad). Typed arrays of the dtype.
  Napi::Value ValueAndSumGrad(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
};

}  // namespace ncb
