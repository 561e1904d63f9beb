#include "mlp_wrap.h"

#include <optional>
#include <vector>

#include "common.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

// Marks objects made by NativeMlp's constructor, so MlpOf never unwraps some other native object.
constexpr napi_type_tag kMlpTag = {0x6e63ad6d6c70ULL, 0x8b1f3c5a9e7d2401ULL};

class NativeMlp : public Napi::ObjectWrap<NativeMlp> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeMlp",
                       {
                           InstanceMethod<&NativeMlp::Forward>("forward"),
                           InstanceMethod<&NativeMlp::Call>("call"),
                           InstanceMethod<&NativeMlp::Parameters>("parameters"),
                           InstanceMethod<&NativeMlp::Dispose>("dispose"),
                           InstanceMethod<&NativeMlp::IsDisposed>("isDisposed"),
                       });
  }

  // NativeMlp(sizes, activation, seed | undefined, dtype, device); the TS layer has checked each.
  explicit NativeMlp(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMlp>(info) {
    Napi::Env env = info.Env();
    guard(env, [&] {
      std::optional<uint64_t> seed;
      if (info[2].IsNumber())
        seed = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
      else if (!info[2].IsUndefined())
        throw Napi::TypeError::New(env, "the MLP seed must be a number or undefined");
      mlp_ = std::make_shared<nc::Mlp>(shape_arg(info, 0), nc::parse_activation(string_arg(info, 1, "activation")),
                                       seed, nc::parse_dtype(string_arg(info, 3, "dtype")),
                                       nc::parse_device(string_arg(info, 4, "device")));
    });
    info.This().As<Napi::Object>().TypeTag(&kMlpTag);
  }

  std::shared_ptr<nc::Mlp> live() const {
    if (!mlp_) throw Napi::Error::New(Env(), "this MLP has been disposed and cannot be used any more");
    return mlp_;
  }

 private:
  std::shared_ptr<nc::Mlp> mlp_;

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      return NativeTensor::Wrap(info.Env(), live()->forward(NativeTensor::TensorOf(info[0])));
    });
  }

  // call(args: NativeTensor[], batched: boolean[]): the nc::Callable entry, for tests and eager use.
  Napi::Value Call(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (!info[0].IsArray() || !info[1].IsArray())
        throw Napi::TypeError::New(env, "call takes an array of Tensors and an array of booleans");
      auto arr = info[0].As<Napi::Array>();
      auto flags = info[1].As<Napi::Array>();
      std::vector<at::Tensor> args;
      std::vector<bool> batched;
      for (uint32_t i = 0; i < arr.Length(); ++i) args.push_back(NativeTensor::TensorOf(arr.Get(i)));
      for (uint32_t i = 0; i < flags.Length(); ++i) {
        Napi::Value f = flags.Get(i);
        if (!f.IsBoolean()) throw Napi::TypeError::New(env, "call: every batching flag must be a boolean");
        batched.push_back(f.As<Napi::Boolean>().Value());
      }
      return NativeTensor::Wrap(env, live()->call(args, batched));
    });
  }

  // parameters() -> [{ name, tensor }]: handles sharing storage and autograd state with the MLP's own.
  Napi::Value Parameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto params = live()->named_parameters();
      auto arr = Napi::Array::New(env, params.size());
      for (size_t i = 0; i < params.size(); ++i) {
        auto entry = Napi::Object::New(env);
        entry.Set("name", params[i].first);
        entry.Set("tensor", NativeTensor::Wrap(env, params[i].second));
        arr.Set(static_cast<uint32_t>(i), entry);
      }
      return arr;
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    mlp_.reset();
    return info.Env().Undefined();
  }

  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !mlp_); }
};

// assignValues(dst, src): dst's values become src's, in place and outside autograd.
Napi::Value AssignValues(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    nc::assign_values(NativeTensor::TensorOf(info[0]), NativeTensor::TensorOf(info[1]));
    return info.Env().Undefined();
  });
}

}  // namespace

std::shared_ptr<nc::Mlp> MlpOf(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kMlpTag))
    throw Napi::TypeError::New(v.Env(), "expected an MLP");
  return Napi::ObjectWrap<NativeMlp>::Unwrap(v.As<Napi::Object>())->live();
}

void RegisterMlp(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeMlp", NativeMlp::Define(env));
  exports.Set("assignValues", Napi::Function::New<AssignValues>(env));
}

}  // namespace ncb
