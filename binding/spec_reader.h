// Reading the compiler's specs (graphs, tapes) strictly: every field a part needs, of its type. A
// missing or mistyped field is a compiler bug, reported as an Error naming the part and the field.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"

namespace ncb {

class SpecReader {
 public:
  /** `where` names the part read, as in "graph spec, region 0, node 3". */
  explicit SpecReader(std::string where) : where_(std::move(where)) {}

  Napi::Value field(const Napi::Object& o, const char* key) const {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) fail(key, "is missing");
    return v;
  }
  Napi::Object object(const Napi::Value& v, const char* what) const {
    if (!v.IsObject() || v.IsArray()) fail(what, "must be an object");
    return v.As<Napi::Object>();
  }
  Napi::Array array(const Napi::Object& o, const char* key) const {
    Napi::Value v = field(o, key);
    if (!v.IsArray()) fail(key, "must be an array");
    return v.As<Napi::Array>();
  }
  double number(const Napi::Object& o, const char* key) const {
    Napi::Value v = field(o, key);
    if (!v.IsNumber()) fail(key, "must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  int64_t whole(const Napi::Value& v, const char* key) const {
    if (!v.IsNumber()) fail(key, "must hold whole numbers >= 0");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d)))
      fail(key, "must hold whole numbers >= 0");
    return static_cast<int64_t>(d);
  }
  int64_t whole(const Napi::Object& o, const char* key) const { return whole(field(o, key), key); }
  bool boolean(const Napi::Object& o, const char* key) const {
    Napi::Value v = field(o, key);
    if (!v.IsBoolean()) fail(key, "must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  std::string string(const Napi::Object& o, const char* key) const {
    Napi::Value v = field(o, key);
    if (!v.IsString()) fail(key, "must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  std::vector<int> ints(const Napi::Object& o, const char* key) const {
    return each<int>(o, key, [&](const Napi::Value& v) {
      const int64_t n = whole(v, key);
      if (n > INT32_MAX) fail(key, "holds an index too large");
      return static_cast<int>(n);
    });
  }
  std::vector<bool> bools(const Napi::Object& o, const char* key) const {
    return each<bool>(o, key, [&](const Napi::Value& v) {
      if (!v.IsBoolean()) fail(key, "must hold booleans");
      return v.As<Napi::Boolean>().Value();
    });
  }
  std::vector<double> doubles(const Napi::Object& o, const char* key) const {
    return each<double>(o, key, [&](const Napi::Value& v) {
      if (!v.IsNumber()) fail(key, "must hold numbers");
      return v.As<Napi::Number>().DoubleValue();
    });
  }

 private:
  /** The array `key` of `o`, each element read by `read`. */
  template <class T, class F>
  std::vector<T> each(const Napi::Object& o, const char* key, F read) const {
    Napi::Array arr = array(o, key);
    std::vector<T> out;
    for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(read(arr.Get(i)));
    return out;
  }
  [[noreturn]] void fail(const char* key, const char* problem) const {
    throw nc::Error("internal: " + where_ + ": '" + key + "' " + problem);
  }
  std::string where_;
};

}  // namespace ncb
