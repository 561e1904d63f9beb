#!/usr/bin/env bash
# One command for a machine with a GPU (issue 18): builds what is missing, then every example program
# on cuda against cpu in float64, the fused CUDA kernels against the unfused steps, a 2-process fit
# summed by NCCL against the same fit summed by Gloo, and the benchmarks
# (2-D heat at 2048 x 2048, gravity at batch 1e7) against PyTorch eager on CUDA, in one report.
#   scripts/gpu-check.sh [--python PATH] [--device cuda:N] [--quick]
# --python: a Python whose torch sees the GPU, for the PyTorch anchor (without it, ours alone).
# Exit status: 0 all passed, 1 a comparison failed, 2 no CUDA device (or a build without CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Release/neural_compiler.node ] || [ ! -f dist/index.js ]; then
  echo "gpu-check: building first (NC_TORCH=cuda npm install makes a CUDA build)" >&2
  npm run build --silent
fi
exec node scripts/gpu-check.js "$@"
