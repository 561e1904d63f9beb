// The training export: fit(...) runs nc::fit on a worker thread and returns {promise, cancel}.
// src/train/fit.ts checks every argument and fills in every default; the checks here guard the raw binding.
#pragma once
#include <napi.h>

namespace ncb {

void RegisterFit(Napi::Env env, Napi::Object exports);

}  // namespace ncb
