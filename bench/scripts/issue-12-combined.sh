#!/usr/bin/env bash
# Issue 12: one model with KV (Palu) and weights (SkipCat) compressed, beside each alone and the dense model:
# perplexity, KV bytes per token, weight bytes, decode/prefill tok/s (measured side by side, interleaved).
# usage: bench/scripts/issue-12-combined.sh MODEL WORKDIR [--kv-keep 0.5] [--weights-keep 0.8] [--calib-samples 64]
#        [--calib-seq-len 1024] [--max-windows N] [--kv-bits B]   (PALU / BENCH override the commands)
set -euo pipefail
# one OpenBLAS thread per process: on a loaded machine its spinning worker threads made the decompositions ~5x slower
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
MODEL=$1; WORK=$2; shift 2
KV=0.5; WK=0.8; SAMPLES=64; SEQ=1024; MAXW=""; BITS=""
while [ $# -gt 0 ]; do
  case $1 in
    --kv-keep) KV=$2;; --weights-keep) WK=$2;; --calib-samples) SAMPLES=$2;; --calib-seq-len) SEQ=$2;;
    --max-windows) MAXW="--max-windows $2";; --kv-bits) BITS="--kv-bits $2";; *) echo "unknown option $1" >&2; exit 2;;
  esac; shift 2
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PALU=${PALU:-$ROOT/palu}; BENCH=${BENCH:-dotnet run -c Release --project $ROOT/bench/Palu.Bench --}
mkdir -p "$WORK"; name=$(basename "$MODEL")
common="--calib-samples $SAMPLES --weights-calib-samples $SAMPLES --calib-seq-len $SEQ --overwrite"
$PALU compress "$MODEL" --out "$WORK/$name-kv" --kv-keep "$KV" $BITS $common 2>/dev/null
$PALU compress "$MODEL" --out "$WORK/$name-w" --weights-keep "$WK" --weights-method skipcat $common 2>/dev/null
$PALU compress "$MODEL" --out "$WORK/$name-kv-w" --kv-keep "$KV" $BITS --weights-keep "$WK" --weights-method skipcat $common 2>/dev/null
echo "| model | WikiText-2 ppl | KV bytes/token | weight bytes (file) | weight bytes read/token | parameters | parameters_dense |"
echo "|---|---|---|---|---|---|---|"
for m in "$MODEL" "$WORK/$name-kv" "$WORK/$name-w" "$WORK/$name-kv-w"; do
  ppl=$($PALU eval ppl "$m" $MAXW --json 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ppl"], 3))')
  $PALU inspect "$m" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
keys = ["kv_bytes_per_token", "weight_bytes", "decode_weight_bytes_per_token", "parameters", "parameters_dense"]
print("| " + " | ".join([sys.argv[1], sys.argv[2]] + [str(d[k]) for k in keys]) + " |")' "$(basename "$m")" "$ppl"
done
echo
$BENCH tokens --interleave --model "$MODEL" --model "$WORK/$name-kv" --model "$WORK/$name-w" --model "$WORK/$name-kv-w" --prompt 256 --gen 64 --reps 3
