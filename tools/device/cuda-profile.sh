#!/usr/bin/env bash
# On the GPU machine: the 7B decode/prefill benchmark with per-kernel times (PALU_CUDA_PROFILE=1), then without.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
[ -d $W/llama7b ] || python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "model" | tail -2
PALU_CUDA_PROFILE=1 palu bench decode --model $W/llama7b --device cuda --context 1024 --batch 1,8 --steps 8 2>&1 | grep -E "context|profile" | head -24
PALU_CUDA_PROFILE=1 palu bench prefill --model $W/llama7b --device cuda --tokens 4096 --reps 1 2>&1 | grep -E "prefill|profile" | head -12
palu bench decode --model $W/llama7b --device cuda --context ${CTX:-1024,16384,65536} --batch 1,8 --steps 16 --json > $OUT/palu-decode.json 2>$OUT/palu-decode.err; grep context $OUT/palu-decode.err
palu bench prefill --model $W/llama7b --device cuda --tokens 512,4096 --reps 3 --json > $OUT/palu-prefill.json 2>$OUT/palu-prefill.err; grep prefill $OUT/palu-prefill.err
palu bench decode --model $W/llama7b-palu --device cuda --context 1024,16384 --batch 1 --steps 8 --json > $OUT/palu-latent.json 2>$OUT/palu-latent.err; grep context $OUT/palu-latent.err
