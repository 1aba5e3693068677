#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"], made by prepare-carry.sh, which also carries the task files): the GPU
# tests, then tiny's zero-shot HellaSwag (2,000 items, batched steps) and WikiText-2 perplexity, timed with the
# prefill ropes, cache stores and attention of a step's sequences run as one launch per op (default) and one launch
# per sequence (PALU_CUDA_BATCH_SEQS=0): one process, then 8 side by side (as issue-12-small.sh runs them).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
export PALU_SHARED=$PWD/.device-carry/shared PALU_REPORT_DIR=$OUT PALU_DATA=$PWD/.device-carry/shared/data
dotnet .device-carry/gpu-tests/Palu.GpuTests.dll -parallelAlgorithm conservative -maxThreads 1 -noColor -showLiveOutput > $OUT/gpu-tests.log 2>&1
grep -E "Total:|\[FAIL\]|Assert|NMSE [0-9.E+-]+ >" $OUT/gpu-tests.log | head -20
M=$PALU_SHARED/models/tiny
zs() { palu eval zeroshot $M --task hellaswag --limit 2000 --batch-rows 4096 --device cuda -t 2 --json; }
now() { date +%s.%N; }
for b in 1 0; do
  export PALU_CUDA_BATCH_SEQS=$b
  s=$(now); zs > $OUT/zs-$b.json 2>$OUT/zs-$b.err; e=$(now)
  echo "batch_seqs=$b one process: $(python3 -c "print(f'{$e - $s:.1f}')") s: $(tr -d '\n' < $OUT/zs-$b.json | grep -oE '"(acc|acc_norm)": *[0-9.]+' | tr '\n' ' ')"
  s=$(now); for i in 1 2 3 4 5 6 7 8; do zs > /tmp/zs8-$b-$i.json 2>&1 & done; wait; e=$(now)
  echo "batch_seqs=$b eight processes: $(python3 -c "print(f'{$e - $s:.1f}')") s for 8 x 2,000 items"
  s=$(now); palu eval ppl $M --device cuda --json > $OUT/ppl-$b.json 2>$OUT/ppl-$b.err; e=$(now)
  echo "batch_seqs=$b ppl: $(python3 -c "print(f'{$e - $s:.1f}')") s: $(tr -d '\n' < $OUT/ppl-$b.json | grep -oE '"ppl": *[0-9.]+')"
done
tail -3 $OUT/zs-1.err
