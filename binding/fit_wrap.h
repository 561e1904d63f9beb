// The training exports: fit(...) runs nc::fit on a thread of its own and returns {promise, cancel};
// stopFits() cancels the environment's running fits and waits for them (at exit).
// src/train/fit.ts checks every argument and fills in every default; the checks here guard the raw binding.
#pragma once
#include <napi.h>

namespace ncb {

void RegisterFit(Napi::Env env, Napi::Object exports);

}  // namespace ncb
