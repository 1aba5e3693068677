#!/usr/bin/env bash
# Issue 10's closing-note table: WikiText-2 perplexity (seq-len 1024, bos-windows) of Palu + latent quantisation
# (keep ∈ {0.7, 0.5} × bits ∈ {16, 8, 4, 3, 2} × Hadamard off/on) and of the KIVI baseline (2 and 4 bits), each with
# its KV bytes per token as stored (measured from the cache layout: codes + f16 scales + f16 zero-points) and the
# paper's accounting 1 − ρ·b/16 (scales excluded).
# usage: bench/scripts/issue-10-table.sh MODEL_DIR [OUT_DIR] [MAX_WINDOWS]
#   PALU='dotnet /tmp/cli/Palu.Cli.dll' to run a frozen build while the sources change.
# Cells run most important first (keep 0.7/0.5 at 16/4/3/2 bits, Hadamard off/on, then KIVI-4/2, then 8 bits), one
# evaluation at a time; one line per cell (a markdown table row) on stdout as it finishes, JSON kept in OUT_DIR.
# The factors do not depend on the bits: each (keep, Hadamard) pair is compressed once with `palu compress`, and the
# other bit widths are the same checkpoint with "bits" set in palu.json's kv_latent modules — exactly what
# `palu compress --kv-bits B` writes (the compressor's only change for B is that field).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$1; OUT=${2:-/tmp/issue-10-table}; MAXW=${3:-}
PALU=${PALU:-./palu}
DATA=${DATA:-../shared/data/wikitext-2-raw/wiki.test.raw}
CALIB=${CALIB:-../shared/data/calib/corpus-train-2M.txt}
SAMPLES=${SAMPLES:-64}
name=$(basename "$MODEL"); mkdir -p "$OUT"
win=(); [ -n "$MAXW" ] && win=(--max-windows "$MAXW")

row() {   # row LABEL KEEP BITS HADAMARD JSON
  python3 - "$@" <<'PY'
import json, sys
label, keep, bits, had, path = sys.argv[1:]
j = json.load(open(path))
paper = "" if keep == "-" else f"{1 - float(keep) * int(bits) / 16:.2%}"
print(f"| {label} | {keep} | {bits} | {had} | {j['kv_bytes_per_token']} | {paper} | {j['ppl']:.4f} | {j['windows']} |", flush=True)
PY
}

ppl() { $PALU eval ppl --model "$1" --data "$DATA" --seq-len 1024 "${win[@]}" --json "${@:2}"; }

echo "| model | keep | bits | hadamard | KV bytes/token (stored, measured) | paper 1 − ρ·b/16 | ppl | windows |"
echo "|---|---|---|---|---|---|---|---|"
ppl "$MODEL" > "$OUT/$name-dense.json"; row "$name dense" - 16 - "$OUT/$name-dense.json"

variant() {   # variant KEEP HADAMARD(on|off) BITS: the compressed dir with bits set
  local base="$OUT/$name-k$1-h$2" dir="$OUT/$name-k$1-h$2-b$3"
  if [ ! -d "$base" ]; then
    local h=(); [ "$2" = on ] && h=(--hadamard)
    $PALU compress --model "$MODEL" --out "$base" --kv-keep "$1" "${h[@]}" --calib "$CALIB" --calib-samples "$SAMPLES" \
      --calib-seq-len 1024 --overwrite --json > "$base.palu.json"
  fi
  if [ "$3" = 16 ]; then echo "$base"; return; fi
  rm -rf "$dir"; mkdir -p "$dir"
  for f in "$base"/*; do ln -s "$f" "$dir/$(basename "$f")"; done
  rm "$dir/palu.json"
  python3 - "$base/palu.json" "$dir/palu.json" "$3" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
for m in p["modules"]:
    if m["kind"] == "kv_latent": m["bits"] = int(sys.argv[3])
json.dump(p, open(sys.argv[2], "w"), indent=2)
PY
  echo "$dir"
}

cell() {   # cell KEEP BITS HADAMARD
  local dir; dir=$(variant "$1" "$3" "$2")
  ppl "$dir" > "$dir.ppl.json" && row "$name Palu" "$1" "$2" "$3" "$dir.ppl.json"
}

kivi() {   # kivi BITS
  if $PALU eval ppl --help 2>/dev/null | grep -q -- --kv-quant; then
    ppl "$MODEL" --kv-quant "kivi$1" --kv-residual 128 > "$OUT/$name-kivi$1.json" && row "$name KIVI-$1 (residual 128)" - "$1" - "$OUT/$name-kivi$1.json"
  else echo "| $name KIVI-$1 | - | $1 | - | (this build has no --kv-quant) | | | |"; fi
}

for keep in 0.7 0.5; do
  cell $keep 16 off
  for bits in 4 3 2; do cell $keep $bits off; cell $keep $bits on; done
done
kivi 4; kivi 2
for keep in 0.7 0.5; do cell $keep 8 off; cell $keep 8 on; cell $keep 16 on; done
