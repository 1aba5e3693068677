#!/usr/bin/env bash
# Reproduces the numbers of README.md's "Measured" section. For each, it prints the command, the value it gives now and
# the README's value. Quality numbers (perplexity, bytes, error bounds) must equal the README's at its printed precision;
# speeds are printed beside their command, not compared (they depend on the machine and its load): pass --timings to
# run them too (a quiet machine is needed for numbers worth writing down).
# usage: bench/scripts/check-readme-numbers.sh [--timings]     (~5 min on 2 cores; outputs in $OUT, default a temp dir)
# exit: 0 every quality number matches, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
timings=0; [ "${1:-}" = --timings ] && timings=1
SHARED=${SHARED:-../shared}
TINY=$SHARED/models/tiny; STORIES=$SHARED/models/stories260k
WIKI=$SHARED/data/wikitext-2-raw/wiki.test.raw; CALIB=$SHARED/data/calib/corpus-train-2M.txt
OUT=${OUT:-$(mktemp -d /tmp/readme-numbers.XXXXXX)}
export PALU_CACHE_DIR=$OUT/cache   # compute the Fisher pass here rather than reuse a cached file
./palu --version >/dev/null        # builds the CLI if needed, before anything is timed or printed
dotnet build -c Release -v q -nologo bench/Palu.Bench >/dev/null
bench() { dotnet bench/Palu.Bench/bin/Release/net10.0/Palu.Bench.dll "$@"; }
fails=0

# run CMD...: prints "$ CMD" on stderr, then runs it with its stderr (progress) out of the way
run() { echo "\$ $*" >&2; "$@" 2>>"$OUT/stderr.log"; }
# field NAME: one field of the JSON object on stdin
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# same WHAT README_VALUE GOT: equal once GOT is rounded to README_VALUE's decimals
same() {
  if python3 -c 'import sys; e,g=sys.argv[1],float(sys.argv[2]); d=len(e.split(".")[1]) if "." in e else 0; sys.exit(0 if round(g,d)==float(e) else 1)' "$2" "$3"
  then echo "  ok        $1: $3 (README $2)"
  else echo "  MISMATCH  $1: $3 (README $2)"; fails=$((fails + 1)); fi
}
# atmost WHAT README_BOUND GOT
atmost() {
  if python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) <= float(sys.argv[1]) else 1)' "$2" "$3"
  then echo "  ok        $1: $3 (README ≤ $2)"
  else echo "  MISMATCH  $1: $3 (README ≤ $2)"; fails=$((fails + 1)); fi
}
ppl() { run ./palu eval ppl "$1" --data "$WIKI" --seq-len 1024 --json | field ppl; }

echo "== Exactness"
golden=$(run bench golden --model "$TINY" --model "$STORIES")
echo "$golden" | sed 's/^/  /'
worst=$(echo "$golden" | sed -E 's/.*= ([0-9.E+-]+) over.*/\1/' | sort -g | tail -1)
atmost "golden logits, max|Δ|/max|golden| over tiny and stories260k" 2.3e-6 "$worst"
same "tiny WikiText-2 ppl, whole file, seq-len 1024" 112.20941 "$(ppl "$TINY")"
same "tiny golden WikiText-2 ppl (transformers, golden/perplexity.json)" 112.20942 "$(field ppl < <(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["wikitext2_test"]))' "$TINY/golden/perplexity.json"))"
for dt in bf16:112.2081 f16:112.2090; do
  same "tiny WikiText-2 ppl with --kv-dtype ${dt%%:*}" "${dt#*:}" "$(run ./palu eval ppl "$TINY" --data "$WIKI" --seq-len 1024 --kv-dtype "${dt%%:*}" --json | field ppl)"
done
run dotnet test tests/Palu.Tests -c Release --no-build -nologo --filter "FullyQualifiedName~Palu.Tests.Text.SharedGoldenTests|FullyQualifiedName~Palu.Tests.Text.FixtureGoldenTests" \
  | grep -E "Passed!|Failed!" | sed 's/^/  /'

echo "== Palu on tiny, WikiText-2 ppl (whole file, seq-len 1024), calibration 64 × 1024 tokens of corpus-train-2M.txt, seed 3"
same "dense KV bytes/token (f32)" 6144 "$(run ./palu inspect "$TINY" --json | field kv_bytes_per_token)"
for s in 1 3; do
  run ./palu compress "$TINY" --out "$OUT/tiny-s$s" --kv-keep 0.5 --group-size "$s" --calib "$CALIB" --calib-samples 64 --calib-seq-len 1024 --overwrite >/dev/null
done
same "keep 0.5, M-LRD (--group-size 1)" 127.53 "$(ppl "$OUT/tiny-s1")"
same "keep 0.5, J-LRD (--group-size 3)" 114.86 "$(ppl "$OUT/tiny-s3")"
same "keep 0.5 KV bytes/token (f32)" 3072 "$(run ./palu inspect "$OUT/tiny-s1" --json | field kv_bytes_per_token)"
run ./palu compress "$TINY" --out "$OUT/tiny-s1-fisher" --kv-keep 0.5 --group-size 1 --rank-allocation fisher --calib "$CALIB" \
  --calib-samples 64 --calib-seq-len 1024 --fisher-samples 128 --fisher-seq-len 1024 --overwrite >/dev/null
same "keep 0.5, M-LRD, --rank-allocation fisher (Fisher 128 × 1024)" 116.09 "$(ppl "$OUT/tiny-s1-fisher")"

if [ "$timings" = 1 ]; then
  echo "== Speed (not compared: machine-dependent)"
  run bench tokens --model "$TINY" --model "$OUT/tiny-s1" --prompt 512 --gen 128 | sed 's/^/  /'
  run bench linalg --sizes 2048 --ops svd | sed 's/^/  /'
else
  echo "== Speed: not run (pass --timings on a quiet machine); commands:"
  echo "  dotnet run -c Release --project bench/Palu.Bench -- tokens --model $TINY --model $OUT/tiny-s1 --prompt 512 --gen 128"
  echo "  dotnet run -c Release --project bench/Palu.Bench -- linalg --sizes 2048 --ops svd"
fi

echo "outputs in $OUT; $fails mismatch(es)"
[ "$fails" = 0 ]
