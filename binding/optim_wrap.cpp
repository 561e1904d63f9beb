#include "optim_wrap.h"

#include <memory>
#include <vector>

#include "common.h"
#include "optim.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

std::vector<at::Tensor> tensors_arg(const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "parameters must be an array of Tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(NativeTensor::TensorOf(arr.Get(i)));
  return out;
}

// The TS layer fills in every default, so each field read here must be present.
double number_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("optimizer option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool bool_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean())
    throw Napi::TypeError::New(o.Env(), std::string("optimizer option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

int64_t whole_field(const Napi::Object& o, const char* key) {
  double v = number_field(o, key);
  if (!(v >= 1 && v <= 1e9) || v != static_cast<double>(static_cast<int64_t>(v)))
    throw Napi::RangeError::New(o.Env(),
                                std::string("optimizer option ") + key + " must be a whole number from 1 to 1e9");
  return static_cast<int64_t>(v);
}

nc::AdamConfig adam_config(const Napi::Object& o, bool decoupled) {
  return {number_field(o, "lr"),  number_field(o, "beta1"),       number_field(o, "beta2"),
          number_field(o, "eps"), number_field(o, "weightDecay"), decoupled};
}

nc::SgdConfig sgd_config(const Napi::Object& o) {
  return {number_field(o, "lr"), number_field(o, "momentum"), number_field(o, "weightDecay"),
          bool_field(o, "nesterov")};
}

nc::LbfgsConfig lbfgs_config(const Napi::Object& o) {
  nc::LbfgsConfig c{number_field(o, "lr"), whole_field(o, "maxIter"), whole_field(o, "historySize"), std::nullopt};
  Napi::Value search = o.Get("lineSearch");
  if (search.IsString())
    c.line_search = search.As<Napi::String>().Utf8Value();
  else if (!search.IsNull())
    throw Napi::TypeError::New(o.Env(), "optimizer option lineSearch must be a string or null");
  return c;
}

std::unique_ptr<nc::Optimizer> make_optimizer(const std::string& kind, std::vector<at::Tensor> params,
                                              const Napi::Object& o) {
  if (kind == "adam" || kind == "adamw") return nc::Optimizer::adam(std::move(params), adam_config(o, kind == "adamw"));
  if (kind == "sgd") return nc::Optimizer::sgd(std::move(params), sgd_config(o));
  if (kind == "lbfgs") return nc::Optimizer::lbfgs(std::move(params), lbfgs_config(o));
  throw nc::Error("unknown optimizer '" + kind + "' (expected adam, adamw, sgd or lbfgs)");
}

// Set for the duration of a step, cleared even when the closure throws.
struct SteppingFlag {
  bool& flag;
  explicit SteppingFlag(bool& f) : flag(f) { flag = true; }
  ~SteppingFlag() { flag = false; }
};

// NativeOptimizer(kind, params, options): owns one nc::Optimizer until dispose() or GC.
class NativeOptimizer : public Napi::ObjectWrap<NativeOptimizer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeOptimizer",
                       {
                           InstanceMethod<&NativeOptimizer::Step>("step"),
                           InstanceMethod<&NativeOptimizer::ZeroGrad>("zeroGrad"),
                           InstanceMethod<&NativeOptimizer::GetLr>("getLr"),
                           InstanceMethod<&NativeOptimizer::SetLr>("setLr"),
                           InstanceMethod<&NativeOptimizer::Dispose>("dispose"),
                           InstanceMethod<&NativeOptimizer::IsDisposed>("isDisposed"),
                       });
  }

  explicit NativeOptimizer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeOptimizer>(info) {
    Napi::Env env = info.Env();
    guard(env, [&] {
      std::string kind = string_arg(info, 0, "optimizer kind");
      if (!info[2].IsObject()) throw Napi::TypeError::New(env, "optimizer options must be an object");
      opt_ = make_optimizer(kind, tensors_arg(info[1]), info[2].As<Napi::Object>());
    });
  }

 private:
  std::unique_ptr<nc::Optimizer> opt_;
  // The closure runs JS in the middle of a step; that JS must not free or re-enter the optimizer.
  bool stepping_ = false;

  nc::Optimizer& live() {
    if (!opt_) throw Napi::Error::New(Env(), "this optimizer has been disposed and cannot be used any more");
    return *opt_;
  }

  void check_not_stepping(const char* what) {
    if (stepping_)
      throw Napi::Error::New(Env(), std::string("cannot ") + what + " while this optimizer's step() is running");
  }

  // step(closure?): returns the (detached) loss of the closure's first evaluation, or undefined.
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      nc::Optimizer& opt = live();
      check_not_stepping("call step()");
      nc::LossClosure closure;
      if (info[0].IsFunction()) {
        Napi::Function fn = info[0].As<Napi::Function>();
        closure = [env, fn]() -> at::Tensor {
          Napi::HandleScope scope(env);
          return NativeTensor::TensorOf(fn.Call({}));
        };
      } else if (!info[0].IsUndefined()) {
        throw Napi::TypeError::New(env, "step() takes an optional closure function");
      }
      at::Tensor loss;
      {
        SteppingFlag flag(stepping_);
        loss = opt.step(closure);
      }
      if (!loss.defined()) return env.Undefined();
      return NativeTensor::Wrap(env, loss.detach());
    });
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      live().zero_grad();
      return info.Env().Undefined();
    });
  }

  Napi::Value GetLr(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), live().lr()); });
  }

  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "the learning rate must be a number");
      live().set_lr(info[0].As<Napi::Number>().DoubleValue());
      return info.Env().Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    check_not_stepping("dispose the optimizer");
    opt_.reset();
    return info.Env().Undefined();
  }

  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !opt_); }
};

// clipGradNorm(params, maxNorm, normType) -> the norm before clipping.
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[1].IsNumber() || !info[2].IsNumber())
      throw Napi::TypeError::New(info.Env(), "clipGradNorm takes numbers for maxNorm and the norm type");
    double norm = nc::clip_grad_norm(tensors_arg(info[0]), info[1].As<Napi::Number>().DoubleValue(),
                                     info[2].As<Napi::Number>().DoubleValue());
    return Napi::Number::New(info.Env(), norm);
  });
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeOptimizer", NativeOptimizer::Define(env));
  exports.Set("clipGradNorm", Napi::Function::New<ClipGradNorm>(env));
}

}  // namespace ncb
