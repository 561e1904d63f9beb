#include "ode_wrap.h"

#include <string>
#include <vector>

#include "common.h"
#include "graph_wrap.h"
#include "ode.h"
#include "tensor_wrap.h"

namespace ncb {
namespace {

Napi::Object object_arg(const Napi::Value& v, const char* what) {
  if (!v.IsObject() || v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string("odeint: ") + what + " must be an object");
  return v.As<Napi::Object>();
}

double number_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("odeint: option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::string string_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("odeint: ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

nc::OdeMethod method_of(const std::string& name) {
  if (name == "euler") return nc::OdeMethod::Euler;
  if (name == "rk4") return nc::OdeMethod::Rk4;
  if (name == "dopri5") return nc::OdeMethod::Dopri5;
  throw nc::Error("odeint: unknown method '" + name + "' (expected euler, rk4 or dopri5)");
}

// {method, step, rtol, atol, maxSteps, needGrad}: the TS layer fills in every default.
nc::OdeConfig config_arg(const Napi::Object& o) {
  nc::OdeConfig c;
  c.method = method_of(string_field(o, "method"));
  c.step = number_field(o, "step");
  c.rtol = number_field(o, "rtol");
  c.atol = number_field(o, "atol");
  const double steps = number_field(o, "maxSteps");
  if (!(steps >= 1 && steps <= 1e12) || steps != static_cast<double>(static_cast<int64_t>(steps)))
    throw Napi::RangeError::New(o.Env(), "odeint: option maxSteps must be a whole number from 1 to 1e12");
  c.max_steps = static_cast<int64_t>(steps);
  c.need_grad = o.Get("needGrad").ToBoolean().Value();
  return c;
}

// One slot per program input: {kind: 'state'} | {kind: 'component', index} | {kind: 'time'} | {kind: 'constant', tensor}.
nc::OdeSlot slot_arg(const Napi::Value& v) {
  Napi::Object o = object_arg(v, "an input slot");
  const std::string kind = string_field(o, "kind");
  nc::OdeSlot s;
  if (kind == "state") s.kind = nc::OdeSlot::Kind::State;
  else if (kind == "time") s.kind = nc::OdeSlot::Kind::Time;
  else if (kind == "component") {
    s.kind = nc::OdeSlot::Kind::Component;
    const double k = number_field(o, "index");
    if (k != static_cast<double>(static_cast<int64_t>(k))) throw Napi::RangeError::New(o.Env(), "odeint: a component index must be a whole number");
    s.component = static_cast<int64_t>(k);
  } else if (kind == "constant") {
    s.kind = nc::OdeSlot::Kind::Constant;
    s.value = NativeTensor::TensorOf(o.Get("tensor"));
  } else {
    throw nc::Error("odeint: unknown input slot kind '" + kind + "'");
  }
  return s;
}

// {slots, resultBatched, timeOffsets?}
nc::OdeProblem problem_arg(const Napi::Value& v) {
  Napi::Object o = object_arg(v, "the problem");
  nc::OdeProblem p;
  Napi::Value slots = o.Get("slots");
  if (!slots.IsArray()) throw Napi::TypeError::New(v.Env(), "odeint: slots must be an array");
  auto arr = slots.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) p.slots.push_back(slot_arg(arr.Get(i)));
  p.result_batched = o.Get("resultBatched").ToBoolean().Value();
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
    nc::OdeConfig config = config_arg(object_arg(info[4], "the config"));
    return NativeTensor::Wrap(env, nc::odeint(*module, problem, y0, times, config));
  });
}

}  // namespace

void RegisterOde(Napi::Env env, Napi::Object exports) { exports.Set("odeint", Napi::Function::New<Odeint>(env)); }

}  // namespace ncb
