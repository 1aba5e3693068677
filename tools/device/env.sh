# Sourced by the device scripts: unpacks the carried .NET runtime once and defines `palu` (the carried CLI).
export DOTNET_ROOT=/tmp/dotnet PALU_CACHE_DIR=/tmp/palu-cache DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 PYTHONUNBUFFERED=1
[ -x $DOTNET_ROOT/dotnet ] || { mkdir -p $DOTNET_ROOT && tar -C $DOTNET_ROOT -xJf .device-carry/dotnet-runtime.tar.xz; }
export PATH=$DOTNET_ROOT:$PATH
palu() { dotnet .device-carry/cli/Palu.Cli.dll "$@"; }
W=/tmp/m; mkdir -p $W
