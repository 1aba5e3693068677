#!/usr/bin/env bash
# On the GPU machine: the GPU tests, then palu's 7B-shape decode/prefill benchmark (the transformers side is
# tools/device/torch_bench.py, run by cuda-bench.sh).
cd "$(dirname "$0")/../.."
bash tools/device/cuda-check.sh 2>&1 | grep -vE "OUTPUT\] (MatMul|Embed|Add|Rms|Rope|Swi|Gather|Copy|Attention|Latent)"
source tools/device/env.sh
python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "model" | tail -2
palu bench decode --model $W/llama7b --device cuda --context 1024,16384,65536 --batch 1,8 --steps 16 --json > $OUT/palu-decode.json 2>$OUT/palu-decode.err; grep context $OUT/palu-decode.err
palu bench prefill --model $W/llama7b --device cuda --tokens 512,4096 --reps 3 --json > $OUT/palu-prefill.json 2>$OUT/palu-prefill.err; grep prefill $OUT/palu-prefill.err
palu bench decode --model $W/llama7b-palu --device cuda --context 1024,16384 --batch 1 --steps 8 --json > $OUT/palu-latent.json 2>$OUT/palu-latent.err; grep context $OUT/palu-latent.err
(cd $OUT && tar czf /tmp/results.tgz . && find . -type f -delete && mv /tmp/results.tgz .)
