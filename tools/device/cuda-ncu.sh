#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"]): per-kernel GPU time and DRAM bytes of decode steps, read by Nsight
# Compute (ncu) from the hardware counters, on the 7B-shape model (built in $W by make_llama7b.py when missing).
# usage: bash tools/device/cuda-ncu.sh [CONTEXT=1024] [BATCH=1]. Writes $OUT/ncu-C-B.csv and prints the summary
# (tools/device/ncu_summary.py): kernels of one step with their time, bytes and bandwidth, and their sum.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
C=${1:-1024}; B=${2:-1}
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "no ncu on this machine"; exit 1; }
[ -d $W/llama7b ] || python3 tools/device/make_llama7b.py $W 2>&1 | grep -E "model" | tail -2
# 3 warm-up + 2 timed steps; every kernel of them; caches kept between kernels as in a real step
$NCU --clock-control none --cache-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv --page raw --print-units base \
  --launch-count 2600 dotnet .device-carry/cli/Palu.Cli.dll bench decode --model $W/llama7b --device cuda --context $C \
  --batch $B --steps 2 > $OUT/ncu-$C-$B.csv 2> $OUT/ncu-$C-$B.err
tail -3 $OUT/ncu-$C-$B.err
python3 tools/device/ncu_summary.py $OUT/ncu-$C-$B.csv --steps 5
