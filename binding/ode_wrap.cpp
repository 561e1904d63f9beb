#include "ode_wrap.h"

#include <string>
#include <vector>

#include "common.h"
#include "fields.h"
#include "graph_wrap.h"
#include "ode.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

const Fields kArgs{"odeint"};

// {method, step, rtol, atol, maxSteps, needGrad}: the TS layer fills in every default.
nc::OdeConfig config_arg(const Napi::Object& o) {
  nc::OdeConfig c = kArgs.ode_config(o);
  c.need_grad = kArgs.boolean(o, "needGrad");
  return c;
}

// {slots, resultBatched, timeOffsets?}
nc::OdeProblem problem_arg(const Napi::Value& v) {
  Napi::Object o = kArgs.object(v, "the problem");
  nc::OdeProblem p;
  kArgs.ode_problem(o, p);
  Napi::Value offsets = o.Get("timeOffsets");
  if (!offsets.IsUndefined()) p.time_offsets = NativeTensor::TensorOf(offsets);
  return p;
}

std::vector<double> times_arg(const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "odeint: times must be an array of numbers");
  auto arr = v.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value x = arr.Get(i);
    if (!x.IsNumber()) throw Napi::TypeError::New(v.Env(), "odeint: times must be an array of numbers");
    out.push_back(x.As<Napi::Number>().DoubleValue());
  }
  return out;
}

// odeint(graph, y0, times, problem, config) -> [T, n] or [T, B, n]
Napi::Value Odeint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto module = NativeGraph::ModuleOf(info[0]);
    const at::Tensor& y0 = NativeTensor::TensorOf(info[1]);
    std::vector<double> times = times_arg(info[2]);
    nc::OdeProblem problem = problem_arg(info[3]);
    nc::OdeConfig config = config_arg(kArgs.object(info[4], "the config"));
    return NativeTensor::Wrap(env, nc::odeint(*module, problem, y0, times, config));
  });
}

}  // namespace

void RegisterOde(Napi::Env env, Napi::Object exports) { exports.Set("odeint", Napi::Function::New<Odeint>(env)); }

}  // namespace ncb
