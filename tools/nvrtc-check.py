"""Compiles the CUDA kernels (src/Palu/Runtime/Cuda/Kernels: palu.cu, decode.cu, flash.cu, concatenated as the backend
does) with whatever NVRTC this machine has, for a GPU architecture given (default sm_90), and prints the log: a
compile check without a GPU. usage: python3 tools/nvrtc-check.py [ARCH] [-v: registers and spills per kernel] (libnvrtc: apt-get install libnvrtc11.2
libnvrtc-builtins11.8 from Debian's non-free, or any libnvrtc.so on the library path)"""
import ctypes, ctypes.util, glob, os, sys

arch = next((a for a in sys.argv[1:] if a.isdigit()), "90")
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "Palu", "Runtime", "Cuda", "Kernels")
source = "".join(open(os.path.join(here, n)).read() + "\n" for n in ("palu.cu", "decode.cu", "flash.cu"))
names = [ctypes.util.find_library("nvrtc")] + sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libnvrtc.so*")) + sorted(glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"))
lib = next((ctypes.CDLL(n) for n in names if n), None)
if lib is None: sys.exit("no libnvrtc found")
prog = ctypes.c_void_p()
assert lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"palu.cu", 0, None, None) == 0
opts = [f"--gpu-architecture=sm_{arch}".encode(), b"--std=c++17", b"-default-device", b"--use_fast_math"] + ([b"--ptxas-options=-v"] if "-v" in sys.argv else [])
arr = (ctypes.c_char_p * len(opts))(*opts)
rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
size = ctypes.c_size_t()
lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
log = ctypes.create_string_buffer(size.value)
lib.nvrtcGetProgramLog(prog, log)
print(log.value.decode(errors="replace").strip() or "(no messages)")
print("compiled" if rc == 0 else f"FAILED (nvrtc error {rc})")
sys.exit(0 if rc == 0 else 1)
