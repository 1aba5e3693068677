#!/usr/bin/env bash
# Runs the whole test suite (after setup.sh) and prints "N passed, N failed" as the last line: the xunit suite
# (tests/Palu.Tests, through dotnet test) and the GPU tests (tests/Palu.GpuTests, an xunit v3 executable; they skip
# where there is no NVIDIA GPU).
set -uo pipefail
cd "$(dirname "$0")"
if ! ./setup.sh; then echo "set-up or build failed (see above)"; echo "0 passed, 1 failed"; exit 1; fi
rm -rf TestResults
# one line per finished test (name and duration), so that a log shows progress
dotnet test tests/Palu.Tests -c Release --no-build -nologo --logger "trx;LogFileName=results.trx" \
  --logger "console;verbosity=normal" --results-directory TestResults
rc=$?
trx=TestResults/results.trx
if [ ! -f "$trx" ]; then echo "no test results (build or runner failure)"; echo "0 passed, 1 failed"; exit 1; fi
dotnet tests/Palu.GpuTests/bin/Release/net10.0/Palu.GpuTests.dll -maxThreads 1 -noColor -result-xml TestResults/gpu.xml
grc=$?
# the backend op table (every op on every backend vs the reference, NMSE), written by BackendOpTests
[ -f TestResults/op-table.txt ] && { echo "backend op table:"; cat TestResults/op-table.txt; }
counters=$(grep -o '<Counters [^>]*>' "$trx")
get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
total=$(get total); passed=$(get passed); failed=$(get failed); skipped=$(get notExecuted)
gpu=$(grep -o '<assembly [^>]*>' TestResults/gpu.xml 2>/dev/null | head -1)
gget() { echo "$gpu" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
gtotal=$(gget total); gpassed=$(gget passed); gfailed=$(gget failed); gskipped=$(gget skipped)
if [ -z "$gpu" ]; then echo "GPU tests did not run"; gtotal=0; gpassed=0; gfailed=1; gskipped=0; fi
echo "xunit: total $total, skipped ${skipped:-0}; GPU tests: total $gtotal, skipped $gskipped (they need an NVIDIA GPU)"
if [ "${total:-0}" = 0 ]; then echo "no test ran"; echo "0 passed, 1 failed"; exit 1; fi
echo "$(( ${passed:-0} + ${gpassed:-0} )) passed, $(( ${failed:-0} + ${gfailed:-0} )) failed"
[ "$rc" = 0 ] && [ "$grc" = 0 ] && [ "${failed:-0}" = 0 ] && [ "${gfailed:-0}" = 0 ]
