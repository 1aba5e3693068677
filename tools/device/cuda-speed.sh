#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"], made by prepare-carry.sh): the GPU tests (TESTS=0 skips them), the
# floors (copy bandwidth, bf16 matrix rate), palu's 7B-shape decode and prefill, the Palu latent model, with PROFILE=1
# the per-kernel wall times of a 16K batch-8 step, with TORCH=1 transformers on the same weights (eager), with COMPILE=1
# transformers under torch.compile (batch 1, 1K; COMPILE_S caps it). Every output file is packed into $OUT/results.tgz.
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "${TESTS:-1}" = 1 ] && bash tools/device/cuda-check.sh 2>&1 | grep -vE "OUTPUT\] (MatMul|Embed|Add|Rms|Rope|Swi|Gather|Copy|Attention|Latent)"
source tools/device/env.sh
python3 tools/device/floors.py > $OUT/floors.json 2>/dev/null; cat $OUT/floors.json
[ -d $W/llama7b-palu ] || python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "model" | tail -2
CTX=${CTX:-1024,16384,65536}
palu bench decode --model $W/llama7b --device cuda --context $CTX --batch 1,8 --steps 16 --json > $OUT/palu-decode.json 2>$OUT/palu-decode.err; grep -E "context|rror" $OUT/palu-decode.err
palu bench prefill --model $W/llama7b --device cuda --tokens 512,4096 --reps 3 --json > $OUT/palu-prefill.json 2>$OUT/palu-prefill.err; grep -E "prefill|rror" $OUT/palu-prefill.err
palu bench decode --model $W/llama7b-palu --device cuda --context 1024,16384 --batch 1 --steps 8 --json > $OUT/palu-latent.json 2>$OUT/palu-latent.err; grep -E "context|rror" $OUT/palu-latent.err
[ -n "${PROFILE:-}" ] && PALU_CUDA_PROFILE=1 palu bench decode --model $W/llama7b --device cuda --context 16384 --batch 8 --steps 4 2>&1 | grep -E "context|profile|calls" | head -16
if [ -n "${TORCH:-}" ]; then
  python3 tools/device/torch_bench.py $W/llama7b --context $CTX --batch 1,8 --steps 16 --prefill 512,4096 > $OUT/torch.json 2> $OUT/torch.err; grep -vE "Warning|warn" $OUT/torch.err | tail -12
fi
# torch.compile (reduce-overhead) at batch 1, 1K: compiling the 7B shape took longer than 170 s on the H200
if [ -n "${COMPILE:-}" ]; then
  TORCHINDUCTOR_COMPILE_THREADS=16 timeout ${COMPILE_S:-400} python3 tools/device/torch_bench.py $W/llama7b --context 1024 --batch 1 --steps 16 --compile > $OUT/torch-compile.json 2> $OUT/torch-compile.err; echo "torch.compile: rc $?"; cat $OUT/torch-compile.json
fi
(cd $OUT && tar czf /tmp/results.tgz . && find . -type f -delete && mv /tmp/results.tgz .)
