#!/usr/bin/env bash
# Perplexity of Palu-compressed models at several keep ratios and group sizes (M-LRD / G-LRD / J-LRD), uniform ranks.
# usage: bench/scripts/palu-table.sh MODEL_DIR "GROUP_SIZES" [OUT_DIR] [MAX_WINDOWS]
#   e.g. bench/scripts/palu-table.sh ../shared/models/tiny "1 3"
# Prints one line per run: model keep s realized_keep kv_bytes_per_token ppl tokens seconds; JSON kept in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$1; GROUP_SIZES=$2; OUT=${3:-/tmp/palu-table}; MAXW=${4:-}
DATA=${DATA:-../shared/data/wikitext-2-raw/wiki.test.raw}
CALIB=${CALIB:-../shared/data/calib/corpus-train-2M.txt}
SAMPLES=${SAMPLES:-64}; SEQ=${SEQ:-1024}
name=$(basename "$MODEL"); mkdir -p "$OUT"
win=(); [ -n "$MAXW" ] && win=(--max-windows "$MAXW")
./palu eval ppl --model "$MODEL" --data "$DATA" --seq-len 1024 "${win[@]}" --json > "$OUT/$name-dense.json"
dense_kv=$(./palu inspect --model "$MODEL" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kv_bytes_per_token"])')
python3 - "$OUT/$name-dense.json" "$name" "$dense_kv" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); print(f"{sys.argv[2]} dense - 1.0 {sys.argv[3]} {j['ppl']:.4f} {j['tokens']} {j['seconds']}")
PY
for s in $GROUP_SIZES; do
  for keep in 1.0 0.7 0.5 0.3; do
    dir="$OUT/$name-s$s-k$keep"
    ./palu compress --model "$MODEL" --out "$dir" --kv-keep "$keep" --group-size "$s" --calib "$CALIB" \
      --calib-samples "$SAMPLES" --calib-seq-len "$SEQ" --overwrite --json > "$dir.palu.json"
    ./palu eval ppl --model "$dir" --data "$DATA" --seq-len 1024 "${win[@]}" --json > "$dir.ppl.json"
    kv=$(./palu inspect --model "$dir" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kv_bytes_per_token"])')
    python3 - "$dir" "$name" "$keep" "$s" "$kv" <<'PY'
import json, sys
d, name, keep, s, kv = sys.argv[1:]
m = json.load(open(d + ".palu.json")); j = json.load(open(d + ".ppl.json"))
print(f"{name} {keep} {s} {m['realized_keep']:.4f} {kv} {j['ppl']:.4f} {j['tokens']} {j['seconds']}")
PY
  done
done
