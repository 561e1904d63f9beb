// Reading the plain-object arguments the TS layer builds for one native function (odeint, fit),
// with messages that name that function. Shared so both read ODE settings the same way.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

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

  /** A whole number >= 0 that a double holds exactly. */
  int64_t count(const Napi::Object& o, const char* key) const {
    const double v = number(o, key);
    if (!(v >= 0 && v <= 9007199254740991.0) || v != static_cast<double>(static_cast<int64_t>(v)))
      throw Napi::RangeError::New(o.Env(), std::string(who) + ": " + key + " must be a whole number >= 0");
    return static_cast<int64_t>(v);
  }

  std::string string(const Napi::Object& o, const char* key) const {
    Napi::Value v = o.Get(key);
    if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": " + key + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }

  nc::OdeMethod ode_method(const std::string& name) const {
    if (name == "euler") return nc::OdeMethod::Euler;
    if (name == "rk4") return nc::OdeMethod::Rk4;
    if (name == "dopri5") return nc::OdeMethod::Dopri5;
    throw nc::Error(std::string(who) + ": unknown method '" + name + "' (expected euler, rk4 or dopri5)");
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
};

}  // namespace ncb
