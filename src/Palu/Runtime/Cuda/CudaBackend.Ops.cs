using Palu.Kernels.Cpu;
using Palu.Tensors;
using static Palu.Runtime.Cuda.CudaDriver;

namespace Palu.Runtime.Cuda;

/// <summary>The ops of <see cref="CudaBackend"/>: each enqueues kernels on the stream under the backend's lock.</summary>
public sealed unsafe partial class CudaBackend
{
    /// <summary>Row blocks up to this many rows (decode steps of up to 8 sequences) use the GEMV kernels, which stream W
    /// once for all rows; longer ones go to cuBLAS.</summary>
    const int GemvMaxRows = 8;

    /// <summary>Attention over at most this many query rows (decode) uses the split-key kernel: a block per 128 keys.</summary>
    const int SplitAttentionMaxRows = 4;

    static string Suffix(DType t) => t switch
    {
        DType.F32 => "f32", DType.BF16 => "bf16", DType.F16 => "f16",
        _ => throw new NotSupportedException($"the CUDA kernels take f32, bf16 or f16, not {DTypes.Name(t)}"),
    };

    public override void Embed(DeviceWeight table, ReadOnlySpan<int> ids, Buf x)
    {
        var w = Wt(table);
        using var _ = Enter();
        if (_capturing)
        {
            // a recorded step reads its ids from the step block, written before each replay
            if (ids.Length != _captureIds) NotInGraph("an embedding of other ids than the step's");
            Launch("embed_" + Suffix(w.DType), ((uint)ids.Length, 1), 256, w.Pointer, StepBlock().Pointer + 8, Ptr(x), ids.Length, w.Cols);
            return;
        }
        var idBuf = Scratch("ids", (long)ids.Length * 4);
        fixed (int* p = ids) Check(cuMemcpyHtoDAsync(idBuf.Pointer, p, (nuint)(ids.Length * 4), _stream), "cuMemcpyHtoDAsync");
        Wrote();
        Launch("embed_" + Suffix(w.DType), ((uint)ids.Length, 1), 256, w.Pointer, idBuf.Pointer, Ptr(x), ids.Length, w.Cols);
    }

    public override void MatMul(Buf x, DeviceWeight w, Buf y, int T)
    {
        var wt = Wt(w);
        if (x.Length < (long)T * wt.Cols || y.Length < (long)T * wt.Rows)
            throw new ArgumentException($"MatMul: x [{T}, {wt.Cols}] and y [{T}, {wt.Rows}] do not fit buffers of {x.Length} and {y.Length}");
        using var _ = Enter();
        MatMulLocked(Ptr(x), wt, Ptr(y), T);
    }

    /// <summary>y [T, m] = x [T, n]·Wᵀ at device addresses: the GEMV kernel for few rows, else cuBLAS on bf16 copies.</summary>
    void MatMulLocked(ulong x, CudaWeight w, ulong y, int T)
    {
        int n = w.Cols, m = w.Rows;
        if (T == 0 || m == 0) return;
        if (T <= GemvMaxRows || w.DType != DType.BF16)
        {
            if (w.DType == DType.BF16 && n % 8 == 0 && w.Stride % 8 == 0 && w.Pointer % 16 == 0 && x % 16 == 0 && (T == 1 || n % 64 == 0))
            {
                if ((T == 1 || _fewRowGemv.BlocksPerSm > 0) && !_flushingGemvs && TakeSwiGlu(x, (long)T * n) is { } sw)
                {
                    FlushGemvs();
                    FlushRows();
                    QueuedGemv[] one = [new QueuedGemv(x, w.Pointer, w.Stride, y, T, n, m)];
                    if (T == 1) StreamGemvs(one, sw.Up);
                    else StreamFewRowGemvs(one, sw.Up);
                    return;
                }
                var g = new QueuedGemv(x, w.Pointer, w.Stride, y, T, n, m);
                if (!QueueGemv(g)) GemvLocked(g);
                return;
            }
            for (int t0 = 0; t0 < T; t0 += 8)
            {
                int rows = Math.Min(8, T - t0);
                ulong xt = x + (ulong)((long)t0 * n * 4), yt = y + (ulong)((long)t0 * m * 4);
                int vec = n % 8 == 0 && w.Stride % 8 == 0 && w.Pointer % 16 == 0 && xt % 16 == 0 ? 1 : 0;
                Launch("gemv_" + Suffix(w.DType), ((uint)((m + 7) / 8), 1), 256, w.Pointer, w.Stride, xt, yt, rows, n, m, vec);
            }
            return;
        }
        NotInGraph("cuBLAS");
        long count = (long)T * n;
        // a held-back SwiGLU of x makes its product straight into the bf16 operand (the gate buffer keeps the gate)
        var swiglu = TakeSwiGlu(x, count);
        FlushAttention();
        FlushRows();
        var xb = Scratch("gemm-x", count * 2);                                  // [T, n] bf16
        if (swiglu is { } held)
        {
            Launch("swiglu4_bf16", (Blocks(count / 4), 1), 256, held.Gate, held.Up, xb.Pointer, count / 4);
            (_castSource, _castCount, _castTarget, _launchesSinceCast) = (x, count, xb.Pointer, 0);
        }
        // Q, K, V (and gate, up) multiply the same activations: their bf16 copy is made once while no kernel ran since
        else if (!(x == _castSource && count == _castCount && xb.Pointer == _castTarget && _launchesSinceCast == 0))
        {
            if (count % 4 == 0 && x % 16 == 0) Launch("cast4_bf16", (Blocks(count / 4), 1), 256, x, xb.Pointer, count / 4);
            else Launch("cast_bf16", (Blocks(count), 1), 256, x, xb.Pointer, count);
            (_castSource, _castCount, _castTarget, _launchesSinceCast) = (x, count, xb.Pointer, 0);
        }
        float alpha = 1, beta = 0;
        // row-major y [T, m] = x [T, n]·Wᵀ is column-major yᵀ [m, T] = W (stored [n, m] column-major, transposed)·xᵀ
        long started = _profile != null ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        Cublas.Check(Cublas.cublasGemmEx(_cublas, Cublas.CUBLAS_OP_T, Cublas.CUBLAS_OP_N, m, T, n, &alpha,
            w.Pointer, Cublas.CUDA_R_16BF, w.Stride, xb.Pointer, Cublas.CUDA_R_16BF, n, &beta, y, Cublas.CUDA_R_32F, m,
            Cublas.CUBLAS_COMPUTE_32F, Cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
        if (_profile != null) Profiled("cublasGemmEx", started);
    }

    /// <summary>One row of x: f32 products, the streamed kernel (gemvtR) or 2 rows of W per block (gemvs2); 2..8 rows:
    /// tensor cores (n % 64 == 0), streamed (gemvq2) or 16 rows of W per block (gemvm2).</summary>
    void GemvLocked(in QueuedGemv g)
    {
        if (g.T == 1 && _oneRowGemv.Rows > 0) StreamGemvs([g]);
        else if (g.T == 1) Launch("gemvs2_bf16", ((uint)((g.M + 1) / 2), 1), 128, g.W, g.Stride, g.X, g.Y, g.T, g.N, g.M);
        else if (_fewRowGemv.BlocksPerSm > 0) StreamFewRowGemvs([g]);
        else Launch("gemvm2_bf16", ((uint)((g.M + 15) / 16), 1), 128, g.W, g.Stride, g.X, g.Y, g.T, g.N, g.M);
    }

    ulong _castSource, _castTarget;   // the activations last copied to bf16 for cuBLAS, and where
    long _castCount;
    int _launchesSinceCast = 1;       // kernels launched since (any of them may have changed the activations)

    /// <summary>Device memory was written by a copy or fill: a cached bf16 copy of activations may be stale.</summary>
    void Wrote() => _launchesSinceCast = 1;

    public override void MatMul(ReadOnlySpan<float> x, DeviceWeight w, Span<float> y, int T)
    {
        var wt = Wt(w);
        int n = wt.Cols, m = wt.Rows;
        using var _ = Enter();
        NotInGraph("a product with host operands");
        FlushAttention();
        FlushRows();
        var xd = Scratch("host-x", (long)T * n * 4);
        var yd = Scratch("host-y", (long)T * m * 4);
        fixed (float* p = x) Check(cuMemcpyHtoDAsync(xd.Pointer, p, (nuint)((long)T * n * 4), _stream), "cuMemcpyHtoDAsync");
        Wrote();
        MatMulLocked(xd.Pointer, wt, yd.Pointer, T);
        FlushRows();   // a GEMV of few rows is queued: run it before its result is copied back
        fixed (float* p = y) Check(cuMemcpyDtoHAsync(p, yd.Pointer, (nuint)((long)T * m * 4), _stream), "cuMemcpyDtoHAsync");
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
    }

    /// <summary>The logits [T, V] stay on the GPU: the product, then logsoftmax_at; T floats come back.</summary>
    public override bool TargetLogProbs(ReadOnlySpan<float> x, DeviceWeight w, ReadOnlySpan<int> targets, Span<float> logProbs, int T)
    {
        var wt = Wt(w);
        int n = wt.Cols, V = wt.Rows;
        if (x.Length < (long)T * n || targets.Length < T || logProbs.Length < T)
            throw new ArgumentException($"TargetLogProbs: x [{T}, {n}], targets [{T}] and logProbs [{T}] do not fit spans of {x.Length}, {targets.Length} and {logProbs.Length}");
        for (int t = 0; t < T; t++)
            if ((uint)targets[t] >= (uint)V) throw new ArgumentOutOfRangeException(nameof(targets), $"target token {targets[t]} outside the vocabulary of {V}");
        if (T == 0) return true;
        using var _ = Enter();
        NotInGraph("a product with host operands");
        FlushAttention();
        FlushRows();
        var xd = Scratch("host-x", (long)T * n * 4);     // [T, n]
        var ld = Scratch("host-y", (long)T * V * 4);     // [T, V] logits
        var td = Scratch("lp-targets", (long)T * 4);     // [T] int
        var od = Scratch("lp-out", (long)T * 4);         // [T]
        fixed (float* p = x) Check(cuMemcpyHtoDAsync(xd.Pointer, p, (nuint)((long)T * n * 4), _stream), "cuMemcpyHtoDAsync");
        Wrote();
        fixed (int* p = targets) Check(cuMemcpyHtoDAsync(td.Pointer, p, (nuint)(T * 4), _stream), "cuMemcpyHtoDAsync");
        Wrote();
        MatMulLocked(xd.Pointer, wt, ld.Pointer, T);
        Launch("logsoftmax_at", ((uint)T, 1), 256, ld.Pointer, td.Pointer, od.Pointer, V);
        fixed (float* p = logProbs) Check(cuMemcpyDtoHAsync(p, od.Pointer, (nuint)(T * 4), _stream), "cuMemcpyDtoHAsync");
        Check(cuStreamSynchronize(_stream), "cuStreamSynchronize (a kernel before this copy may have failed)");
        return true;
    }

    public override void AddBias(Buf y, Buf bias, int T)
    {
        using var _ = Enter();
        Launch("add_bias", (Blocks((long)T * bias.Length), 1), 256, Ptr(y), Ptr(bias), T, bias.Length);
    }

    /// <summary>The residual add is held back one op: when the next op is the norm of the sum (the model's add, then
    /// norm), both run as one add_rmsnorm kernel; any other op runs it first.</summary>
    public override void Add(Buf x, Buf y)
    {
        using var _ = Enter();
        if (_pendingAdd is { } p) { _pendingAdd = null; AddLocked(p.X, p.Y, p.Length); }
        FlushRows();
        _pendingAdd = (Ptr(x), Ptr(y), x.Length);
    }

    (ulong X, ulong Y, long Length)? _pendingAdd;

    void AddLocked(ulong x, ulong y, long n) => Launch("add_inplace", (Blocks(n), 1), 256, x, y, n);

    public override void CopyBlock(Buf src, int srcStride, int srcCol, Buf dst, int dstStride, int dstCol, int rows, int width)
    {
        using var _ = Enter();
        CopyBlockLocked(Ptr(src), srcStride, srcCol, Ptr(dst), dstStride, dstCol, rows, width);
    }

    void CopyBlockLocked(ulong src, int srcStride, int srcCol, ulong dst, int dstStride, int dstCol, int rows, int width) =>
        Launch("copy_block", (Blocks((long)rows * width), 1), 256, src, srcStride, srcCol, dst, dstStride, dstCol, rows, width);

    public override void Gather(Buf x, DeviceIndices cols, Buf y, int T) => GatherOp(x, cols, y, T, accumulate: 0);
    public override void GatherAdd(Buf x, DeviceIndices cols, Buf y, int T) => GatherOp(x, cols, y, T, accumulate: 1);

    void GatherOp(Buf x, DeviceIndices cols, Buf y, int T, int accumulate)
    {
        var c = cols as CudaIndices ?? throw new ArgumentException("indices of another backend were given to the CUDA backend");
        int n = x.Length / Math.Max(T, 1);
        using var _ = Enter();
        Launch("gather", (Blocks((long)T * c.Length), 1), 256, Ptr(x), c.Memory.Pointer, Ptr(y), T, n, c.Length, accumulate);
    }

    public override void RmsNorm(Buf x, Buf weight, Buf y, int rows, float eps)
    {
        using var _ = Enter();
        int n = weight.Length;
        bool add = _pendingAdd is { } p && p.X == Ptr(x) && p.Length == (long)rows * n && Ptr(y) != p.X;
        ulong r = add ? _pendingAdd!.Value.Y : 0;
        if (add) _pendingAdd = null;
        // rows of n % 4 == 0 up to 16 K floats: the float4 kernel, all of a row in registers (few rows: a thread per
        // float4, so one row's block is as wide as it can be; many rows: up to 4 float4 per thread)
        if (n % 4 == 0 && n <= 4 * 4096 && (Ptr(x) | Ptr(weight) | Ptr(y) | r) % 16 == 0)
        {
            int n4 = n / 4, threads = Math.Clamp((rows <= 16 ? n4 : (n4 + 3) / 4) + 31 & ~31, 32, 1024);
            if (add) Launch("add_rmsnorm4", ((uint)rows, 1), (uint)threads, Ptr(x), r, Ptr(weight), Ptr(y), rows, n, eps);
            else Launch("rmsnorm4", ((uint)rows, 1), (uint)threads, Ptr(x), Ptr(weight), Ptr(y), rows, n, eps);
            return;
        }
        if (add) Launch("add_rmsnorm", ((uint)rows, 1), 256, Ptr(x), r, Ptr(weight), Ptr(y), rows, n, eps);
        else Launch("rmsnorm", ((uint)rows, 1), 256, Ptr(x), Ptr(weight), Ptr(y), rows, n, eps);
    }

    public override void Rope(Buf x, int T, int heads, int startPos, RopeTable table)
    {
        using var _ = Enter();
        if (T == 1 && _ropes.ContainsKey(RopeKey(table)))
        {
            if (startPos + 1 > table.MaxPositions) throw new ArgumentOutOfRangeException(nameof(startPos), $"RoPE position {startPos} beyond the table's {table.MaxPositions}");
            Headroom(table.MaxPositions - (startPos + T));
            if (QueueRope(new DecodeRows.Rope(Ptr(x), heads, table, startPos))) return;
        }
        if (T > 1 && QueueSeqRope(Ptr(x), T, heads, startPos, table)) return;
        RopeLocked(Ptr(x), T, heads, startPos, table);
    }

    /// <summary>The device copy of a RoPE table (uploaded at first use).</summary>
    (CudaBuffer Cos, CudaBuffer Sin) RopeTables(RopeTable table)
    {
        string key = RopeKey(table);
        if (!_ropes.TryGetValue(key, out var t))
        {
            BreakCapture();   // the table is uploaded eagerly first
            var cos = AllocateLocked((long)table.Cos.Length * 4, null);
            var sin = AllocateLocked((long)table.Sin.Length * 4, null);
            fixed (float* c = table.Cos, s = table.Sin)
            {
                Check(cuMemcpyHtoDAsync(cos.Pointer, c, (nuint)(table.Cos.Length * 4), _stream), "cuMemcpyHtoDAsync");
                Wrote();
                Check(cuMemcpyHtoDAsync(sin.Pointer, s, (nuint)(table.Sin.Length * 4), _stream), "cuMemcpyHtoDAsync");
                Wrote();
            }
            Check(cuStreamSynchronize(_stream), "cuStreamSynchronize");
            _ropes[key] = t = (cos, sin);
        }
        return t;
    }

    void RopeLocked(ulong x, int T, int heads, int startPos, RopeTable table)
    {
        if (startPos + T > table.MaxPositions) throw new ArgumentOutOfRangeException(nameof(T), $"RoPE positions up to {startPos + T} beyond the table's {table.MaxPositions}");
        Headroom(table.MaxPositions - (startPos + T));
        var t = RopeTables(table);
        if (table.HeadDim % 4 == 0 && x % 8 == 0 && (long)T * heads < int.MaxValue - 8)   // a warp per (row, head)
            Launch("rope_rows", ((uint)(((long)T * heads + 7) / 8), 1), 256, x, t.Cos.Pointer, t.Sin.Pointer, T, heads, table.HeadDim, startPos, ShiftPointer);
        else
            Launch("rope", (Blocks((long)T * heads * (table.HeadDim / 2)), 1), 256, x, t.Cos.Pointer, t.Sin.Pointer, T, heads, table.HeadDim, startPos, ShiftPointer);
    }

    /// <summary>A table's identity by content (head dim, positions, frequencies), so reloading a model reuses its copy.</summary>
    static string RopeKey(RopeTable t) => s_ropeKeys.GetValue(t, t =>
        $"{t.HeadDim}:{t.MaxPositions}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.InvFreq.AsSpan())))}");

    /// <summary>Each table's key, hashed once (a prefill step asks for it per sequence and layer).</summary>
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<RopeTable, string> s_ropeKeys = new();

    /// <summary>Held back one op, like the residual add: when the next op is the product of the gate (the MLP's down
    /// projection), that product makes silu(gate)·up itself and the gate buffer keeps the gate: one row, the streamed
    /// GEMV as it reads x; many, the kernel that writes cuBLAS's bf16 operand. Any other op runs the swiglu kernel first.
    /// But when the gate and up products of one row are the queued GEMVs (the MLP's, queued together), they run as one
    /// gemvt*_glu launch whose row groups hold rows of both and which writes silu(g)·u into the gate itself.</summary>
    public override void SwiGlu(Buf gate, Buf up)
    {
        using var _ = Enter();
        if (GluFits(Ptr(gate), Ptr(up), gate.Length))
        {
            var (g, u) = (_gemvQueue[0], _gemvQueue[1]);
            _gemvQueue.Clear();
            FlushAttention();
            _flushingGemvs = true;   // the launch below must not flush the queue it came from
            try { GluGemv(g, u); }
            finally { _flushingGemvs = false; }
            return;
        }
        FlushRows();
        if (_oneRowGemv.Rows > 0 && gate.Length % 4 == 0 && (Ptr(gate) | Ptr(up)) % 16 == 0) _pendingSwiGlu = new HeldSwiGlu(Ptr(gate), Ptr(up), gate.Length);
        else SwiGluLocked(Ptr(gate), Ptr(up), gate.Length);
    }

    /// <summary>PALU_CUDA_FUSE_GLU=0: the gate and up products and the SwiGLU after them are not made by one launch.</summary>
    static readonly bool s_fuseGlu = Environment.GetEnvironmentVariable("PALU_CUDA_FUSE_GLU") != "0";

    /// <summary>True when the GEMV queue holds exactly the one-row products writing gate [n] and up [n] (in that order,
    /// of one x) and nothing else is queued or held back, so that <see cref="GluGemv"/> may make them and the SwiGLU.</summary>
    bool GluFits(ulong gate, ulong up, long n) =>
        s_fuseGlu && !_flushingGemvs && _gemvQueue.Count == 2 && _gemvQueue[0] is var g && _gemvQueue[1] is var u && g.T == u.T
        && (g.T == 1 ? _oneRowGemv.Rows is 2 or 4 : _fewRowGemv.BlocksPerSm > 0)
        && g.Y == gate && u.Y == up && (long)g.T * g.M == n && g.M == u.M
        && _pendingAdd == null && _pendingSwiGlu == null && _ropeQueue.Count == 0 && _storeQueue.Count == 0;

    /// <summary>up = x·Wuᵀ and gate = silu(x·Wgᵀ)·up: one row by gemvtR_glu (a row group is R/2 rows of each), 2..8 rows by
    /// gemvq2_glu (a group is 8 rows of each).</summary>
    void GluGemv(in QueuedGemv gate, in QueuedGemv up)
    {
        if (gate.T > 1)
        {
            var set8 = Set([gate, up], 8, out _);
            int groups8 = set8.First[1];   // ⌈m / 8⌉
            set8.First[2] = set8.First[3] = groups8;
            LaunchFewRowGemv("glu", gate, set8, groups8, 0);
            return;
        }
        int R = _oneRowGemv.Rows;
        var set = Set([gate, up], R / 2, out _);
        int groups = set.First[1];   // ⌈m / (R/2)⌉: a group holds R/2 rows of each product
        set.First[2] = set.First[3] = groups;
        int grid = StreamGrid(groups, Multiprocessors * _oneRowGemv.BlocksPerSm, s_evenGemvGrid);
        Launch($"gemvt{R}_glu", ((uint)grid, 1), 128, gate.X, 1, gate.N, set);
    }

    /// <summary>A held-back SwiGLU: gate [Length] and up at device addresses (Length % 4 == 0, both 16-byte aligned).</summary>
    readonly record struct HeldSwiGlu(ulong Gate, ulong Up, long Length);

    HeldSwiGlu? _pendingSwiGlu;

    /// <summary>The held-back SwiGLU when its product is x [length] (it is then no longer held), else null.</summary>
    HeldSwiGlu? TakeSwiGlu(ulong x, long length)
    {
        if (_pendingSwiGlu is not { } sw || sw.Gate != x || sw.Length != length) return null;
        _pendingSwiGlu = null;
        return sw;
    }

    void SwiGluLocked(ulong gate, ulong up, long n) => Launch("swiglu", (Blocks(n), 1), 256, gate, up, n);

    public override void Store(Buf src, int rowStride, int column, KvStore dst, int start, int T)
    {
        if (start < 0 || start + T > dst.Capacity) throw new ArgumentOutOfRangeException(nameof(T), $"positions [{start}, {start + T}) outside a cache of {dst.Capacity}");
        if (T == 0) return;
        using var _ = Enter();
        Headroom(dst.Capacity - (start + T));
        // one row: heads × width floats from column `column` of src (its row stride does not matter)
        if (T == 1 && QueueStore(new DecodeRows.Store(Ptr(src) + (ulong)((long)column * 4), dst.Heads, dst.Width, start, Mem(dst.Memory).Pointer, dst.DType, dst.Capacity))) return;
        if (T > 1 && QueueSeqStore(Ptr(src), rowStride, column, Mem(dst.Memory).Pointer, dst.DType, dst.Heads, dst.Capacity, dst.Width, start, T)) return;
        StoreLocked(Ptr(src), rowStride, column, Mem(dst.Memory).Pointer, dst.DType, dst.Heads, dst.Capacity, dst.Width, start, T);
    }

    /// <summary>Rows [start, start + T) of the cache: a warp per (row, head) with float4 reads where the columns allow
    /// (store4_*), else a thread per element.</summary>
    void StoreLocked(ulong src, int rowStride, int column, ulong dst, DType dtype, int heads, int cap, int width, int start, int T)
    {
        if (width % 4 == 0 && rowStride % 4 == 0 && column % 4 == 0 && src % 16 == 0 && dst % 16 == 0 && (long)T * heads < int.MaxValue - 8)
            Launch("store4_" + Suffix(dtype), ((uint)(((long)T * heads + 7) / 8), 1), 256,
                src, rowStride, column, dst, heads, cap, width, start, T, ShiftPointer);
        else
            Launch("store_" + Suffix(dtype), (Blocks((long)T * heads * width), 1), 256,
                src, rowStride, column, dst, heads, cap, width, start, T, ShiftPointer);
    }

    public override void Attention(Buf q, KvStore k, KvStore v, Buf output, in AttentionCall c)
    {
        if (k.DType != v.DType) throw new NotSupportedException($"keys in {DTypes.Name(k.DType)} and values in {DTypes.Name(v.DType)}: the CUDA attention needs one dtype");
        if (k.Capacity != v.Capacity) throw new ArgumentException("key and value stores of different capacities");
        using var _ = Enter();
        if (Queue(new QueuedAttention(Ptr(q), Mem(k.Memory).Pointer, Mem(v.Memory).Pointer, Ptr(output), k.DType, c, v.Width, k.Capacity))) return;
        AttentionLocked(Ptr(q), Mem(k.Memory).Pointer, Mem(v.Memory).Pointer, Ptr(output), k.DType, c, v.Width, k.Capacity);
    }

    /// <summary>Flash-decoding attention: the keys are cut into splits when the query rows alone give too few warps.</summary>
    void AttentionLocked(ulong q, ulong k, ulong v, ulong o, DType dtype, in AttentionCall c, int dv, int cap)
    {
        if (c.HeadDim > 256 || dv > 256) throw new NotSupportedException($"the CUDA attention handles head and value widths up to 256, not {c.HeadDim}/{dv}");
        int S = c.StartPos + c.T, items = c.T * c.Heads;
        float scale = 1f / MathF.Sqrt(c.HeadDim);
        if (c.T <= SplitAttentionMaxRows)
        {
            // decode: a block per (row, head, 128 keys), then the merge. A recorded step's grid covers its bucket of
            // positions (splits past a row's position come out empty); the partials are sized for any step of this
            // cache, so that decoding allocates nothing.
            int n = _capturing ? GraphSplits(S) : (S + 127) / 128;
            ulong partials = Scratch("attn-part", (long)items * Math.Max(n, GraphSplits(cap)) * (2 + dv) * 4).Pointer;
            if (dtype == DType.BF16 && dv == c.HeadDim && dv is 64 or 128 && (q | k | v) % 16 == 0)
            {
                // the kernel merges the splits itself (the last block of each item)
                if (LongSplits(n, items) is int chunks)
                    Launch($"attn_decodec{dv}_bf16", ((uint)items, (uint)((n + chunks - 1) / chunks)), 128,
                        q, k, v, partials, o, MergeCounters(items), ShiftPointer, c.T, c.StartPos, c.Heads, c.KvHeads, cap, c.Window ?? 0, (n + chunks - 1) / chunks, chunks, scale);
                else
                    Launch($"attn_decode{dv}_bf16", ((uint)items, (uint)n), 128,
                        q, k, v, partials, o, MergeCounters(items), ShiftPointer, c.T, c.StartPos, c.Heads, c.KvHeads, cap, c.Window ?? 0, n, scale);
                return;
            }
            int vec = c.HeadDim % 8 == 0 && k % 16 == 0 ? 1 : 0;
            Launch("attn_split_" + Suffix(dtype), ((uint)items, (uint)n), 128,
                q, k, v, partials, c.T, c.StartPos, c.Heads, c.KvHeads, c.HeadDim, dv, cap, c.Window ?? 0, n, scale, vec, ShiftPointer);
            Launch("attn_combine", ((uint)((items + 3) / 4), 1), 128, partials, o, items, n, dv);
            return;
        }
        NotInGraph("prefill attention");
        if (dtype == DType.BF16 && dv == c.HeadDim && dv is 32 or 64 or 128)
        {
            // prefill on the tensor cores: a block per (64 query rows, head)
            // K and V tiles are double-buffered in dynamic shared memory: 2 × 2 × 64 keys × (d + 8) bf16
            uint shared = (uint)(2 * 2 * 64 * (dv + 8) * 2);
            LaunchWithShared($"flash{dv}_bf16", ((uint)((c.T + 63) / 64), (uint)c.Heads, 1u), 128, shared,
                q, k, v, o, c.T, c.StartPos, c.Heads, c.KvHeads, cap, c.Window ?? 0, scale);
            return;
        }
        int splits = 1, splitLen = S;
        int wantWarps = 8 * Multiprocessors * 4;
        if (items < wantWarps && S > 256)
        {
            splits = Math.Clamp((wantWarps + items - 1) / items, 1, (S + 127) / 128);
            splitLen = (S + splits - 1) / splits;
            splits = (S + splitLen - 1) / splitLen;
        }
        ulong part = splits > 1 ? Scratch("attn-part", (long)items * splits * (2 + dv) * 4).Pointer : 0;
        Launch("attn_" + Suffix(dtype), ((uint)((items + 3) / 4), (uint)splits), 128,
            q, k, v, o, part, c.T, c.StartPos, c.Heads, c.KvHeads, c.HeadDim, dv, cap, c.Window ?? 0, splits, splitLen, scale);
        if (splits > 1) Launch("attn_combine", ((uint)((items + 3) / 4), 1), 128, part, o, items, splits, dv);
    }

    /// <summary>PALU_CUDA_ATTN_CHUNKS=C (1, 2, 4 or 8) makes every decode attention over at least 2·C splits of 128 keys
    /// give each block C consecutive splits (attn_long.cu; 1: one split per block); unset or 0, <see cref="LongSplits"/>
    /// picks C. Settable (tests).</summary>
    public int AttentionChunks
    {
        get => _attentionChunks;
        set => _attentionChunks = value is 0 or 1 or 2 or 4 or 8 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"attention chunks {value}: 0 (chosen by length), 1, 2, 4 or 8");
    }
    int _attentionChunks = int.TryParse(Environment.GetEnvironmentVariable("PALU_CUDA_ATTN_CHUNKS"), out int ch) && ch is 1 or 2 or 4 or 8 ? ch : 0;

    /// <summary>The chunks per block for n splits of 128 keys of <paramref name="items"/> (row, head) pairs (⌈n/C⌉ blocks
    /// per item; keys past a row's position are not read), or null for the one-split blocks. Chosen: the largest C of
    /// 8, 4, 2 that leaves at least 4 blocks per multiprocessor. (H200, 7B shapes, per step against one split per
    /// block: 16K batch 8 21.86 against 23.34 ms with C = 8 (C = 4: 22.15), 16K batch 1 6.04 against 6.33 (C = 8);
    /// at 1K, 16 splits, batch 1 C = 2, 4, 8 gave 4.12, 4.19, 4.32 against 4.12 ms, batch 8 7.53, 7.48, 7.52 against
    /// 7.49-7.59.)</summary>
    int? LongSplits(int n, int items)
    {
        int c = _attentionChunks;
        if (c == 0)
        {
            c = 1;
            foreach (int k in new[] { 8, 4, 2 })
                if ((long)items * ((n + k - 1) / k) >= 4L * Multiprocessors) { c = k; break; }
        }
        return c > 1 && n >= 2 * c ? c : null;
    }

    /// <summary>Per-item block counters [items] (ints, zero between launches) for the decode attention's own merge.</summary>
    ulong MergeCounters(int items) => Scratch("attn-count", (long)items * 4).Pointer;

    /// <summary>
    /// Latent attention by composition (no fused kernel yet): per KV head, the visible keys are rebuilt from the key
    /// latents by one matrix product ([n, r] × [r, d_h]), bias, key norm and RoPE follow row-wise, the head's queries
    /// are gathered, and the flash-decoding kernel attends with the group's value latents as values (width r).
    /// </summary>
    public override void LatentAttention(Buf q, ReadOnlySpan<LatentHead> heads, Buf kNorm, float normEps, RopeTable rope,
        ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall c)
    {
        int H = c.Heads, Hkv = c.KvHeads, G = H / Hkv, dh = c.HeadDim, T = c.T, S = c.StartPos + T, zDim = zOffsets[H];
        int first = c.Window is int w ? Math.Max(0, c.StartPos - w + 1) : 0, n = S - first;
        using var _ = Enter();
        NotInGraph("latent attention");
        var keys = Scratch("lat-keys", (long)S * dh * 4).Pointer;                    // [S, d_h], rows [first, S)
        var qh = Scratch("lat-q", (long)T * G * dh * 4).Pointer;                     // [T, G, d_h]
        int maxRv = 0;
        foreach (var h in heads) maxRv = Math.Max(maxRv, h.ValueLatents.Width);
        var zk = Scratch("lat-z", (long)T * G * maxRv * 4).Pointer;                  // [T, G, r]
        ulong rows = keys + (ulong)((long)first * dh * 4);
        for (int kh = 0; kh < Hkv; kh++)
        {
            var head = heads[kh];
            if (head.KeyLatents.DType != DType.F32 || head.ValueLatents.DType != DType.F32)
                throw new NotSupportedException("latent caches are stored in f32 on the GPU");
            int rk = head.KeyLatents.Width, rv = head.ValueLatents.Width;
            MatMulLocked(Mem(head.KeyLatents.Memory).Pointer + (ulong)((long)first * rk * 4), Wt(head.KeyUp), rows, n);
            if (!head.KeyBias.IsEmpty) Launch("add_bias", (Blocks((long)n * dh), 1), 256, rows, Ptr(head.KeyBias), n, dh);
            if (!kNorm.IsEmpty) Launch("rmsnorm", ((uint)n, 1), 256, rows, Ptr(kNorm), rows, n, dh, normEps);
            RopeLocked(rows, n, 1, first, rope);
            CopyBlockLocked(Ptr(q), H * dh, kh * G * dh, qh, G * dh, 0, T, G * dh);
            AttentionLocked(qh, keys, Mem(head.ValueLatents.Memory).Pointer, zk, DType.F32,
                new AttentionCall(T, c.StartPos, G, 1, dh, c.Window), rv, S);
            for (int g = 0; g < G; g++) CopyBlockLocked(zk, G * rv, g * rv, Ptr(z), zDim, zOffsets[kh * G + g], T, rv);
        }
    }
}
