#include "fit_wrap.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common.h"
#include "distributed.h"
#include "fields.h"
#include "fit.h"
#include "graph_wrap.h"
#include "optim_wrap.h"
#include "tape_wrap.h"
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

// {observations, times, windowSteps, starts?, gradient, slots, resultBatched, method, step, rtol, atol, maxSteps}
std::unique_ptr<nc::OdeData> ode_arg(const Napi::Object& o) {
  auto d = std::make_unique<nc::OdeData>();
  d->observations = NativeTensor::TensorOf(o.Get("observations"));
  d->times = doubles_field(o, "times");
  d->window_steps = kArgs.count(o, "windowSteps");
  if (o.Has("starts")) d->starts = NativeTensor::TensorOf(o.Get("starts"));
  d->gradient = kArgs.choice<nc::OdeGradient>(o, "gradient", nc::kOdeGradientNames);
  kArgs.ode_problem(o, d->problem);
  d->config = kArgs.ode_config(o);
  return d;
}

// {epochs, batchSize, seed, lrs, clip, loss, progressEvery, patience, minDelta, stopOnNonFinite, gradientTolerance,
//  weightPenalty, penalised: boolean[] (one per param)}
nc::FitConfig config_arg(const Napi::Object& o) {
  nc::FitConfig c;
  c.epochs = kArgs.count(o, "epochs");
  c.batch_size = kArgs.count(o, "batchSize");
  c.seed = static_cast<uint64_t>(kArgs.count(o, "seed"));
  c.lrs = doubles_field(o, "lrs");
  c.clip = kArgs.number(o, "clip");
  c.loss = kArgs.choice<nc::LossKind>(o, "loss", nc::kLossNames);
  c.progress_every = kArgs.count(o, "progressEvery");
  c.patience = kArgs.count(o, "patience");
  c.min_delta = kArgs.number(o, "minDelta");
  c.stop_on_non_finite = kArgs.boolean(o, "stopOnNonFinite");
  c.gradient_tolerance = kArgs.number(o, "gradientTolerance");
  c.weight_penalty = kArgs.number(o, "weightPenalty");
  c.penalised = kArgs.flags(o, "penalised");
  return c;
}

// A distributed fit's group, held by JS between fit's native calls (stages, starts) and closed
// when fit settles: the connection is made by the first native fit that uses it, on its thread.
using GroupHandle = std::shared_ptr<nc::Collective>;

// distributedGroup({host, port, rank, worldSize, timeoutMs, backend: 'gloo' | 'nccl', cudaDevice}) -> handle
Napi::Value DistributedGroup(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Object o = kArgs.object(info[0], "distributed");
    nc::DistributedSpec spec;
    spec.host = kArgs.string(o, "host");
    spec.port = static_cast<int>(kArgs.count(o, "port", 1));
    spec.rank = static_cast<int>(kArgs.count(o, "rank"));
    spec.world_size = static_cast<int>(kArgs.count(o, "worldSize", 1));
    spec.timeout_ms = kArgs.count(o, "timeoutMs", 1);
    spec.nccl = kArgs.string(o, "backend") == "nccl";
    if (spec.nccl) spec.cuda_device = static_cast<int>(kArgs.count(o, "cudaDevice"));
    return Napi::External<GroupHandle>::New(info.Env(), new GroupHandle(std::make_shared<nc::Collective>(spec)),
                                            [](Napi::Env, GroupHandle* handle) { delete handle; });
  });
}

GroupHandle& group_of(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "fit: distributed.group must be a distributedGroup handle");
  return *v.As<Napi::External<GroupHandle>>().Data();
}

// closeDistributedGroup(handle): the connection closes once no running fit uses it.
Napi::Value CloseDistributedGroup(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    group_of(info[0]).reset();
    return info.Env().Undefined();
  });
}

Napi::Value GlooLayoutProblem(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), nc::gloo_layout_problem()); });
}

// {group, agreement: [[what, text], ...]}
void distributed_arg(const Napi::Object& o, nc::FitTask& task) {
  task.collective = group_of(o.Get("group"));
  if (!task.collective) throw nc::Error("fit: internal: the distributed group is closed");
  Napi::Value agreement = o.Get("agreement");
  if (!agreement.IsArray()) throw Napi::TypeError::New(o.Env(), "fit: distributed.agreement must be an array");
  auto parts = agreement.As<Napi::Array>();
  for (uint32_t i = 0; i < parts.Length(); ++i) {
    Napi::Value part = parts.Get(i);
    if (!part.IsArray()) throw Napi::TypeError::New(o.Env(), "fit: distributed.agreement holds [what, text] pairs");
    auto pair = part.As<Napi::Array>();
    task.agreement.emplace_back(pair.Get(0u).ToString().Utf8Value(), pair.Get(1u).ToString().Utf8Value());
  }
}

// Trains on a thread of its own rather than in libuv's pool: a fit there would hold up the pool's
// other work (fs, zlib, dns) for as long as it trains, and a worker thread being terminated (or the
// process exiting) waits for the pool's running jobs, so it would wait for the fit's last epoch.
// Progress reports and the result cross to JS through a thread-safe function, in order: the promise
// settles after the last report. If the environment is torn down first (a worker terminated), a
// cleanup hook cancels the fit and waits for its current step. process.exit() runs no cleanup hooks,
// so src/train/fit.ts calls stopFits() from the 'exit' event: no fit thread may still be running
// libtorch while exit() destroys its static objects.
//
// Delivery uses the C API and checks every status: once a worker is being terminated (which another
// thread may start at any moment), calls that run JS fail, and node-addon-api's reaction to such a
// failure (building a Napi::Error) aborts the process. A failed delivery cancels the fit instead.

struct FitMessage {
  bool done = false;
  nc::FitProgress progress;
};

class FitJob;
void DeliverFit(Napi::Env env, Napi::Function, FitJob* job, FitMessage* message);
using FitChannel = Napi::TypedThreadSafeFunction<FitJob, FitMessage, DeliverFit>;

// Every job whose thread may still run, for stopFits().
std::mutex g_jobs_mutex;
std::set<FitJob*> g_jobs;

/** A parameter snapshot, made host-ready by host_ready(), as a Float32Array or Float64Array (copied), or nullptr on
 * failure. */
napi_value typed_array(napi_env env, const at::Tensor& c) {
  const bool f64 = c.scalar_type() == at::kDouble;
  const size_t bytes = static_cast<size_t>(c.numel()) * (f64 ? 8 : 4);
  void* data = nullptr;
  napi_value buffer, out;
  if (napi_create_arraybuffer(env, bytes, &data, &buffer) != napi_ok) return nullptr;
  if (bytes > 0) std::memcpy(data, c.data_ptr(), bytes);
  if (napi_create_typedarray(env, f64 ? napi_float64_array : napi_float32_array, static_cast<size_t>(c.numel()), buffer,
                             0, &out) != napi_ok)
    return nullptr;
  return out;
}

/** On the fit's thread: the snapshots as contiguous CPU float32 or float64 tensors, for typed_array. */
nc::FitProgress host_ready(const nc::FitProgress& p) {
  nc::FitProgress out{p.step, p.loss, {}};
  for (const at::Tensor& t : p.params)
    out.params.push_back(t.to(at::kCPU, t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat).contiguous());
  return out;
}

class FitJob {
 public:
  FitJob(Napi::Env env, nc::FitTask task, Napi::Value on_progress, std::shared_ptr<std::atomic<bool>> cancel)
      : env_(env), task_(std::move(task)), cancel_(std::move(cancel)) {
    if (napi_create_promise(env, &deferred_, &promise_) != napi_ok)
      throw Napi::Error::New(env, "fit: could not create a promise");
    if (on_progress.IsFunction()) {
      if (napi_create_reference(env, on_progress, 1, &on_progress_) != napi_ok)
        throw Napi::Error::New(env, "fit: could not keep onProgress");
      reports_ = true;
    }
  }

  ~FitJob() {
    if (on_progress_) napi_delete_reference(env_, on_progress_);
    if (callback_error_) napi_delete_reference(env_, callback_error_);
  }

  napi_value Promise() const { return promise_; }

  /**
   * Starts the thread. Until the channel exists the caller owns the job (a throw leaves it to the
   * caller); from then on the job frees itself, in Finish (the channel's finalizer).
   */
  void Start() {
    channel_ =
        FitChannel::New(env_, "neural-compiler:fit", 0, 1, this, [](Napi::Env, void*, FitJob* job) { job->Finish(); });
    napi_add_env_cleanup_hook(env_, &FitJob::Teardown, this);
    {
      std::lock_guard<std::mutex> lock(g_jobs_mutex);
      g_jobs.insert(this);
    }
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      failed_ = true;
      error_ = std::string("fit: could not start a thread to train on: ") + e.what();
      Post(new FitMessage{true, {}});
      channel_.Release();
    }
  }

  // On the JS thread, in order: onProgress(step, loss, [Float32Array | Float64Array, ...]).
  void Report(napi_env env, const nc::FitProgress& p) {
    if (!reports_ || callback_error_ || undeliverable_) return;
    napi_value fn, undefined, params, argv[3], ignored;
    bool ok = napi_get_reference_value(env, on_progress_, &fn) == napi_ok && fn != nullptr &&
              napi_get_undefined(env, &undefined) == napi_ok &&
              napi_create_double(env, static_cast<double>(p.step), &argv[0]) == napi_ok &&
              napi_create_double(env, p.loss, &argv[1]) == napi_ok &&
              napi_create_array_with_length(env, p.params.size(), &params) == napi_ok;
    for (size_t j = 0; ok && j < p.params.size(); ++j) {
      napi_value values = typed_array(env, p.params[j]);
      ok = values != nullptr && napi_set_element(env, params, static_cast<uint32_t>(j), values) == napi_ok;
    }
    argv[2] = params;
    if (ok && napi_call_function(env, undefined, fn, 3, argv, &ignored) == napi_ok) return;
    // A throwing callback stops the training and its exception becomes the rejection; anything else
    // means JS cannot run here any more.
    cancel_->store(true);
    bool pending = false;
    napi_value exception, holder;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &exception) == napi_ok &&
        napi_create_array_with_length(env, 1, &holder) == napi_ok &&
        napi_set_element(env, holder, 0, exception) == napi_ok &&
        napi_create_reference(env, holder, 1, &callback_error_) == napi_ok)
      return;
    undeliverable_ = true;
  }

  void Settle(napi_env env) {
    if (undeliverable_) return;
    napi_value value, holder, message, out, number, text, flag;
    if (callback_error_) {
      if (napi_get_reference_value(env, callback_error_, &holder) == napi_ok &&
          napi_get_element(env, holder, 0, &value) == napi_ok)
        napi_reject_deferred(env, deferred_, value);
    } else if (failed_) {
      const bool ok = napi_create_string_utf8(env, error_.data(), error_.size(), &message) == napi_ok &&
                      napi_create_error(env, nullptr, message, &value) == napi_ok &&
                      (kind_ == nullptr || (napi_create_string_utf8(env, kind_, NAPI_AUTO_LENGTH, &text) == napi_ok &&
                                            napi_set_named_property(env, value, "kind", text) == napi_ok));
      if (ok) napi_reject_deferred(env, deferred_, value);
    } else {
      const char* stopped = nc::kFitStopNames[static_cast<size_t>(result_.stopped)];
      const bool ok = napi_create_object(env, &out) == napi_ok &&
                      napi_create_double(env, result_.loss, &number) == napi_ok &&
                      napi_set_named_property(env, out, "loss", number) == napi_ok &&
                      napi_create_double(env, static_cast<double>(result_.steps), &number) == napi_ok &&
                      napi_set_named_property(env, out, "steps", number) == napi_ok &&
                      napi_create_string_utf8(env, stopped, NAPI_AUTO_LENGTH, &text) == napi_ok &&
                      napi_set_named_property(env, out, "stopReason", text) == napi_ok &&
                      napi_create_double(env, result_.communication_seconds, &number) == napi_ok &&
                      napi_set_named_property(env, out, "communicationSeconds", number) == napi_ok &&
                      napi_get_boolean(env, result_.fused, &flag) == napi_ok &&
                      napi_set_named_property(env, out, "fused", flag) == napi_ok;
      if (ok) napi_resolve_deferred(env, deferred_, out);
    }
  }

  /** Cancels the fit and waits for its thread (which then stops after its current step). */
  void Stop() {
    cancel_->store(true);
    if (thread_.joinable()) thread_.join();
  }

  /** Stops every fit of this environment (it is exiting: nothing will be delivered any more). */
  static void StopAll(napi_env env) {
    std::lock_guard<std::mutex> lock(g_jobs_mutex);
    for (FitJob* job : g_jobs)
      if (job->env_ == env) job->Stop();
  }

 private:
  void Run() {
    try {
      std::function<void(const nc::FitProgress&)> send;
      if (reports_) send = [this](const nc::FitProgress& p) { Post(new FitMessage{false, host_ready(p)}); };
      nc::FitTurn turn(*cancel_);
      result_ = nc::fit(task_, send, *cancel_);
    } catch (const nc::OdeBlowUp& e) {
      failed_ = true;
      error_ = e.what();
      kind_ = kOdeBlowUpKind;
    } catch (const nc::DistributedError& e) {
      failed_ = true;
      error_ = e.what();
      kind_ = kDistributedKind;
    } catch (const c10::Error& e) {
      failed_ = true;
      error_ = std::string("libtorch: ") + e.what_without_backtrace();
    } catch (const std::exception& e) {
      failed_ = true;
      error_ = e.what();
    }
    Post(new FitMessage{true, {}});
    channel_.Release();
  }

  void Post(FitMessage* m) {
    if (channel_.BlockingCall(m) != napi_ok) delete m;  // the environment is closing
  }

  /** The channel's finalizer: after the last message, or when the environment is torn down. */
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(g_jobs_mutex);
      g_jobs.erase(this);
    }
    Stop();
    if (!torn_down_) napi_remove_env_cleanup_hook(env_, &FitJob::Teardown, this);
    delete this;
  }

  static void Teardown(void* arg) {
    auto* job = static_cast<FitJob*>(arg);
    job->torn_down_ = true;
    job->Stop();
  }

  napi_env env_;
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
  nc::FitTask task_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  napi_ref on_progress_ = nullptr;
  bool reports_ = false;
  napi_ref callback_error_ = nullptr;  // [the exception onProgress threw]
  bool undeliverable_ = false;         // JS cannot run in this environment any more
  FitChannel channel_;
  std::thread thread_;
  bool torn_down_ = false;
  // Written by the thread before its last message, read on the JS thread after it.
  nc::FitResult result_;
  bool failed_ = false;
  std::string error_;
  const char* kind_ = nullptr;  // the rejection's `kind` (common.h), when the failure has one
};

void DeliverFit(Napi::Env env, Napi::Function, FitJob* job, FitMessage* message) {
  std::unique_ptr<FitMessage> owned(message);
  if (env == nullptr || job == nullptr) return;  // the channel is being drained at teardown
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (message->done)
    job->Settle(env);
  else
    job->Report(env, message->progress);
  napi_close_handle_scope(env, scope);
}

// fit(graph, params, names, optimizer, data, config, onProgress?) -> {promise, cancel}
Napi::Value Fit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    nc::FitTask task;
    task.module = NativeGraph::ModuleOf(info[0]);
    task.params = tensors_arg(info[1], "params");
    if (!info[2].IsArray()) throw Napi::TypeError::New(env, "fit: names must be an array of strings");
    auto names = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      Napi::Value name = names.Get(i);
      if (!name.IsString()) throw Napi::TypeError::New(env, "fit: names must be an array of strings");
      task.names.push_back(name.As<Napi::String>().Utf8Value());
    }
    task.optimizer = optimizer_arg(kArgs, kArgs.object(info[3], "the optimizer"), task.params);
    Napi::Object data = kArgs.object(info[4], "the data");
    if (data.Has("target"))
      task.algebraic = std::make_unique<nc::AlgebraicData>(
          nc::AlgebraicData{tensors_arg(data.Get("inputs"), "inputs"), NativeTensor::TensorOf(data.Get("target"))});
    else
      task.ode = ode_arg(data);
    Napi::Object config = kArgs.object(info[5], "the config");
    task.config = config_arg(config);
    if (config.Has("distributed")) distributed_arg(kArgs.object(config.Get("distributed"), "distributed"), task);
    // The small-program tier, when the compiler gave the program one: {tape, tapeParams}.
    if (data.Has("tape")) {
      task.tape = NativeTape::ProgramOf(data.Get("tape"));
      task.tape_params = tensors_arg(data.Get("tapeParams"), "tapeParams");
    }

    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto job = std::make_unique<FitJob>(env, std::move(task), info[6], cancel);
    Napi::Value promise(env, job->Promise());
    job->Start();
    job.release();  // it frees itself once the promise has settled
    auto out = Napi::Object::New(env);
    out.Set("promise", promise);
    out.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo& i) {
              cancel->store(true);
              return i.Env().Undefined();
            }));
    return out;
  });
}

// stopFits(): cancels this environment's fits and waits for each to finish its current step.
Napi::Value StopFits(const Napi::CallbackInfo& info) {
  FitJob::StopAll(info.Env());
  return info.Env().Undefined();
}

Napi::Value SetMaxConcurrentFits(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    nc::set_max_concurrent_fits(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  });
}

Napi::Value GetMaxConcurrentFits(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), nc::max_concurrent_fits());
}

}  // namespace

void RegisterFit(Napi::Env env, Napi::Object exports) {
  exports.Set("setMaxConcurrentFits", Napi::Function::New<SetMaxConcurrentFits>(env));
  exports.Set("getMaxConcurrentFits", Napi::Function::New<GetMaxConcurrentFits>(env));
  exports.Set("fit", Napi::Function::New<Fit>(env));
  exports.Set("stopFits", Napi::Function::New<StopFits>(env));
  exports.Set("distributedGroup", Napi::Function::New<DistributedGroup>(env));
  exports.Set("closeDistributedGroup", Napi::Function::New<CloseDistributedGroup>(env));
  exports.Set("glooLayoutProblem", Napi::Function::New<GlooLayoutProblem>(env));
}

}  // namespace ncb
