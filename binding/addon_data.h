// Per-environment state (one per main thread or worker), reached through the env's instance data.
#pragma once
#include <napi.h>

namespace ncb {

struct AddonData {
  Napi::FunctionReference tensor_ctor;
  static AddonData& Of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace ncb
