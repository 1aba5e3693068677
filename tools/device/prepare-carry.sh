#!/usr/bin/env bash
# Here (the CPU machine): fills .device-carry/ (git-ignored) with what a device call needs, since the device has no
# dotnet and ../shared does not travel: the .NET runtime (xz, ~26 MB), the GPU tests and the CLI published
# framework-dependent, the shared test models, texts and zero-shot task files. Then call the device with carry [".device-carry"].
set -euo pipefail
cd "$(dirname "$0")/../.."
C=.device-carry
mkdir -p $C
if [ ! -f $C/dotnet-runtime.tar.xz ]; then
  t=$(mktemp -d); mkdir -p $t/shared
  cp /usr/share/dotnet/dotnet $t/ && cp -r /usr/share/dotnet/host $t/ && cp -r /usr/share/dotnet/shared/Microsoft.NETCore.App $t/shared/
  tar -C $t -cJf $C/dotnet-runtime.tar.xz . && rm -rf $t
fi
rm -rf $C/gpu-tests $C/cli
dotnet publish tests/Palu.GpuTests -c Release -o $C/gpu-tests -v q -nologo
dotnet publish src/Palu.Cli -c Release -o $C/cli -v q -nologo
rm -rf $C/gpu-tests/{cs,de,es,fr,it,ja,ko,pl,pt-BR,ru,tr,zh-Hans,zh-Hant} $C/cli/{cs,de,es,fr,it,ja,ko,pl,pt-BR,ru,tr,zh-Hans,zh-Hant}
mkdir -p $C/shared/models $C/shared/data/calib $C/shared/data/wikitext-2-raw
cp -r ../shared/models/tiny ../shared/models/stories260k $C/shared/models/
cp ../shared/data/calib/corpus-train-2M.txt $C/shared/data/calib/
cp ../shared/data/wikitext-2-raw/wiki.test.raw $C/shared/data/wikitext-2-raw/
rm -rf $C/shared/data/tasks && cp -r ../shared/data/tasks $C/shared/data/   # zero-shot (seqs-check.sh)
du -sh $C
