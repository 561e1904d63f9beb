// The training exports: NativeOptimizer (libtorch optimizers over JS-held parameter tensors) and
// clipGradNorm.
#pragma once
#include <napi.h>

namespace ncb {

void RegisterOptim(Napi::Env env, Napi::Object exports);

}  // namespace ncb
