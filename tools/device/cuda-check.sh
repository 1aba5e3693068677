#!/usr/bin/env bash
# On the GPU machine (carry [".device-carry"], made by prepare-carry.sh): unpacks the .NET runtime, runs the GPU tests
# (tests/Palu.GpuTests) and a short decode/prefill benchmark on the shared models. Outputs land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device/env.sh
export PALU_SHARED=$PWD/.device-carry/shared PALU_REPORT_DIR=$OUT
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
ls /usr/local/cuda/lib64 2>/dev/null | grep -E "^lib(nvrtc|cublas)\.so" | tr '\n' ' '; echo
time dotnet .device-carry/gpu-tests/Palu.GpuTests.dll -parallelAlgorithm conservative -maxThreads 1 -noColor -showLiveOutput -result-xml $OUT/gpu.xml 2>&1 | tee $OUT/gpu-tests.log | grep -vE "^\s*$" | tail -60
for m in tiny stories260k; do
  palu bench decode --model $PALU_SHARED/models/$m --device cuda --context 128,1024 --batch 1,8 --steps 32 --json > $OUT/decode-$m.json 2>$OUT/decode-$m.err; tail -4 $OUT/decode-$m.err
done
palu bench prefill --model $PALU_SHARED/models/tiny --device cuda --tokens 512,2048 --json > $OUT/prefill-tiny.json 2>$OUT/prefill-tiny.err; tail -3 $OUT/prefill-tiny.err
