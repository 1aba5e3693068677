#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]): the GPU tests with the default kernels, the op table with the other
# kernel choices (PALU_CUDA_GEMV1/GEMV8/ATTN/FLASH/PDL), then 7B-shape decode and prefill for some choices, and the
# prefill's per-kernel times (PALU_CUDA_PROFILE=1). Leaves the 7B models in $W for cuda-speed.sh (then TESTS=0).
set -uo pipefail
cd "$(dirname "$0")/../.."
bash tools/device/cuda-check.sh 2>&1 | grep -E "Total:|\[FAIL\]|rror|OUTPUT\] (batch|tiny|palu|stories)" | head -30
source tools/device/env.sh
T=".device-carry/gpu-tests/Palu.GpuTests.dll -noColor -method Palu.GpuTests.CudaTests.EveryOpMatchesTheReference"
for v in "PALU_CUDA_PDL=1 PALU_CUDA_FLASH=ldmatrix" "PALU_CUDA_GEMV1=gemv1 PALU_CUDA_GEMV8=gemv8 PALU_CUDA_FLASH=plain PALU_CUDA_ATTN=late"; do
  echo "op table with $v: $(env $v dotnet $T 2>&1 | grep -E "Total:|NMSE [0-9.E+-]+ >" | head -5)"
done
python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "dense model" | tail -1
M="--model $W/llama7b --device cuda"
for v in "PALU_CUDA_PDL=1" "PALU_CUDA_GRAPHS=0"; do
  env $v dotnet .device-carry/cli/Palu.Cli.dll bench decode $M --context 1024 --batch 1,8 --steps 16 2>&1 | grep -E "context|rror" | sed "s/^/$v: /"
done
for v in "PALU_CUDA_FLASH=ldmatrix"; do
  env $v dotnet .device-carry/cli/Palu.Cli.dll bench prefill $M --tokens 512,4096 --reps 2 2>&1 | grep -E "prefill|rror" | sed "s/^/$v: /"
done
PALU_CUDA_PROFILE=1 dotnet .device-carry/cli/Palu.Cli.dll bench prefill $M --tokens 4096 --reps 1 2>&1 | grep -E "prefill|profile" | head -12
