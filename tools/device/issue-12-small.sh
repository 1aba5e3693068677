#!/usr/bin/env bash
# Issue 12 on `small`, ONE device call (run tool, carry [".foundry", ".lean-carry"], both made here by
# tools/device/prepare-lean-carry.sh; timeout 600): trains small with the foundry's train.py, compresses it
# (SVD-LLM / Cat / Skip / Cat+Skip at 20/30/40 %, KV 4-bit + Hadamard alone and with SkipCat 0.8) on the CPU while the
# GPU evaluates (whole WikiText-2 ppl, full zero-shot sets), in priority order, until a deadline (DEADLINE_S, default
# 545 s after this script starts) that kills what still runs: $OUT/results.tsv, log.txt, summary.md always come back.
# Here, the logic without a GPU or training: DRY=1 OUT=/tmp/i12dry bash tools/device/issue-12-small.sh
T0=$(date +%s.%N)
cd "$(dirname "$0")/../.."
source tools/device/lean-env.sh
export PALU_BIN=$L/cli/Palu.Cli PALU_LEAN=$L
[ "${DRY:-}" = 1 ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
python3 tools/device/issue12_small.py --t0 "$T0"
rc=$?
cat "$OUT/summary.md" 2>/dev/null
exit $rc
