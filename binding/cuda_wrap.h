// The fused CUDA kernels' source and their NVRTC compilation, for tests and `neuralc doctor`.
#pragma once
#include <napi.h>

namespace ncb {

// fusedCudaSource({numInputs, steps: [{op, args, attrs}], dtype, broadcast: bool[], wanted: bool[], gradBroadcast}):
// string cudaCompilePtx(source: string, arch: number): {ptx, log, architecture, nvrtcVersion}; throws on a CPU build
void RegisterCuda(Napi::Env env, Napi::Object exports);

}  // namespace ncb
