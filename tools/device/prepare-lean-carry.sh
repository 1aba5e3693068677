#!/usr/bin/env bash
# Here (the CPU machine): fills .lean-carry/ (git-ignored) with what a device call needs when it must travel beside
# .foundry (the corpus to train `small`, ~30.5 MB) under the 64 MiB carry limit, and sets up .foundry as
# ../shared/foundry/README.md ("From the project checkout") says. .lean-carry holds
#   palu-linux-x64.tar.xz  the CLI published self-contained for linux-x64 (no dotnet needed on the device), trimmed:
#                          TrimMode=partial trims only the framework's assemblies and keeps ours and the packages'
#                          whole (System.Text.Json and System.CommandLine reach our types by reflection; the CUDA
#                          P/Invokes stay as written); JSON reflection is switched back on; the runtime's debugger,
#                          tracing and alternative-GC libraries are left out
#   data.tar.xz            ../shared/data/{tasks (all), calib/corpus-train-2M.txt, wikitext-2-raw/wiki.test.raw}
#   tiny.tar.xz            ../shared/models/tiny (warms the CUDA kernel cache and checks the GPU path while small trains)
# tools/device/lean-env.sh unpacks them on the device and defines `palu`. Call the device with carry
# [".foundry", ".lean-carry"].
#   --check   also run compress (svdllm; skipcat with --kv-bits 4 --hadamard), eval ppl, eval zeroshot, inspect --json
#             and bench decode on ../shared/models/tiny with the trimmed CLI and with the ordinary build, and compare
#             (the written model files byte for byte; the JSON outputs apart from timings and paths)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
C=.lean-carry
CHECK=0; [ "${1:-}" = --check ] && CHECK=1
rm -rf $C && mkdir -p $C
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

# 1. the CLI, self-contained and trimmed
dotnet publish src/Palu.Cli -c Release -r linux-x64 --self-contained -o "$T/cli" -v q -nologo \
  -p:PublishTrimmed=true -p:TrimMode=partial -p:JsonSerializerIsReflectionEnabledByDefault=true \
  -p:SuppressTrimAnalysisWarnings=true -p:DebugType=none -p:SatelliteResourceLanguages=en
rm -f "$T"/cli/{libmscordaccore.so,libmscordbi.so,createdump,libcoreclrtraceptprovider.so,libclrgc.so,libclrgcexp.so}
tar -C "$T/cli" -cf - . | xz -9 -T2 > $C/palu-linux-x64.tar.xz

# 2. data and the tiny model
tar -C ../shared/data -cf - tasks calib/corpus-train-2M.txt wikitext-2-raw/wiki.test.raw | xz -9 -T2 > $C/data.tar.xz
tar -C ../shared/models -cf - --exclude=golden tiny | xz -6 -T2 > $C/tiny.tar.xz

# 3. .foundry, as ../shared/foundry/README.md says
mkdir -p .git/info 2>/dev/null || true
EXCLUDE=$(git rev-parse --git-path info/exclude)   # a worktree's .git is a file; its exclude is the main one's
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx '/.foundry/' "$EXCLUDE" 2>/dev/null || echo '/.foundry/' >> "$EXCLUDE"
mkdir -p .foundry/assets .foundry/scripts
cp ../shared/foundry/*.py ../shared/foundry/device_run.sh .foundry/scripts/
[ -f .foundry/train.txt.xz ] || cp ../shared/foundry/corpus/train.txt.xz .foundry/
cp ../shared/foundry/corpus/val.txt.xz .foundry/
cp ../shared/data/wikitext-2-raw/wiki.test.raw .foundry/assets/
du -sh $C .foundry; du -scb $C .foundry | tail -1 | awk '{printf "carry total %.1f MiB (limit 64)\n", $1 / 1048576}'

[ $CHECK = 1 ] || exit 0
# 4. the trimmed CLI against the ordinary build
"$ROOT/palu" --version > /dev/null
mkdir -p "$T/lean" && tar -C "$T/lean" -xJf $C/palu-linux-x64.tar.xz
run_all() {   # OUTDIR PALU...
  local d=$1; shift
  local m=../shared/models/tiny
  mkdir -p "$d"
  "$@" compress $m --out "$d/svd" --weights-keep 0.8 --weights-method svdllm --weights-calib-samples 8 --calib-seq-len 256 --json > "$d/svd.json"
  "$@" compress $m --out "$d/sc" --weights-keep 0.8 --weights-method skipcat --weights-calib-samples 8 --calib-seq-len 256 \
      --kv-keep 0.5 --kv-bits 4 --hadamard --calib-samples 8 --json > "$d/sc.json"
  "$@" eval ppl "$d/sc" --max-windows 4 --json > "$d/ppl-sc.json"
  "$@" eval ppl "$d/svd" --max-windows 4 --json > "$d/ppl-svd.json"
  "$@" eval zeroshot "$d/svd" --task arc-easy --limit 30 --json > "$d/zs-svd.json"
  "$@" eval zeroshot "$d/sc" --task hellaswag --limit 10 --json > "$d/zs-sc.json"
  "$@" inspect "$d/sc" --json > "$d/inspect.json"
  "$@" bench decode "$d/svd" --context 128 --steps 8 --json > "$d/bench.json"
  "$@" eval ppl "$d/svd" --max-windows 1 --device cuda > /dev/null 2> "$d/cuda.txt" || true   # no GPU here: the same message
}
export PALU_DATA=$ROOT/../shared/data
run_all "$T/a" "$ROOT/palu" 2> /dev/null
run_all "$T/b" "$T/lean/Palu.Cli" 2> /dev/null
python3 - "$T/a" "$T/b" <<'PY'
import hashlib, json, os, sys
a, b = sys.argv[1:]
VOLATILE = {"seconds", "seconds_per_100", "tokens_per_s", "ms_per_step", "weight_gb_per_s", "model", "out", "data"}
def strip(x):
    if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if k not in VOLATILE}
    if isinstance(x, list): return [strip(v) for v in x]
    return x
bad = 0
for root, _, files in os.walk(a):
    for f in sorted(files):
        pa = os.path.join(root, f); pb = os.path.join(b, os.path.relpath(pa, a))
        if f.endswith(".json"):
            same = strip(json.load(open(pa))) == strip(json.load(open(pb)))
        else:
            same = hashlib.sha256(open(pa, "rb").read()).digest() == hashlib.sha256(open(pb, "rb").read()).digest()
        print(("same     " if same else "DIFFERENT"), os.path.relpath(pa, a)); bad += not same
sys.exit(1 if bad else 0)
PY
