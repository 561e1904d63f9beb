// The ODE export: odeint(graph, y0, times, problem, config), the native integrator over a compiled
// right-hand side. src/train/odeint.ts builds its arguments; the checks here guard the raw binding.
#pragma once
#include <napi.h>

namespace ncb {

void RegisterOde(Napi::Env env, Napi::Object exports);

}  // namespace ncb
