"""Compiles the CUDA kernels (src/Palu/Runtime/Cuda/Kernels: palu.cu, decode.cu, attn_long.cu, flash.cu, seqs.cu,
concatenated as the backend does) with whatever NVRTC this machine has, for a GPU architecture (default sm_90), and prints the log: a compile
check without a GPU (the tests' CudaKernelCompileTests do the same from C#).
usage: python3 tools/nvrtc-check.py [ARCH] [-v] [-l] [--ptx FILE]
  -v  registers, shared memory and spills of every kernel (ptxas)
  -l  also -lineinfo, as the backend passes to NVRTC 12 and later (NVRTC 11.8 crashes with it for sm_90)
  --ptx FILE  compile for compute_ARCH instead and write the PTX to FILE (to compare kernels before and after an edit)
NVRTC: the one ./setup.sh unpacks into .tools/nvrtc, else any libnvrtc.so on the library path."""
import ctypes, ctypes.util, glob, os, sys

arch = next((a for a in sys.argv[1:] if a.isdigit()), "90")
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
kernels = os.path.join(root, "src", "Palu", "Runtime", "Cuda", "Kernels")
source = "".join(open(os.path.join(kernels, n)).read() + "\n" for n in ("palu.cu", "decode.cu", "attn_long.cu", "flash.cu", "seqs.cu"))
local = os.path.join(root, ".tools", "nvrtc")
for b in sorted(glob.glob(os.path.join(local, "libnvrtc-builtins.so*"))):
    ctypes.CDLL(b, mode=ctypes.RTLD_GLOBAL)   # NVRTC loads its builtins by name
names = sorted(glob.glob(os.path.join(local, "libnvrtc.so*"))) + [ctypes.util.find_library("nvrtc")] \
    + sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libnvrtc.so*")) + sorted(glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"))
lib = next((ctypes.CDLL(n) for n in names if n), None)
if lib is None: sys.exit("no libnvrtc found (./setup.sh unpacks one into .tools/nvrtc)")
prog = ctypes.c_void_p()
assert lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"palu.cu", 0, None, None) == 0
ptx = sys.argv[sys.argv.index("--ptx") + 1] if "--ptx" in sys.argv else None
opts = [f"--gpu-architecture={'compute' if ptx else 'sm'}_{arch}".encode(), b"--std=c++17", b"-default-device", b"--use_fast_math"]
opts += [b"-lineinfo"] if "-l" in sys.argv else []
opts += [b"--ptxas-options=-v"] if "-v" in sys.argv else []
arr = (ctypes.c_char_p * len(opts))(*opts)
rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
size = ctypes.c_size_t()
lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
log = ctypes.create_string_buffer(size.value)
lib.nvrtcGetProgramLog(prog, log)
print(log.value.decode(errors="replace").strip() or "(no messages)")
print("compiled" if rc == 0 else f"FAILED (nvrtc error {rc})")
if rc == 0 and ptx:
    lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetPTX(prog, buf)
    open(ptx, "w").write(buf.value.decode())
sys.exit(0 if rc == 0 else 1)
