#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]): palu and transformers on the 7B shape at 1K context, batch 1 and 8, in
# one run: palu, transformers eager, then transformers under torch.compile (batch 1) in each mode of MODES (default: "default"
# = inductor without CUDA graphs, then reduce-overhead), each capped at COMPILE_S seconds. Contexts and batches:
# CTX and BATCH for palu and eager transformers (1024; 1,8), CCTX and CBATCH for the compiled runs (1024; 1);
# EAGER=0 leaves the eager run out.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
[ -d $W/llama7b ] || python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "model" | tail -2
python3 tools/device/floors.py 2>/dev/null
palu bench decode --model $W/llama7b --device cuda --context ${CTX:-1024} --batch ${BATCH:-1,8} --steps 16 2>&1 | grep -E "context|rror"
if [ "${EAGER:-1}" = 1 ]; then
  python3 tools/device/torch_bench.py $W/llama7b --context ${CTX:-1024} --batch ${BATCH:-1,8} --steps 16 > $OUT/torch-eager.json 2>/dev/null; cat $OUT/torch-eager.json; echo
fi
for m in ${MODES:-default reduce-overhead}; do
  s=$(date +%s)
  TORCHINDUCTOR_COMPILE_THREADS=16 timeout ${COMPILE_S:-220} python3 tools/device/torch_bench.py $W/llama7b --context ${CCTX:-1024} --batch ${CBATCH:-1} --steps 16 --compile --compile-mode $m > $OUT/torch-$m.json 2> $OUT/torch-$m.err
  echo "torch.compile $m: rc $?, $(( $(date +%s) - s )) s"; cat $OUT/torch-$m.json; echo; grep -E "warm-up|Error|^\{" $OUT/torch-$m.err | grep -v Warning | tail -8
done
palu bench decode --model $W/llama7b --device cuda --context ${CTX:-1024} --batch ${BATCH:-1,8} --steps 16 2>&1 | grep -E "context|rror"
