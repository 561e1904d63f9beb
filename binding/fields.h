// Reading the plain-object arguments the TS layer builds for one native function (odeint, fit, an
// optimizer), strictly: a missing or wrong-typed field is an Error naming that function, never a
// default. Shared so that every caller reads the same settings the same way.
#pragma once
#include <napi.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"
#include "ode.h"
#include "tensor_wrap.h"

namespace ncb {

struct Fields {
  const char* who;

  Napi::Object object(const Napi::Value& v, const char* what) const {
    if (!v.IsObject() || v.IsArray())
      throw Napi::TypeError::New(v.Env(), std::string(who) + ": " + what + " must be an object");
    return v.As<Napi::Object>();
  }

  double number(const Napi::Object& o, const char* key) const {
    Napi::Value v = o.Get(key);
    if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": " + key + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }

  /** A whole number from `min` to 2^53 - 1 (the largest a double holds exactly). */
  int64_t count(const Napi::Object& o, const char* key, double min = 0) const {
    const double v = number(o, key);
    if (!(v >= min && v <= 9007199254740991.0) || v != static_cast<double>(static_cast<int64_t>(v)))
      throw Napi::RangeError::New(o.Env(), std::string(who) + ": " + key + " must be a whole number >= " +
                                               std::to_string(static_cast<int64_t>(min)));
    return static_cast<int64_t>(v);
  }

  bool boolean(const Napi::Object& o, const char* key) const {
    Napi::Value v = o.Get(key);
    if (!v.IsBoolean()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": " + key + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  /** An array of booleans, as chars (0 or 1). */
  std::vector<char> flags(const Napi::Object& o, const char* key) const {
    Napi::Value v = o.Get(key);
    if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": " + key + " must be an array");
    Napi::Array a = v.As<Napi::Array>();
    std::vector<char> out;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsBoolean()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": " + key + " must hold booleans");
      out.push_back(e.As<Napi::Boolean>().Value() ? 1 : 0);
    }
    return out;
  }

  std::string string(const Napi::Object& o, const char* key) const {
    Napi::Value v = o.Get(key);
    if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": " + key + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }

  /** The enum value whose name (in `names`, in enum order) the field holds. */
  template <class Enum, size_t N>
  Enum choice(const Napi::Object& o, const char* key, const std::array<const char*, N>& names) const {
    const std::string name = string(o, key);
    std::string listed;
    for (size_t i = 0; i < N; ++i) {
      if (name == names[i]) return static_cast<Enum>(i);
      listed += (i ? ", " : "") + std::string(names[i]);
    }
    throw Napi::RangeError::New(o.Env(),
                                std::string(who) + ": unknown " + key + " '" + name + "'; expected one of " + listed);
  }

  /** {method, step, rtol, atol, maxSteps}: need_grad is the caller's to set. */
  nc::OdeConfig ode_config(const Napi::Object& o) const {
    nc::OdeConfig c;
    c.method = choice<nc::OdeMethod>(o, "method", nc::kOdeMethodNames);
    c.step = number(o, "step");
    c.rtol = number(o, "rtol");
    c.atol = number(o, "atol");
    c.max_steps = count(o, "maxSteps", 1);
    c.need_grad = false;
    return c;
  }

  /** One per program input: {kind: 'state'} | {kind: 'component', index} | {kind: 'time'} | {kind: 'constant', tensor}.
   */
  nc::OdeSlot ode_slot(const Napi::Value& v) const {
    Napi::Object o = object(v, "an input slot");
    const std::string kind = string(o, "kind");
    nc::OdeSlot s;
    if (kind == "state")
      s.kind = nc::OdeSlot::Kind::State;
    else if (kind == "time")
      s.kind = nc::OdeSlot::Kind::Time;
    else if (kind == "component") {
      s.kind = nc::OdeSlot::Kind::Component;
      s.component = count(o, "index");
    } else if (kind == "constant") {
      s.kind = nc::OdeSlot::Kind::Constant;
      s.value = NativeTensor::TensorOf(o.Get("tensor"));
    } else {
      throw nc::Error(std::string(who) + ": unknown input slot kind '" + kind + "'");
    }
    return s;
  }

  /** {slots, resultBatched}, as odeint and fit both send them. */
  void ode_problem(const Napi::Object& o, nc::OdeProblem& p) const {
    Napi::Value slots = o.Get("slots");
    if (!slots.IsArray()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": slots must be an array");
    auto arr = slots.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) p.slots.push_back(ode_slot(arr.Get(i)));
    p.result_batched = boolean(o, "resultBatched");
  }
};

}  // namespace ncb
