#!/usr/bin/env bash
# Issue 12 closing-note table: WikiText-2 perplexity and zero-shot average of SVD-LLM and SkipCat (Cat only, Skip only,
# Cat+Skip) at several weight keeps, beside the dense model, one evaluation at a time.
# usage: bench/scripts/issue-12-table.sh MODEL WORKDIR [options]
#   --keeps "0.8 0.7 0.6"      weight keeps (0.8 = 20 % of the compressed linears' parameters removed)
#   --calib-samples N          --weights-calib-samples (default 512, the issue's)
#   --calib-seq-len N          --calib-seq-len (default 2048)
#   --max-windows N            score only the first N WikiText-2 windows (default: all)
#   --zs-limit N               score only the first N items of each zero-shot task (default: all)
#   --tasks "piqa arc-easy …"  zero-shot tasks (default: piqa arc-easy arc-challenge openbookqa hellaswag boolq; "" = none)
# Writes WORKDIR/results.tsv (one line per model) and prints a markdown table; compressed models are deleted after
# their evaluation. Grams are computed once per model and cached in WORKDIR/grams (--weights-gram-cache).
set -euo pipefail
# one OpenBLAS thread per process: on a loaded machine its spinning worker threads made the decompositions ~5x slower
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
MODEL=$1; WORK=$2; shift 2
KEEPS="0.8 0.7 0.6"; SAMPLES=512; SEQ=2048; MAXW=""; ZSL=""; TASKS="piqa arc-easy arc-challenge openbookqa hellaswag boolq"
while [ $# -gt 0 ]; do
  case $1 in
    --keeps) KEEPS=$2;; --calib-samples) SAMPLES=$2;; --calib-seq-len) SEQ=$2;; --max-windows) MAXW="--max-windows $2";;
    --zs-limit) ZSL="--limit $2";; --tasks) TASKS=$2;; *) echo "unknown option $1" >&2; exit 2;;
  esac; shift 2
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd); PALU=${PALU:-$ROOT/palu}   # PALU="dotnet /frozen/Palu.Cli.dll": a copy that edits do not rebuild
mkdir -p "$WORK"; OUT="$WORK/results.tsv"
[ -f "$OUT" ] || printf "model\tmethod\tkeep\trealized_keep\tppl\tzs_avg\tzs_tasks\tcompress_s\n" > "$OUT"

evaluate() {   # name method keep realized dir compress_seconds
  local ppl zs
  ppl=$($PALU eval ppl "$5" $MAXW --json 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ppl"], 3))')
  if [ -z "$TASKS" ]; then zs="-	-"; else zs=$(for t in $TASKS; do $PALU eval zeroshot "$5" --task "$t" $ZSL --json 2>/dev/null; done | python3 -c '
import json, sys
dec = json.JSONDecoder(); s = sys.stdin.read(); i = 0; accs = []
while i < len(s):
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    o, i = dec.raw_decode(s, i); accs.append((o["task"], o[o["metric"]]))
print(f"{100 * sum(a for _, a in accs) / len(accs):.2f}\t" + " ".join(f"{t}={100 * a:.1f}" for t, a in accs))'); fi
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$3" "$4" "$ppl" "$zs" "$6" >> "$OUT"
  echo "$(date -u +%H:%M:%S) $1 $2 keep $3: ppl $ppl zs ${zs%%	*}" >&2
}

name=$(basename "$MODEL")
grep -q "^$name	dense	" "$OUT" || evaluate "$name" dense 1 1 "$MODEL" 0
for keep in $KEEPS; do
  for v in "svdllm:--weights-method svdllm" "cat:--weights-method skipcat --no-skip" "skip:--weights-method skipcat --no-cat" "cat+skip:--weights-method skipcat"; do
    m=${v%%:*}; args=${v#*:}
    grep -q "^$name	$m	$keep	" "$OUT" && continue
    dir="$WORK/$name-$m-$keep"; t0=$(date +%s)
    $PALU compress "$MODEL" --out "$dir" --weights-keep "$keep" $args --weights-calib-samples "$SAMPLES" --calib-seq-len "$SEQ" \
        --weights-gram-cache "$WORK/grams" --overwrite --json 2>"$WORK/compress.log" > "$WORK/plan.json"
    realized=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["weights"]["realized_keep"], 4))' "$WORK/plan.json")
    evaluate "$name" "$m" "$keep" "$realized" "$dir" $(( $(date +%s) - t0 ))
    rm -rf "$dir"
  done
done
python3 - "$OUT" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("| model | method | params removed | realised keep | WikiText-2 ppl | zero-shot avg | tasks |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    removed = "0 %" if r["method"] == "dense" else f"{round(100 * (1 - float(r['keep'])))} %"
    print(f"| {r['model']} | {r['method']} | {removed} | {r['realized_keep']} | {r['ppl']} | {r['zs_avg']} | {r['zs_tasks']} |")
PY
