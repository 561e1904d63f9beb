#include "optim_wrap.h"

#include <memory>
#include <vector>

#include "common.h"
#include "fields.h"
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

const Fields kArgs{"optimizer"};

}  // namespace

std::unique_ptr<nc::Optimizer> optimizer_arg(const Fields& f, const Napi::Object& o, std::vector<at::Tensor> params) {
  switch (f.choice<nc::OptimizerAlgorithm>(o, "algorithm", nc::kOptimizerAlgorithmNames)) {
    case nc::OptimizerAlgorithm::Adam:
      return nc::Optimizer::adam(std::move(params),
                                 {f.number(o, "lr"), f.number(o, "beta1"), f.number(o, "beta2"), f.number(o, "eps"),
                                  f.number(o, "weightDecay"), f.boolean(o, "decoupledDecay")});
    case nc::OptimizerAlgorithm::Sgd:
      return nc::Optimizer::sgd(std::move(params), {f.number(o, "lr"), f.number(o, "momentum"),
                                                    f.number(o, "weightDecay"), f.boolean(o, "nesterov")});
    case nc::OptimizerAlgorithm::Lbfgs: {
      nc::LbfgsConfig c{f.number(o, "lr"), f.count(o, "maxIter", 1),         f.count(o, "historySize", 1),
                        std::nullopt,      f.number(o, "gradientTolerance"), f.number(o, "lossTolerance")};
      Napi::Value search = o.Get("lineSearch");
      if (search.IsString())
        c.line_search = search.As<Napi::String>().Utf8Value();
      else if (!search.IsNull())
        throw Napi::TypeError::New(o.Env(), std::string(f.who) + ": lineSearch must be a string or null");
      return nc::Optimizer::lbfgs(std::move(params), c);
    }
  }
  throw nc::Error(std::string(f.who) + ": unknown algorithm");
}

namespace {

// Set for the duration of a step, cleared even when the closure throws.
struct SteppingFlag {
  bool& flag;
  explicit SteppingFlag(bool& f) : flag(f) { flag = true; }
  ~SteppingFlag() { flag = false; }
};

// NativeOptimizer(params, config): owns one nc::Optimizer until dispose() or GC.
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
    guard(info.Env(), [&] { opt_ = optimizer_arg(kArgs, kArgs.object(info[1], "the config"), tensors_arg(info[0])); });
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
