using System.Runtime.InteropServices;
using Palu.Kernels.Cpu;
using Palu.Tensors;
using static Palu.Runtime.Cuda.CudaDriver;

namespace Palu.Runtime.Cuda;

/// <summary>
/// The CUDA backend (<c>--device cuda</c>): one NVIDIA GPU through the driver API, kernels from <c>Kernels/palu.cu</c>
/// compiled by NVRTC at first use (cached on disk), cuBLAS for the bf16 GEMMs of long row blocks. Weights live in
/// device memory as bf16 (F32/F16 checkpoints converted while they stream up), activations in f32, dense KV caches
/// in bf16 by default. All work goes to one stream; an op holds the backend's lock while it enqueues, so ops from
/// several threads do not interleave their launches. Memory a model loads is released when the model is disposed.
/// </summary>
public sealed unsafe partial class CudaBackend : Backend
{
    static readonly Lock s_createLock = new();
    static CudaBackend? s_instance;

    readonly Lock _lock = new();
    readonly int _device;
    readonly nint _context, _stream, _module, _cublas;
    readonly Dictionary<string, nint> _functions = [];
    readonly HashSet<string> _sharedAllowed = [];   // kernels allowed more than 48 KiB of dynamic shared memory
    readonly Dictionary<string, (CudaBuffer Cos, CudaBuffer Sin)> _ropes = [];   // by RopeKey: one copy per distinct table
    readonly Dictionary<string, CudaBuffer> _scratch = [];
    readonly Dictionary<object, List<CudaBuffer>> _owned = new(ReferenceEqualityComparer.Instance);
    [ThreadStatic] static object? t_owner;

    public string DeviceName { get; }
    public int ComputeCapability { get; }
    public int Multiprocessors { get; }
    public long TotalMemory { get; }
    /// <summary>True when the kernels came from the on-disk cache (no NVRTC compile in this process).</summary>
    public bool KernelsCached { get; }

    /// <summary>The process's CUDA backend (device PALU_CUDA_DEVICE, default 0), created at first use.</summary>
    public static CudaBackend Instance
    {
        get
        {
            lock (s_createLock) return s_instance ??= new CudaBackend(int.TryParse(Environment.GetEnvironmentVariable("PALU_CUDA_DEVICE"), out int d) ? d : 0);
        }
    }

    /// <summary>Why a CUDA backend cannot be made here, or null when it can (driver present and a device found).</summary>
    public static string? Unavailable()
    {
        if (!DriverPresent()) return "no NVIDIA driver (libcuda.so.1 not found): --device cuda needs an NVIDIA GPU with its driver installed";
        int r = cuInit(0);
        if (r != 0) return $"the NVIDIA driver did not initialise (cuInit: {ErrorText(r)})";
        if (cuDeviceGetCount(out int n) != 0 || n == 0) return "the NVIDIA driver found no CUDA device";
        return null;
    }

    CudaBackend(int ordinal)
    {
        if (Unavailable() is string why) throw new NotSupportedException(why);
        Check(cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count) throw new ArgumentException($"PALU_CUDA_DEVICE={ordinal}, but only {count} CUDA device(s) are present");
        Check(cuDeviceGet(out _device, ordinal), "cuDeviceGet");
        var name = new byte[256];
        fixed (byte* p = name) Check(cuDeviceGetName(p, name.Length, _device), "cuDeviceGetName");
        DeviceName = System.Text.Encoding.UTF8.GetString(name).TrimEnd('\0');
        Check(cuDeviceGetAttribute(out int major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, _device), "cuDeviceGetAttribute");
        Check(cuDeviceGetAttribute(out int minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, _device), "cuDeviceGetAttribute");
        Check(cuDeviceGetAttribute(out int sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, _device), "cuDeviceGetAttribute");
        Check(cuDeviceTotalMem(out var total, _device), "cuDeviceTotalMem");
        ComputeCapability = major * 10 + minor; Multiprocessors = sms; TotalMemory = (long)total;
        _pdl = ComputeCapability >= 90 && Environment.GetEnvironmentVariable("PALU_CUDA_PDL") != "0";
        Check(cuDevicePrimaryCtxRetain(out _context, _device), "cuDevicePrimaryCtxRetain");
        Check(cuCtxSetCurrent(_context), "cuCtxSetCurrent");
        Check(cuStreamCreate(out _stream, 1), "cuStreamCreate");
        Nvrtc.EnsureResolver();
        var cubin = Nvrtc.Compile(KernelSource(), "palu.cu", ComputeCapability, out bool cached);
        KernelsCached = cached;
        fixed (byte* c = cubin) Check(cuModuleLoadData(out _module, c), "cuModuleLoadData");
        Check(Cublas.cublasCreate(out _cublas), "cublasCreate");
        Cublas.Check(Cublas.cublasSetStream(_cublas, _stream), "cublasSetStream");
    }

    /// <summary>The kernels: palu.cu (helpers, elementwise ops, the general kernels), then decode.cu, attn_long.cu, flash.cu and seqs.cu, which
    /// use its helpers; one module.</summary>
    internal static string KernelSource() => string.Concat(new[] { "palu.cu", "decode.cu", "attn_long.cu", "flash.cu", "seqs.cu" }.Select(name =>
    {
        using var s = typeof(CudaBackend).Assembly.GetManifestResourceStream("Palu.Runtime.Cuda.Kernels." + name)
                      ?? throw new InvalidOperationException($"the CUDA kernel source {name} is not embedded in Palu.dll");
        return new StreamReader(s).ReadToEnd() + "\n";
    }));

    public override string Name => "cuda";

    /// <summary>Long prompts go through in pieces of 4096 tokens (PALU_CUDA_PREFILL_CHUNK): large GEMMs and many
    /// attention tiles per launch.</summary>
    public override int PrefillChunk { get; } = int.TryParse(Environment.GetEnvironmentVariable("PALU_CUDA_PREFILL_CHUNK"), out int c) && c >= 16 ? c : 4096;
    public override DType ComputeDType => DType.BF16;

    /// <summary>Free and total device memory now.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        using var _ = Enter();
        Check(cuMemGetInfo(out var free, out var total), "cuMemGetInfo");
        return ((long)free, (long)total);
    }

    /// <summary>Makes the context current on this thread and takes the backend's lock until disposed.</summary>
    Lock.Scope Enter()
    {
        var scope = _lock.EnterScope();
        if (t_context != _context)
        {
            Check(cuCtxSetCurrent(_context), "cuCtxSetCurrent");
            t_context = _context;
        }
        return scope;
    }

    [ThreadStatic] static nint t_context;   // the context made current on this thread

    nint Fn(string name)
    {
        if (!_functions.TryGetValue(name, out var f))
        {
            Check(cuModuleGetFunction(out f, _module, name), $"cuModuleGetFunction({name})");
            _functions[name] = f;
        }
        return f;
    }

    /// <summary>Launches kernel <paramref name="name"/> on the stream; arguments are device pointers (ulong), int,
    /// long or float, in the kernel's parameter order.</summary>
    void Launch(string name, (uint x, uint y) grid, uint block, params object[] args) =>
        Launch(name, (grid.x, grid.y, 1u), block, args);

    /// <summary>As above with a grid z; an argument may also be a <see cref="SeqTable"/>, <see cref="GemvSet"/>, <see cref="RowTable"/> or <see cref="SeqRows"/> (passed by value).</summary>
    void Launch(string name, (uint x, uint y, uint z) grid, uint block, params object[] args) =>
        LaunchWithShared(name, grid, block, 0, args);

    /// <summary>As above with <paramref name="shared"/> bytes of dynamic shared memory (above 48 KiB the kernel is
    /// allowed it first).</summary>
    void LaunchWithShared(string name, (uint x, uint y, uint z) grid, uint block, uint shared, params object[] args)
    {
        if (shared > 48 * 1024 && _sharedAllowed.Add(name))
            Check(cuFuncSetAttribute(Fn(name), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)shared), $"cuFuncSetAttribute({name})");
        if (!_flushingGemvs && !_flushingRows)   // queued work runs before anything after it (CudaBackend.Batch.cs)
        {
            if (_pending is { Count: > 0 }) FlushAttention();
            FlushRows();
        }
        _launchesSinceCast++;
        var slots = stackalloc ulong[args.Length];
        SeqTable table = default;
        GemvSet gemvs = default;
        RowTable rows = default;
        SeqRows seqRows = default;
        var ptrs = stackalloc nint[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case ulong u: slots[i] = u; break;
                case long l: *(long*)&slots[i] = l; break;
                case int v: slots[i] = 0; *(int*)&slots[i] = v; break;
                case float f: slots[i] = 0; *(float*)&slots[i] = f; break;
                case SeqTable t: table = t; ptrs[i] = (nint)(&table); continue;
                case GemvSet g: gemvs = g; ptrs[i] = (nint)(&gemvs); continue;
                case RowTable r: rows = r; ptrs[i] = (nint)(&rows); continue;
                case SeqRows q: seqRows = q; ptrs[i] = (nint)(&seqRows); continue;
                default: throw new ArgumentException($"kernel argument of type {args[i].GetType().Name}");
            }
            ptrs[i] = (nint)(&slots[i]);
        }
        long t0 = _profile != null ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        if (_pdl)
        {
            // programmatic dependent launch: the kernel may start while the previous one runs (it waits in PALU_GRID_START)
            var attr = new LaunchAttribute { Id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, Value = 1 };
            var config = new LaunchConfig
            {
                GridX = Math.Max(1, grid.x), GridY = Math.Max(1, grid.y), GridZ = Math.Max(1, grid.z), BlockX = block, BlockY = 1, BlockZ = 1, SharedBytes = shared,
                Stream = _stream, Attrs = &attr, NumAttrs = 1,
            };
            Check(cuLaunchKernelEx(&config, Fn(name), (void**)ptrs, null), $"launch {name}");
        }
        else Check(cuLaunchKernel(Fn(name), Math.Max(1, grid.x), Math.Max(1, grid.y), Math.Max(1, grid.z), block, 1, 1, shared, _stream, (void**)ptrs, null), $"launch {name}");
        if (_profile != null) Profiled(name, t0);
    }

    /// <summary>Hopper and later (PALU_CUDA_PDL=0 turns it off): kernels are launched as programmatic dependents of the one
    /// before, so the next kernel's blocks start as the last wave of the previous one runs (every kernel waits for the one
    /// before in PALU_GRID_START before touching its memory; the streamed GEMVs read their first chunk of weights
    /// before). H200, 7B shapes, per step: 1K batch 1 4.00 against 4.09-4.12 ms, batch 8 6.80 against 6.85-6.92, 16K
    /// equal within 0.5 %. (With the earlier batch-8 GEMV, a block per 16 rows, it lost 9 % at batch 8.)</summary>
    bool _pdl;

    /// <summary>PALU_CUDA_PROFILE=1: every launch is waited for and its wall time added to its kernel's total
    /// (slows everything down; for finding where the time goes, not for speed numbers).</summary>
    readonly Dictionary<string, (long Ticks, int Calls)>? _profile =
        Environment.GetEnvironmentVariable("PALU_CUDA_PROFILE") == "1" ? [] : null;

    void Profiled(string name, long t0)
    {
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
        var (ticks, calls) = _profile!.GetValueOrDefault(name);
        _profile![name] = (ticks + System.Diagnostics.Stopwatch.GetTimestamp() - t0, calls + 1);
    }

    /// <summary>The per-kernel totals under PALU_CUDA_PROFILE=1 (empty otherwise), largest first.</summary>
    public IEnumerable<string> ProfileReport()
    {
        if (_profile == null) yield break;
        double total = _profile.Values.Sum(v => (double)v.Ticks);
        foreach (var (name, (ticks, calls)) in _profile.OrderByDescending(kv => kv.Value.Ticks))
            yield return $"{name,-16} {calls,8} calls {ticks * 1000.0 / System.Diagnostics.Stopwatch.Frequency,10:F1} ms {ticks / total,7:P1} {ticks * 1e6 / System.Diagnostics.Stopwatch.Frequency / calls,9:F1} µs/call";
    }

    static uint Blocks(long n, uint block = 256) => (uint)Math.Clamp((n + block - 1) / block, 1, 65535 * 8);

    // ---- memory ----

    /// <summary>Allocations made on this thread until the scope ends belong to <paramref name="owner"/>: freed by <see cref="Release"/>.</summary>
    public override IDisposable Own(object owner)
    {
        var previous = t_owner;
        t_owner = owner;
        return new OwnerScope(() => t_owner = previous);
    }

    sealed class OwnerScope(Action end) : IDisposable { public void Dispose() => end(); }

    public override void Release(object owner)
    {
        List<CudaBuffer>? list;
        lock (_owned) { if (!_owned.Remove(owner, out list)) return; }
        foreach (var b in list) b.Dispose();
    }

    public override DeviceBuffer Allocate(long bytes)
    {
        using var _ = Enter();
        return AllocateLocked(bytes, t_owner);
    }

    CudaBuffer AllocateLocked(long bytes, object? owner)
    {
        BreakCapture();
        _epoch++;
        int r = cuMemAlloc(out ulong ptr, (nuint)Math.Max(bytes, 16));
        if (r == CUDA_ERROR_OUT_OF_MEMORY)
        {
            cuMemGetInfo(out var free, out var total);
            throw new InsufficientMemoryException($"GPU memory exhausted on {DeviceName}: {bytes / 1048576.0:N0} MiB more were needed, {(long)free / 1048576.0:N0} MiB of {(long)total / 1048576.0:N0} MiB are free; use a shorter context (--max-tokens, --seq-len) or a smaller batch");
        }
        Check(r, $"cuMemAlloc({bytes} bytes)");
        Check(cuMemsetD8Async(ptr, 0, (nuint)Math.Max(bytes, 16), _stream), "cuMemsetD8Async");
        Wrote();
        var b = new CudaBuffer(this, ptr, bytes);
        if (owner != null)
            lock (_owned)
            {
                if (!_owned.TryGetValue(owner, out var list)) _owned[owner] = list = [];
                list.Add(b);
            }
        return b;
    }

    internal void Free(ulong ptr, long bytes)
    {
        using var _ = Enter();
        _epoch++;
        if (_capturing)
        {
            _deferredFrees.Add((ptr, bytes));   // freed when the recording has ended (it breaks off)
            BreakCapture();
        }
        FlushRows();   // queued work may use the memory
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
        Check(cuMemFree(ptr), "cuMemFree");
    }

    /// <summary>A grow-only scratch buffer of at least <paramref name="bytes"/> for one purpose (call under the lock).</summary>
    CudaBuffer Scratch(string purpose, long bytes)
    {
        if (!_scratch.TryGetValue(purpose, out var b) || b.Bytes < bytes)
        {
            b?.Dispose();
            _scratch[purpose] = b = AllocateLocked(Math.Max(bytes, (b?.Bytes ?? 0) * 3 / 2), null);
        }
        return b;
    }

    /// <summary>Frees the scratch buffers and cached tables (they are made again when needed).</summary>
    public void TrimScratch()
    {
        using var _ = Enter();
        ForgetGraphs();
        foreach (var b in _scratch.Values) b.Dispose();
        _scratch.Clear();
        foreach (var (c, s) in _ropes.Values) { c.Dispose(); s.Dispose(); }
        _ropes.Clear();
    }

    static CudaBuffer Mem(DeviceBuffer b) => b as CudaBuffer ?? throw new ArgumentException("a buffer of another backend was given to the CUDA backend");
    static ulong Ptr(Buf b) => Mem(b.Memory).At(b.Offset);
    static CudaWeight Wt(DeviceWeight w) => w as CudaWeight ?? throw new ArgumentException("a weight of another backend was given to the CUDA backend");

    public override DeviceWeight Load(in WeightMatrix host)
    {
        using var _ = Enter();
        NotInGraph("weight upload");
        long bytes = (long)host.Rows * host.Cols * 2;
        var mem = AllocateLocked(bytes, t_owner);
        UploadBf16(host, mem.Pointer);
        return new CudaWeight(mem, 0, host.Rows, host.Cols, host.Cols, DType.BF16);
    }

    /// <summary>Streams a host matrix to device memory as compact bf16 rows: BF16 rows straight from the mapping,
    /// F32/F16 converted a block of rows (≤ 16 MiB) at a time, so no host copy of the whole matrix is made.</summary>
    void UploadBf16(in WeightMatrix host, ulong dst)
    {
        int cols = host.Cols;
        long rowBytes = (long)cols * 2;
        if (host.DType == DType.BF16 && host.Stride == cols)
        {
            Check(cuMemcpyHtoDAsync(dst, host.Data, (nuint)(rowBytes * host.Rows), _stream), "cuMemcpyHtoDAsync");
            Wrote();
            Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
            return;
        }
        int rowsPerBlock = (int)Math.Max(1, (16L << 20) / Math.Max(rowBytes, 1));
        var block = new ushort[(long)Math.Min(rowsPerBlock, host.Rows) * cols];
        var row = new float[cols];
        for (int r0 = 0; r0 < host.Rows; r0 += rowsPerBlock)
        {
            int n = Math.Min(rowsPerBlock, host.Rows - r0);
            for (int r = 0; r < n; r++)
            {
                host.RowToSingle(r0 + r, row);
                FloatConvert.SingleToBF16(row, block.AsSpan(r * cols, cols));
            }
            fixed (ushort* b = block) Check(cuMemcpyHtoDAsync(dst + (ulong)(r0 * rowBytes), b, (nuint)(n * rowBytes), _stream), "cuMemcpyHtoDAsync");
            Wrote();
            Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
        }
    }

    public override DeviceIndices Load(ReadOnlySpan<int> indices)
    {
        using var _ = Enter();
        NotInGraph("index upload");
        var mem = AllocateLocked((long)indices.Length * 4, t_owner);
        fixed (int* p = indices) Check(cuMemcpyHtoDAsync(mem.Pointer, p, (nuint)(indices.Length * 4), _stream), "cuMemcpyHtoDAsync");
        Wrote();
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
        return new CudaIndices(mem, indices.Length);
    }

    public override void Upload(ReadOnlySpan<float> src, Buf dst)
    {
        if (src.Length > dst.Length) throw new ArgumentException($"upload of {src.Length} floats into a buffer of {dst.Length}");
        using var _ = Enter();
        NotInGraph("upload");
        FlushAttention();
        FlushRows();
        fixed (float* p = src) Check(cuMemcpyHtoDAsync(Ptr(dst), p, (nuint)(src.Length * 4), _stream), "cuMemcpyHtoDAsync");
        Wrote();
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
    }

    public override void Download(Buf src, Span<float> dst)
    {
        int n = Math.Min(src.Length, dst.Length);
        using var _ = Enter();
        NotInGraph("download");
        FlushAttention();
        FlushRows();
        fixed (float* p = dst) Check(cuMemcpyDtoHAsync(p, Ptr(src), (nuint)(n * 4), _stream), "cuMemcpyDtoHAsync");
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize (a kernel before this copy may have failed)");
    }

    public override ReadOnlySpan<float> Peek(Buf src, ref float[] staging)
    {
        if (staging.Length < src.Length) staging = new float[src.Length];
        Download(src, staging);
        return staging.AsSpan(0, src.Length);
    }

    /// <summary>Waits for all queued work (a kernel fault surfaces here with the CUDA error).</summary>
    public void Synchronize()
    {
        using var _ = Enter();
        FlushRows();
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
    }

    public override void Dispose() { }
}
