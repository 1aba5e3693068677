#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]): the GPU tests, then the 7B-shape decode at 1K context (batch 1 and 8)
# under switches being compared: PALU_CUDA_FUSE_GLU=0 (the gate and up products apart, the SwiGLU made by the down
# product); VARIANTS overrides the list ("default" is no switch;
# commas join switches), e.g. PALU_CUDA_GEMV=t4:3, PALU_CUDA_GEMV_EVEN=1 or PALU_CUDA_ATTN_CHUNKS=4 (with VCTX=1024,16384:
# the contexts measured, default 1024). NCU=1 ends with the per-kernel times of
# one batch-1 1K step (cuda-ncu.sh). Leaves the 7B model in $W for cuda-speed.sh (run it next with TESTS=0).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
[ -d $W/llama7b ] || { python3 tools/device/make_llama7b.py $W > $OUT/make7b.log 2>&1 & }   # on the GPU while the tests run
if [ "${TESTS:-1}" = 1 ]; then
  PALU_SHARED=$PWD/.device-carry/shared PALU_REPORT_DIR=$OUT dotnet .device-carry/gpu-tests/Palu.GpuTests.dll \
    -parallelAlgorithm conservative -maxThreads 1 -noColor -showLiveOutput > $OUT/gpu-tests.log 2>&1
  grep -E "Total:|\[FAIL\]|NMSE [0-9.E+-]+ >" $OUT/gpu-tests.log | head -20
fi
wait
M="--model $W/llama7b --device cuda"
VARIANTS=${VARIANTS:-default PALU_CUDA_FUSE_GLU=0 default}
for v in $VARIANTS; do
  e=${v//,/ }; [ "$v" = default ] && e=
  env $e dotnet .device-carry/cli/Palu.Cli.dll bench decode $M --context ${VCTX:-1024} --batch 1,8 --steps 24 2>&1 | grep -E "context|rror" | sed "s/^/$v: /"
done
if [ "${NCU:-0}" = 1 ]; then bash tools/device/cuda-ncu.sh 1024 1; fi
