// The training exports: NativeOptimizer (libtorch optimizers over JS-held parameter tensors) and
// clipGradNorm; and the reading of an optimizer's config, which fit shares.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "fields.h"
#include "optim.h"

namespace ncb {

void RegisterOptim(Napi::Env env, Napi::Object exports);

/**
 * The optimizer a config object describes ({algorithm, lr, ...}: src/train/native-optim.ts's
 * NativeOptimizerConfig, every field required), for NativeOptimizer and fit alike.
 */
std::unique_ptr<nc::Optimizer> optimizer_arg(const Fields& f, const Napi::Object& config,
                                             std::vector<at::Tensor> params);

}  // namespace ncb
