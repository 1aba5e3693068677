#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]), one call for a session's closing numbers: the GPU tests and the decode
# switches being compared (cuda-variants.sh), then the side-by-side with transformers (cuda-speed.sh, TORCH=1). If a
# GPU test failed, the speed run turns the newest fusion off (PALU_CUDA_FUSE_GLU=0) and says so.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
VARIANTS=${VARIANTS:-default PALU_CUDA_FUSE_GLU=0 default} bash tools/device/cuda-variants.sh
grep -q "Failed: 0," $OUT/gpu-tests.log || { export PALU_CUDA_FUSE_GLU=0; echo "a GPU test failed: the speed run below has PALU_CUDA_FUSE_GLU=0"; }
TESTS=0 TORCH=1 bash tools/device/cuda-speed.sh
