#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]): builds a random Llama-2-7B-shape model (and a Palu keep-0.5 variant of
# it), then measures palu bench decode/prefill on it and transformers on the same weights, one after the other.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
CTX=${CTX:-1024,16384,65536}
python3 tools/device/make_llama7b.py $W 2>&1 | grep -v Warning | tail -3
nvidia-smi --query-gpu=memory.used --format=csv,noheader
/usr/bin/time -v dotnet .device-carry/cli/Palu.Cli.dll bench decode --model $W/llama7b --device cuda --context $CTX --batch 1,8 --steps 16 --json > $OUT/palu-decode.json 2> $OUT/palu-decode.err
grep -E "context|Maximum resident|Elapsed" $OUT/palu-decode.err
palu bench prefill --model $W/llama7b --device cuda --tokens 512,4096 --reps 3 --json > $OUT/palu-prefill.json 2> $OUT/palu-prefill.err; grep prefill $OUT/palu-prefill.err
palu bench decode --model $W/llama7b-palu --device cuda --context 1024,16384 --batch 1 --steps 8 --json > $OUT/palu-latent-decode.json 2> $OUT/palu-latent-decode.err; grep -E "context|rror" $OUT/palu-latent-decode.err | tail -3
python3 tools/device/torch_bench.py $W/llama7b --context $CTX --batch 1,8 --steps 16 --prefill 512,4096 > $OUT/torch.json 2> $OUT/torch.err; grep -vE "Warning|warn" $OUT/torch.err | tail -8
[ -n "${COMPILE:-}" ] && { timeout 240 python3 tools/device/torch_bench.py $W/llama7b --context 1024 --batch 1 --steps 16 --compile > $OUT/torch-compile.json 2> $OUT/torch-compile.err; tail -3 $OUT/torch-compile.err; }
