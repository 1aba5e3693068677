using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Palu.Runtime.Cuda;

/// <summary>
/// NVRTC (the CUDA runtime compiler) through P/Invoke: compiles the backend's .cu sources for the GPU in hand at first
/// use and caches the CUBIN on disk keyed by the SHA-256 of (source, target architecture, NVRTC version, options), so a
/// later process loads it without compiling. Cache: $PALU_CACHE_DIR/cuda, else $XDG_CACHE_HOME/palu/cuda, else
/// ~/.cache/palu/cuda. Library: libnvrtc.so (or .so.13/.12/.11.2), found on the loader path, under /usr/local/cuda or
/// in $PALU_NVRTC_DIR.
/// </summary>
internal static unsafe partial class Nvrtc
{
    const string Lib = "nvrtc";

    static Nvrtc() => NativeLibrary.SetDllImportResolver(typeof(Nvrtc).Assembly, Resolve);

    /// <summary>Resolves "nvrtc", "cublas" and "cublasLt" to the first versioned name that loads.</summary>
    static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        string[] bases = name switch
        {
            "nvrtc" => ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"],
            "cublas" => ["libcublas.so", "libcublas.so.13", "libcublas.so.12"],
            _ => [],
        };
        string[] dirs = ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", .. ExtraDirectories()];
        foreach (var b in bases)
        {
            if (NativeLibrary.TryLoad(b, out var h)) return h;
            foreach (var dir in dirs)
            {
                // NVRTC loads its builtins library by name at the first compile: load the one beside it first
                if (name == "nvrtc")
                    foreach (var builtins in Directory.Exists(dir) ? Directory.GetFiles(dir, "libnvrtc-builtins.so*") : [])
                        NativeLibrary.TryLoad(builtins, out _);
                if (NativeLibrary.TryLoad(Path.Combine(dir, b), out h)) return h;
            }
        }
        return 0;
    }

    /// <summary>Folders of $PALU_NVRTC_DIR (a standalone NVRTC, e.g. the one setup.sh unpacks into .tools/nvrtc so that
    /// tests compile the kernels on a machine without a GPU).</summary>
    static string[] ExtraDirectories() =>
        Environment.GetEnvironmentVariable("PALU_NVRTC_DIR") is { Length: > 0 } d ? d.Split(':', StringSplitOptions.RemoveEmptyEntries) : [];

    /// <summary>True when an NVRTC library loads (no GPU or driver needed to compile).</summary>
    public static bool Available()
    {
        try { Version(); return true; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }

    /// <summary>Makes sure the resolver is installed before any cuBLAS or NVRTC call.</summary>
    public static void EnsureResolver() { }

    [LibraryImport(Lib)] private static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(Lib)] private static partial int nvrtcCreateProgram(out nint prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] private static partial int nvrtcCompileProgram(nint prog, int numOptions, byte** options);
    [LibraryImport(Lib)] private static partial int nvrtcGetProgramLogSize(nint prog, out nuint size);
    [LibraryImport(Lib)] private static partial int nvrtcGetProgramLog(nint prog, byte* log);
    [LibraryImport(Lib)] private static partial int nvrtcGetCUBINSize(nint prog, out nuint size);
    [LibraryImport(Lib)] private static partial int nvrtcGetCUBIN(nint prog, byte* cubin);
    [LibraryImport(Lib)] private static partial int nvrtcDestroyProgram(ref nint prog);
    [LibraryImport(Lib)] private static partial nint nvrtcGetErrorString(int result);

    static void Check(int r, string call)
    {
        if (r != 0) throw new CudaException($"{call} failed: NVRTC error {r} ({Marshal.PtrToStringUTF8(nvrtcGetErrorString(r))})");
    }

    public static string Version()
    {
        Check(nvrtcVersion(out int major, out int minor), "nvrtcVersion");
        return $"{major}.{minor}";
    }

    public static string CacheDirectory()
    {
        string root = Environment.GetEnvironmentVariable("PALU_CACHE_DIR") is { Length: > 0 } p ? p
            : Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? Path.Combine(x, "palu")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "palu");
        return Path.Combine(root, "cuda");
    }

    /// <summary>The CUBIN of <paramref name="source"/> for sm_<paramref name="arch"/>, from the cache or compiled now.</summary>
    public static byte[] Compile(string source, string name, int arch, out bool cached)
    {
        string version = Version();
        string[] options = Options(arch, version);
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{source}\n{arch}\n{version}\n{string.Join(' ', options)}"))).ToLowerInvariant();
        string file = Path.Combine(CacheDirectory(), $"{name}-sm{arch}-{key[..24]}.cubin");
        if (File.Exists(file)) { cached = true; return File.ReadAllBytes(file); }
        cached = false;
        var cubin = CompileNow(source, name, options, arch);
        try
        {
            Directory.CreateDirectory(CacheDirectory());
            string tmp = file + $".{Environment.ProcessId}.tmp";
            File.WriteAllBytes(tmp, cubin);
            File.Move(tmp, file, overwrite: true);
        }
        catch (IOException) { }          // a read-only cache only costs a compile next time
        catch (UnauthorizedAccessException) { }
        return cubin;
    }

    /// <summary>The backend's NVRTC options. Line info (for profilers) from NVRTC 12 on: NVRTC 11.8 crashed (SIGSEGV)
    /// compiling these kernels for sm_90 with -lineinfo.</summary>
    static string[] Options(int arch, string version) => int.Parse(version.Split('.')[0]) >= 12
        ? [$"--gpu-architecture=sm_{arch}", "--std=c++17", "-default-device", "--use_fast_math", "-lineinfo"]
        : [$"--gpu-architecture=sm_{arch}", "--std=c++17", "-default-device", "--use_fast_math"];

    /// <summary>The CUBIN of <paramref name="source"/> for sm_<paramref name="arch"/>, compiled now (no cache), with the
    /// options the backend uses; throws <see cref="CudaException"/> with NVRTC's log when it does not compile.</summary>
    public static byte[] CompileUncached(string source, string name, int arch) => CompileNow(source, name, Options(arch, Version()), arch);

    static byte[] CompileNow(string source, string name, string[] options, int arch)
    {
        var src = Encoding.UTF8.GetBytes(source + "\0");
        var nm = Encoding.UTF8.GetBytes(name + "\0");
        nint prog;
        fixed (byte* s = src, n = nm) Check(nvrtcCreateProgram(out prog, s, n, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var opts = options.Select(o => Marshal.StringToCoTaskMemUTF8(o)).ToArray();
            int r;
            try
            {
                fixed (nint* p = opts) r = nvrtcCompileProgram(prog, opts.Length, (byte**)p);
            }
            finally { foreach (var o in opts) Marshal.FreeCoTaskMem(o); }
            if (r != 0)
                throw new CudaException($"NVRTC could not compile {name} for sm_{arch} (NVRTC {Version()}): error {r}\n{Log(prog)}");
            Check(nvrtcGetCUBINSize(prog, out var size), "nvrtcGetCUBINSize");
            var cubin = new byte[(int)size];
            fixed (byte* c = cubin) Check(nvrtcGetCUBIN(prog, c), "nvrtcGetCUBIN");
            return cubin;
        }
        finally { nvrtcDestroyProgram(ref prog); }
    }

    static string Log(nint prog)
    {
        if (nvrtcGetProgramLogSize(prog, out var size) != 0 || size <= 1) return "";
        var log = new byte[(int)size];
        fixed (byte* l = log) nvrtcGetProgramLog(prog, l);
        return Encoding.UTF8.GetString(log, 0, log.Length - 1);
    }
}

/// <summary>cuBLAS (libcublas) through P/Invoke: the bf16 GEMMs of prefill.</summary>
internal static unsafe partial class Cublas
{
    const string Lib = "cublas";

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")] public static partial int cublasCreate(out nint handle);
    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")] public static partial int cublasDestroy(nint handle);
    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")] public static partial int cublasSetStream(nint handle, nint stream);
    [LibraryImport(Lib)] public static partial int cublasSetMathMode(nint handle, int mode);
    [LibraryImport(Lib)] public static partial int cublasGemmEx(nint handle, int transa, int transb, int m, int n, int k,
        float* alpha, ulong A, int Atype, int lda, ulong B, int Btype, int ldb, float* beta, ulong C, int Ctype, int ldc,
        int computeType, int algo);

    public const int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
    public const int CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14;
    public const int CUBLAS_COMPUTE_32F = 68;
    public const int CUBLAS_GEMM_DEFAULT = -1;
    public const int CUBLAS_DEFAULT_MATH = 0;

    public static void Check(int r, string call)
    {
        if (r != 0) throw new CudaException($"{call} failed: cuBLAS status {r}");
    }
}
