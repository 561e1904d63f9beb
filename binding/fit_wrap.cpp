#include "fit_wrap.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "fields.h"
#include "fit.h"
#include "graph_wrap.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

const Fields kArgs{"fit"};

std::vector<at::Tensor> tensors_arg(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string("fit: ") + what + " must be an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(NativeTensor::TensorOf(arr.Get(i)));
  return out;
}

std::vector<double> doubles_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(o.Env(), std::string("fit: ") + key + " must be a Float64Array");
  auto arr = v.As<Napi::Float64Array>();
  return std::vector<double>(arr.Data(), arr.Data() + arr.ElementLength());
}

// {kind, lr}: fit exposes the learning rate; the other settings keep libtorch's defaults, and
// L-BFGS searches its step with strong Wolfe conditions so that lr = 1 is safe.
std::unique_ptr<nc::Optimizer> optimizer_arg(const Napi::Object& o, std::vector<at::Tensor> params) {
  const std::string kind = kArgs.string(o, "kind");
  const double lr = kArgs.number(o, "lr");
  if (kind == "adam" || kind == "adamw") {
    nc::AdamConfig c;
    c.lr = lr;
    c.decoupled = kind == "adamw";
    if (c.decoupled) c.weight_decay = 0.01;
    return nc::Optimizer::adam(std::move(params), c);
  }
  if (kind == "sgd") return nc::Optimizer::sgd(std::move(params), nc::SgdConfig{lr});
  if (kind == "lbfgs") return nc::Optimizer::lbfgs(std::move(params), nc::LbfgsConfig{lr, 20, 100, std::string("strong_wolfe")});
  throw nc::Error("fit: unknown optimizer '" + kind + "' (expected adam, adamw, sgd or lbfgs)");
}

// {observations, times, windowSteps, slots, resultBatched, method, step, rtol, atol, maxSteps}
std::unique_ptr<nc::OdeData> ode_arg(const Napi::Object& o) {
  auto d = std::make_unique<nc::OdeData>();
  d->observations = NativeTensor::TensorOf(o.Get("observations"));
  d->times = doubles_field(o, "times");
  d->window_steps = kArgs.count(o, "windowSteps");
  Napi::Value slots = o.Get("slots");
  if (!slots.IsArray()) throw Napi::TypeError::New(o.Env(), "fit: slots must be an array");
  auto arr = slots.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) d->problem.slots.push_back(kArgs.ode_slot(arr.Get(i)));
  d->problem.result_batched = o.Get("resultBatched").ToBoolean().Value();
  d->config.method = kArgs.ode_method(kArgs.string(o, "method"));
  d->config.step = kArgs.number(o, "step");
  d->config.rtol = kArgs.number(o, "rtol");
  d->config.atol = kArgs.number(o, "atol");
  d->config.max_steps = kArgs.count(o, "maxSteps");
  return d;
}

nc::LossKind loss_arg(const std::string& name) {
  if (name == "mse") return nc::LossKind::Mse;
  if (name == "mae") return nc::LossKind::Mae;
  if (name == "huber") return nc::LossKind::Huber;
  throw nc::Error("fit: unknown loss '" + name + "' (expected mse, mae or huber)");
}

// {epochs, batchSize, seed, lrs, clip, loss, progressEvery, patience, minDelta, stopOnNonFinite}
nc::FitConfig config_arg(const Napi::Object& o) {
  nc::FitConfig c;
  c.epochs = kArgs.count(o, "epochs");
  c.batch_size = kArgs.count(o, "batchSize");
  c.seed = static_cast<uint64_t>(kArgs.count(o, "seed"));
  c.lrs = doubles_field(o, "lrs");
  c.clip = kArgs.number(o, "clip");
  c.loss = loss_arg(kArgs.string(o, "loss"));
  c.progress_every = kArgs.count(o, "progressEvery");
  c.patience = kArgs.count(o, "patience");
  c.min_delta = kArgs.number(o, "minDelta");
  c.stop_on_non_finite = o.Get("stopOnNonFinite").ToBoolean().Value();
  return c;
}

const char* stop_name(nc::FitStop s) {
  switch (s) {
    case nc::FitStop::Epochs: return "epochs";
    case nc::FitStop::Early: return "early";
    case nc::FitStop::Aborted: return "aborted";
  }
  return "epochs";
}

// Trains on a libuv worker thread. Progress reports queue to the JS thread; the promise settles
// after the last of them has been delivered.
class FitWorker : public Napi::AsyncProgressQueueWorker<nc::FitProgress> {
 public:
  FitWorker(Napi::Env env, nc::FitTask task, Napi::Value on_progress, std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncProgressQueueWorker<nc::FitProgress>(env, "neural-compiler:fit"),
        deferred_(Napi::Promise::Deferred::New(env)),
        task_(std::move(task)),
        cancel_(std::move(cancel)) {
    if (on_progress.IsFunction()) on_progress_ = Napi::Persistent(on_progress.As<Napi::Function>());
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      auto send = [&progress](const nc::FitProgress& p) { progress.Send(&p, 1); };
      result_ = nc::fit(task_, on_progress_.IsEmpty() ? std::function<void(const nc::FitProgress&)>() : send, *cancel_);
    } catch (const c10::Error& e) {
      SetError(std::string("libtorch: ") + e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  // A throwing callback stops the training; its error becomes the rejection.
  void OnProgress(const nc::FitProgress* data, size_t count) override {
    Napi::Env env = Env();
    for (size_t i = 0; i < count && callback_error_.IsEmpty(); ++i) {
      Napi::HandleScope scope(env);
      auto params = Napi::Array::New(env, data[i].params.size());
      for (size_t j = 0; j < data[i].params.size(); ++j) params.Set(static_cast<uint32_t>(j), NativeTensor::Wrap(env, data[i].params[j]));
      try {
        on_progress_.Call({Napi::Number::New(env, static_cast<double>(data[i].step)), Napi::Number::New(env, data[i].loss), params});
      } catch (const Napi::Error& e) {
        callback_error_ = Napi::Persistent(e.Value());
        cancel_->store(true);
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!callback_error_.IsEmpty()) {
      deferred_.Reject(callback_error_.Value());
      return;
    }
    auto out = Napi::Object::New(env);
    out.Set("loss", result_.loss);
    out.Set("steps", static_cast<double>(result_.steps));
    out.Set("stopped", stop_name(result_.stopped));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(callback_error_.IsEmpty() ? e.Value() : callback_error_.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  nc::FitTask task_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  Napi::FunctionReference on_progress_;
  Napi::ObjectReference callback_error_;
  nc::FitResult result_;
};

// fit(graph, params, names, optimizer, data, config, onProgress?) -> {promise, cancel}
Napi::Value Fit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    nc::FitTask task;
    task.module = NativeGraph::ModuleOf(info[0]);
    task.params = tensors_arg(info[1], "params");
    if (!info[2].IsArray()) throw Napi::TypeError::New(env, "fit: names must be an array of strings");
    auto names = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); ++i) task.names.push_back(names.Get(i).ToString().Utf8Value());
    task.optimizer = optimizer_arg(kArgs.object(info[3], "the optimizer"), task.params);
    Napi::Object data = kArgs.object(info[4], "the data");
    if (data.Has("target")) task.algebraic = std::make_unique<nc::AlgebraicData>(nc::AlgebraicData{tensors_arg(data.Get("inputs"), "inputs"), NativeTensor::TensorOf(data.Get("target"))});
    else task.ode = ode_arg(data);
    task.config = config_arg(kArgs.object(info[5], "the config"));

    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto* worker = new FitWorker(env, std::move(task), info[6], cancel);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    auto out = Napi::Object::New(env);
    out.Set("promise", promise);
    out.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo& i) {
              cancel->store(true);
              return i.Env().Undefined();
            }));
    return out;
  });
}

}  // namespace

void RegisterFit(Napi::Env env, Napi::Object exports) { exports.Set("fit", Napi::Function::New<Fit>(env)); }

}  // namespace ncb
