// Shared glue: turning native failures into JS Errors, and JS values into native arguments.
// No math lives here.
#pragma once
#include <c10/util/Exception.h>
#include <napi.h>

#include <string>
#include <type_traits>
#include <vector>

#include "errors.h"
#include "tensor.h"

namespace ncb {

/** The JS Error's `kind` for an nc::OdeBlowUp (src/train/settings.ts's ODE_BLOWUP). */
constexpr const char* kOdeBlowUpKind = "ode-blowup";

/** The JS Error's `kind` for an nc::DistributedError (src/train/distributed.ts's DISTRIBUTED_FAILURE). */
constexpr const char* kDistributedKind = "distributed";

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
  } catch (const nc::OdeBlowUp& e) {
    Napi::Error error = Napi::Error::New(env, e.what());
    error.Set("kind", Napi::String::New(env, kOdeBlowUpKind));
    throw error;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

template <class T>
constexpr napi_typedarray_type kArrayType = std::is_same_v<T, double> ? napi_float64_array : napi_float32_array;

/** The elements of a typed array of T with at least `n` of them; a JS TypeError or RangeError naming `what` otherwise.
 */
template <class T>
T* typed_elements(const Napi::Value& v, size_t n, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kArrayType<T>)
    throw Napi::TypeError::New(v.Env(),
                               what + " must be a " + (std::is_same_v<T, double> ? "Float64Array" : "Float32Array"));
  auto arr = v.As<Napi::TypedArray>();
  if (arr.ElementLength() < n)
    throw Napi::RangeError::New(v.Env(), what + " holds fewer than " + std::to_string(n) + " values");
  return reinterpret_cast<T*>(static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
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
