// Shared glue: turning native failures into JS Errors, and JS values into native arguments.
// No math lives here.
#pragma once
#include <c10/util/Exception.h>
#include <napi.h>

#include <string>
#include <vector>

#include "errors.h"
#include "tensor.h"

namespace ncb {

/** Runs f, rethrowing libtorch and nc::Error failures as JS Errors with clean messages. */
template <typename F>
auto guard(const Napi::Env& env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, std::string("libtorch: ") + e.what_without_backtrace());
  } catch (const nc::NodeError& e) {
    // The compiler finds the node by `where` and words the diagnostic by `kind`.
    static const char* const kinds[] = {"limit", "budget", "value"};
    Napi::Error error = Napi::Error::New(env, e.what());
    error.Set("where", Napi::String::New(env, e.where));
    error.Set("kind", Napi::String::New(env, kinds[static_cast<int>(e.kind)]));
    throw error;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline nc::Shape shape_arg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), "shape must be an array of whole numbers");
  auto arr = info[i].As<Napi::Array>();
  nc::Shape shape;
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value v = arr[k];
    if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), "shape must be an array of whole numbers");
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d)))
      throw Napi::RangeError::New(info.Env(), "shape entries must be whole numbers >= 0");
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

inline std::vector<double> doubles_arg(const Napi::Value& v) {
  std::vector<double> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  auto arr = v.As<Napi::Array>();
  for (uint32_t k = 0; k < arr.Length(); ++k) out.push_back(arr.Get(k).As<Napi::Number>().DoubleValue());
  return out;
}

}  // namespace ncb
