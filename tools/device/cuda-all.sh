#!/usr/bin/env bash
# On the GPU machine: the GPU tests and the end-to-end benchmark in one call (one machine start); every output file
# is packed into $OUT/results.tgz (a device call returns at most 8 files).
cd "$(dirname "$0")/../.."
bash tools/device/cuda-check.sh
bash tools/device/cuda-bench.sh
(cd $OUT && tar czf /tmp/results.tgz --exclude=results.tgz . && find . -type f -delete && mv /tmp/results.tgz .)
