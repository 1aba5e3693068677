#!/usr/bin/env bash
# The main job on the model that ships with ../shared: inspect tiny, measure its perplexity, compress its KV cache
# with Palu (50% of KV rank kept), measure again, and generate from both. Outputs go to ./out/.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
MODEL=${MODEL:-../shared/models/tiny}
DATA=${DATA:-../shared/data/wikitext-2-raw/wiki.test.raw}
CALIB=${CALIB:-../shared/data/calib/corpus-train-2M.txt}
OUT=${OUT:-out/tiny-palu-k0.5}
mkdir -p out
echo "== inspect $MODEL"; ./palu inspect --model "$MODEL"
echo "== perplexity, dense KV cache (first 100 windows of 1024)"
./palu eval ppl --model "$MODEL" --data "$DATA" --seq-len 1024 --max-windows 100 --json | tee out/ppl-dense.json
echo "== compress: Palu M-LRD, keep 0.5 of KV rank, whitened SVD calibrated on 64 x 1024 tokens"
./palu compress --model "$MODEL" --out "$OUT" --kv-keep 0.5 --group-size 1 --calib "$CALIB" \
  --calib-samples 64 --calib-seq-len 1024 --overwrite
./palu inspect --model "$OUT" --json | grep -E '"kv_(values|bytes)_per_token' || true
echo "== perplexity, latent KV cache"
./palu eval ppl --model "$OUT" --data "$DATA" --seq-len 1024 --max-windows 100 --json | tee out/ppl-palu.json
echo "== generate"
./palu generate --model "$MODEL" --prompt "The history of the city" --max-tokens 40
./palu generate --model "$OUT" --prompt "The history of the city" --max-tokens 40
