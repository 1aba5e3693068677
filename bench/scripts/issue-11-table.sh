#!/usr/bin/env bash
# Issue 11 closing-note table: WikiText-2 (or any text) perplexity of Palu G-LRD (uniform, fisher_uniform) and the four
# ReCalKV variants at keep 0.5 and 0.3, with realised keep, KV bytes per token and compression seconds.
# usage: bench/scripts/issue-11-table.sh MODEL_DIR GROUP_SIZE [OUT_DIR] [MAX_WINDOWS]
#   e.g. bench/scripts/issue-11-table.sh /work/main/.foundry/out/models/small 4 /tmp/i11-small 40
# env: DATA (eval text, WikiText-2 test), EVAL_SEQ (1024), CALIB (calibration text), SAMPLES/SEQ (whitening calibration,
#      64 × 1024), FISHER_SAMPLES (64, × SEQ tokens), OVC (OVC windows, 64 × SEQ), KEEPS ("0.5 0.3"),
#      EXTRA ("dense-ovc": also ReCalKV full with --ovc-activations dense)
# Prints one markdown row per run; palu.json and ppl JSON kept in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$1; GS=$2; OUT=${3:-/tmp/issue-11-table}; MAXW=${4:-}
DATA=${DATA:-../shared/data/wikitext-2-raw/wiki.test.raw}
EVAL_SEQ=${EVAL_SEQ:-1024}
CALIB=${CALIB:-../shared/data/calib/corpus-train-2M.txt}
SAMPLES=${SAMPLES:-64}; SEQ=${SEQ:-1024}; FISHER_SAMPLES=${FISHER_SAMPLES:-64}; OVC=${OVC:-64}
KEEPS=${KEEPS:-"0.5 0.3"}; EXTRA=${EXTRA:-}
PALU=${PALU:-./palu}   # a frozen copy (dotnet DIR/Palu.Cli.dll) keeps a long run safe from rebuilds
name=$(basename "$MODEL"); mkdir -p "$OUT"
win=(); [ -n "$MAXW" ] && win=(--max-windows "$MAXW")
common=(--group-size "$GS" --calib "$CALIB" --calib-samples "$SAMPLES" --calib-seq-len "$SEQ" --fisher-samples "$FISHER_SAMPLES"
        --fisher-seq-len "$SEQ" --overwrite --json)

$PALU eval ppl "$MODEL" --data "$DATA" --seq-len "$EVAL_SEQ" "${win[@]}" --json > "$OUT/$name-dense.ppl.json"
kv=$($PALU inspect "$MODEL" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kv_bytes_per_token"])')
echo "| model | method | keep | realised keep | KV B/token | ppl | Δ vs dense | compress s (HSR s, OVC s) |"
echo "|---|---|---|---|---|---|---|---|"
python3 - "$OUT/$name-dense.ppl.json" "$name" "$kv" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); print(f"| {sys.argv[2]} | dense | 1.0 | 1.0 | {sys.argv[3]} | {j['ppl']:.2f} | – | – |")
PY

run() {   # run LABEL KEEP ARGS...
  local label=$1 keep=$2; shift 2
  local dir="$OUT/$name-$label-k$keep"
  $PALU compress "$MODEL" --out "$dir" --kv-keep "$keep" "${common[@]}" "$@" > "$dir.palu.json"
  $PALU eval ppl "$dir" --data "$DATA" --seq-len "$EVAL_SEQ" "${win[@]}" --json > "$dir.ppl.json"
  local kvb; kvb=$($PALU inspect "$dir" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kv_bytes_per_token"])')
  python3 - "$dir" "$name" "$label" "$keep" "$kvb" "$OUT/$name-dense.ppl.json" <<'PY'
import json, sys
d, name, label, keep, kv, dense = sys.argv[1:]
m = json.load(open(d + ".palu.json")); j = json.load(open(d + ".ppl.json")); base = json.load(open(dense))["ppl"]
rc = m["kv"].get("recalkv")
t = f"{m['seconds']:.1f}" + (f" ({rc['hsr_seconds']:.2f}, {rc['ovc_seconds']:.1f})" if rc else "")
print(f"| {name} | {label} | {keep} | {m['kv']['realized_keep']:.4f} | {kv} | {j['ppl']:.2f} | {100 * (j['ppl'] / base - 1):+.2f} % | {t} |", flush=True)
PY
}

for keep in $KEEPS; do
  run palu-uniform "$keep" --method palu --rank-allocation uniform
  run palu-fisher_uniform "$keep" --method palu --rank-allocation fisher_uniform
  for v in full reorder-only calibrate-only baseline; do
    run "recalkv-$v" "$keep" --method recalkv --method-variant "$v" --ovc-samples "$OVC"
  done
  if [[ " $EXTRA " == *" dense-ovc "* ]]; then
    run recalkv-full-dense-ovc "$keep" --method recalkv --ovc-activations dense --ovc-samples "$OVC"
  fi
done
