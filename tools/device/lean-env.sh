# Sourced on the device (carry [".foundry", ".lean-carry"], made by tools/device/prepare-lean-carry.sh): unpacks the
# self-contained trimmed CLI, the data and the tiny model afresh under /tmp/palu-lean and defines `palu` (no dotnet needed).
# PALU_DATA points the CLI's defaults (calibration text, WikiText-2, task files) at the unpacked data.
L=/tmp/palu-lean
export PALU_DATA=$L/data PALU_CACHE_DIR=/tmp/palu-cache DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 PYTHONUNBUFFERED=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
rm -rf $L && mkdir -p $L/cli $L/data $L/models
tar -C $L/cli -xJf .lean-carry/palu-linux-x64.tar.xz
tar -C $L/data -xJf .lean-carry/data.tar.xz
tar -C $L/models -xJf .lean-carry/tiny.tar.xz
palu() { $L/cli/Palu.Cli "$@"; }
W=/tmp/m; mkdir -p $W
