#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]): the GPU tests, the op table with programmatic dependent launch
# (PALU_CUDA_PDL=1), then the 7B-shape decode without CUDA graphs (PALU_CUDA_GRAPHS=0), with PDL, without GEMV fusion
# (PALU_CUDA_FUSE_GEMV=0; the GPU tests run again that way if they failed), other one-row GEMVs (PALU_CUDA_GEMV, also
# under PDL; PALU_CUDA_GEMV_EVEN=1: every block walks as many row groups), prefill in 512-row
# chunks (PALU_CUDA_PREFILL_CHUNK=512), and the prefill's per-kernel times (PALU_CUDA_PROFILE=1). Leaves the 7B models
# in $W for cuda-speed.sh (run it next with TESTS=0).
set -uo pipefail
cd "$(dirname "$0")/../.."
bash tools/device/cuda-check.sh 2>&1 | grep -E "Total:|\[FAIL\]|rror|OUTPUT\] (batch|tiny|palu|stories)" | head -30
source tools/device/env.sh
grep -q "Failed: [1-9]" $OUT/gpu-tests.log && echo "again without GEMV fusion: $(PALU_SHARED=$PWD/.device-carry/shared PALU_CUDA_FUSE_GEMV=0 dotnet .device-carry/gpu-tests/Palu.GpuTests.dll -noColor 2>&1 | grep -E "Total:|\[FAIL\]")"
T=".device-carry/gpu-tests/Palu.GpuTests.dll -noColor -method Palu.GpuTests.CudaTests.EveryOpMatchesTheReference"
echo "op table with PALU_CUDA_PDL=1: $(PALU_CUDA_PDL=1 dotnet $T 2>&1 | grep -E "Total:|NMSE [0-9.E+-]+ >" | head -5)"
[ -d $W/llama7b-palu ] || python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "dense model" | tail -1
M="--model $W/llama7b --device cuda"
# PDL with fewer GEMV blocks per multiprocessor: at 4 (the default) the next kernel's blocks find no room to start
# early, so its weight prefetch before griddepcontrol.wait cannot overlap the current kernel's tail
for v in "PALU_CUDA_GRAPHS=0" "PALU_CUDA_PDL=1" "PALU_CUDA_FUSE_GEMV=0" "PALU_CUDA_GEMV=split" "PALU_CUDA_GEMV=t2:4" \
         "PALU_CUDA_GEMV_EVEN=1" "PALU_CUDA_GEMV=t4:5" "PALU_CUDA_GEMV=t4:2" "PALU_CUDA_PDL=1 PALU_CUDA_GEMV=t4:2" "PALU_CUDA_PDL=1 PALU_CUDA_GEMV=t4:3" "PALU_CUDA_PDL=1 PALU_CUDA_GEMV=t2:3"; do
  env $v dotnet .device-carry/cli/Palu.Cli.dll bench decode $M --context 1024 --batch 1,8 --steps 16 2>&1 | grep -E "context|rror" | sed "s/^/$v: /"
done
PALU_CUDA_PREFILL_CHUNK=512 dotnet .device-carry/cli/Palu.Cli.dll bench prefill $M --tokens 4096 --reps 2 2>&1 | grep -E "prefill|rror" | sed "s/^/PALU_CUDA_PREFILL_CHUNK=512: /"
PALU_CUDA_PROFILE=1 dotnet .device-carry/cli/Palu.Cli.dll bench prefill $M --tokens 4096 --reps 1 2>&1 | grep -E "prefill|profile" | head -12
