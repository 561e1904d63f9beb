// The autograd export: grad(outputs, inputs, gradOutputs, createGraph).
#pragma once
#include <napi.h>

namespace ncb {

void RegisterAutograd(Napi::Env env, Napi::Object exports);

}  // namespace ncb
