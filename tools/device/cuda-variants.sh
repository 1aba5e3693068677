#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]): the GPU tests with the default kernels, the op table with each other
# kernel choice (PALU_CUDA_GEMV1/GEMV8/ATTN/FLASH), then the 7B-shape decode and prefill for each choice, to pick
# the defaults. Every output file is packed into $OUT/results.tgz.
set -uo pipefail
cd "$(dirname "$0")/../.."
bash tools/device/cuda-check.sh 2>&1 | grep -E "Total:|FAIL|\[FAIL\]|rror|OUTPUT\] (batch|tiny|palu|stories)" | head -30
source tools/device/env.sh
T=".device-carry/gpu-tests/Palu.GpuTests.dll -noColor -method Palu.GpuTests.CudaTests.EveryOpMatchesTheReference"
for v in "PALU_CUDA_GEMV1=gemvm4 PALU_CUDA_GEMV8=gemvs4 PALU_CUDA_ATTN=late PALU_CUDA_FLASH=plain" \
         "PALU_CUDA_GEMV1=gemvs2 PALU_CUDA_GEMV8=gemv8" "PALU_CUDA_GEMV1=gemvs4 PALU_CUDA_GEMV8=gemvm2" "PALU_CUDA_GEMV1=gemvm2 PALU_CUDA_GEMV8=gemvs2"; do
  echo "op table with $v: $(env $v dotnet $T 2>&1 | grep -E "Total:|NMSE [0-9.E+-]+ >" | head -5)"
done
python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "dense model" | tail -1
M="--model $W/llama7b --device cuda"
for g in gemv1 gemvs2 gemvs4 gemvm2 gemvm4; do
  PALU_CUDA_GEMV1=$g palu bench decode $M --context 1024 --batch 1 --steps 32 2>&1 | grep context | sed "s/^/gemv1=$g /"
done
for g in gemv8 gemvs2 gemvs4 gemvm2 gemvm4; do
  PALU_CUDA_GEMV8=$g palu bench decode $M --context 1024 --batch 8 --steps 16 2>&1 | grep context | sed "s/^/gemv8=$g /"
done
PALU_CUDA_GEMV1=gemv1 PALU_CUDA_GEMV8=gemvs2 PALU_CUDA_GRAPHS=0 palu bench decode $M --context 1024 --batch 1,8 --steps 16 2>&1 | grep context | sed "s/^/no graphs /"
for a in early late; do
  PALU_CUDA_ATTN=$a palu bench decode $M --context 16384,65536 --batch 1,8 --steps 8 2>&1 | grep context | sed "s/^/attn=$a /"
done
for f in prefetch plain; do for c in 512 4096; do
  PALU_CUDA_FLASH=$f PALU_CUDA_PREFILL_CHUNK=$c palu bench prefill $M --tokens 512,4096 --reps 2 2>&1 | grep prefill | sed "s/^/flash=$f chunk=$c /"
done; done
(cd $OUT && tar czf /tmp/results.tgz . && find . -type f -delete && mv /tmp/results.tgz .)
