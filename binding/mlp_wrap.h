// The learned-component exports: NativeMlp (an nc::Mlp owned by a JS object) and assignValues (the
// in-place, no-grad parameter copy that loading a saved model uses).
#pragma once
#include <napi.h>

#include <memory>

#include "mlp.h"

namespace ncb {

void RegisterMlp(Napi::Env env, Napi::Object exports);

/**
 * The MLP behind a JS NativeMlp object, shared so that a compiled graph can keep calling it through
 * nc::Callable after the JS object is disposed. Throws a JS TypeError for any other value and an
 * Error for a disposed MLP.
 */
std::shared_ptr<nc::Mlp> MlpOf(const Napi::Value& v);

}  // namespace ncb
