// NativeTape: a program of the small-program tier (native/tape.h), built once from the compiler's
// tape spec, run on typed arrays the caller owns: no tensors, no allocation per call.
#pragma once
#include <ATen/core/Tensor.h>
#include <napi.h>

#include <memory>
#include <vector>

#include "tape.h"

namespace ncb {

class NativeTape : public Napi::ObjectWrap<NativeTape> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new NativeTape(spec: {numInputs, inputSizes, inputRanks, resultShape, numParams, consts, code, attrs, paths,
  //   results, batched, blockSizes, dense, loops, solves, calls, functions}, dtype) (src/compiler/tape.ts, TapeSpec)
  explicit NativeTape(const Napi::CallbackInfo& info);
  /** run, bind and forward: at most 64 inputs and params, within their per-call arrays. */
  void CheckIo() const;
  /** The program of a NativeTape object (fit runs it on its own thread). */
  static std::shared_ptr<const nc::TapeProgram> ProgramOf(const Napi::Value& v);

 private:
  std::shared_ptr<nc::TapeProgram> program_ = std::make_shared<nc::TapeProgram>();
  std::vector<bool> batched_;
  bool double_ = true;
  /** A typed array of the tape's dtype with at least n elements (a TypeError or RangeError naming `what` if not). */
  void* Elements(const Napi::Value& v, size_t n, const char* what) const;
  /** The single-sample buffers `bind` was given, kept alive here, and the params' tensors. */
  std::vector<Napi::ObjectReference> bound_;
  std::vector<void*> bound_inputs_;
  void* bound_out_ = nullptr;
  double* bound_param_grads_ = nullptr;
  std::vector<void*> bound_input_grads_;
  std::vector<at::Tensor> bound_params_;  // the scalar params, then the weight blocks
  /** The weight blocks' values, copied from their tensors at each call (T's bytes). */
  std::vector<char> bound_blocks_;

  // run(inputs: TypedArray[], batch, out: TypedArray, inputGrads: (TypedArray | null)[]): on the bound params,
  //     writes out (batch x result elements), the param gradients' sums (into the bound buffer) and the wanted
  //     input gradients (batch x its elements for a batched input, its elements for a shared one).
  Napi::Value Run(const Napi::CallbackInfo& info);
  template <class T>
  void RunTyped(const Napi::CallbackInfo& info);
  // bind(inputs: TypedArray[] (one value each), params: NativeTensor[], out: TypedArray, paramGrads: Float64Array,
  //      inputGrads: TypedArray[] (one value each)): the buffers of the single-sample hot path. params: the scalar
  //      params, then the weight blocks; paramGrads: one sum per scalar param, then one per block element.
  Napi::Value Bind(const Napi::CallbackInfo& info);
  // runBound(wanted: number): one sample from the bound inputs into the bound out and param gradients, and
  //   the gradients of the inputs whose bits are set in `wanted`.
  Napi::Value RunBound(const Napi::CallbackInfo& info);
  // forward(inputs: NativeTensor[], record: boolean): NativeTensor, on the bound params; recorded, its
  //   grad_fn runs the reverse program (module.forward on small batches).
  Napi::Value Forward(const Napi::CallbackInfo& info);
  template <class T>
  void RunBoundTyped(uint64_t wanted);
  /** The bound params' current values into `values`, with the bound param gradients zeroed. */
  template <class T>
  const T* BoundParams(T* values) const;
  /** The bound weight blocks' current values, block after block. */
  template <class T>
  const T* BoundBlocks();
};

}  // namespace ncb
