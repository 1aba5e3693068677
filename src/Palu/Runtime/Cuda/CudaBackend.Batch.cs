using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Runtime.Cuda;

/// <summary>Up to 8 sequences' caches and positions, passed by value to attn_decodem* (the layout of SeqTable in decode.cu).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SeqTable
{
    public Ptrs8 K, V;
    public Ints8 Start, Cap;

    [InlineArray(8)] public struct Ptrs8 { ulong _e; }
    [InlineArray(8)] public struct Ints8 { int _e; }
}

/// <summary>Up to 24 one-row ropes and cache stores of a decode step, passed by value to rows_* (the layout of RowTable in
/// decode.cu; flags: 1 rotate, 2 store).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RowTable
{
    public const int Capacity = 24;
    public Ptrs24 X, Dst;
    public Ints24 Start, Cap, Heads, Flags;

    [InlineArray(Capacity)] public struct Ptrs24 { ulong _e; }
    [InlineArray(Capacity)] public struct Ints24 { int _e; }
}

/// <summary>Up to 3 GEMV products of one x, passed by value to gemvs2x/gemvm2x (the layout of GemvSet in decode.cu).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GemvSet
{
    public Ptrs3 W, Y;
    public Ints3 Stride, M;
    public Ints4 First;

    [InlineArray(3)] public struct Ptrs3 { ulong _e; }
    [InlineArray(3)] public struct Ints3 { int _e; }
    [InlineArray(4)] public struct Ints4 { int _e; }
}

/// <summary>
/// Decode attention of a batch in one launch: <see cref="ForEach"/> (the per-sequence part of a batched step) queues
/// the dense attention calls of its body and runs the queue as one attn_decodem kernel over all sequences (grid z),
/// which also merges the splits, instead of two launches per sequence (up to 8 sequences); a prefill step's calls run as
/// flash_seqs launches (CudaBackend.Seqs.cs). Calls that do not fit (other dtypes or widths, rows not consecutive) run
/// one by one, in order; any other op flushes the queue first, so the order of work is kept.
/// </summary>
public sealed unsafe partial class CudaBackend
{
    // ---- one-row RoPE and cache stores of a decode step: queued, then one launch ----
    // CausalLM and DenseAttention rotate and store each sequence's row separately (8 sequences: 8 launches per op, and
    // Q, K, V apart). A one-row Rope or Store is queued instead; the next other op (any launch, copy or cuBLAS call)
    // runs them all as one rows_* launch (up to 24 entries): a K row is rotated and stored by one entry, Q rows are
    // rotated, V rows stored. A rope over memory that a queued store reads runs the queue first, so no store ever
    // sees a rotation made after it.

    readonly List<DecodeRows.Rope> _ropeQueue = [];
    readonly List<DecodeRows.Store> _storeQueue = [];
    bool _flushingRows;

    bool QueueRope(in DecodeRows.Rope r)
    {
        if (_flushingRows) return false;
        foreach (var s in _storeQueue)
            if (r.X < s.Src + (ulong)s.SrcBytes && s.Src < r.X + (ulong)r.Bytes) { FlushRows(); break; }
        _ropeQueue.Add(r);
        return true;
    }

    bool QueueStore(in DecodeRows.Store s)
    {
        if (_flushingRows) return false;
        _storeQueue.Add(s);
        return true;
    }

    /// <summary>Runs everything queued, in an order equivalent to the calls': the GEMVs, the held-back add, the ropes,
    /// the stores. (The launches made here do not flush again.)</summary>
    void FlushRows()
    {
        if (_flushingRows) return;
        FlushSeqs();   // entered only while nothing below was queued, so it goes first (CudaBackend.Seqs.cs)
        FlushGemvs();
        if (_pendingAdd == null && _pendingSwiGlu == null && _ropeQueue.Count == 0 && _storeQueue.Count == 0) return;
        _flushingRows = true;
        try
        {
            if (_pendingSwiGlu is { } sw) { _pendingSwiGlu = null; SwiGluLocked(sw.Gate, sw.Up, sw.Length); }
            if (_pendingAdd is { } add) { _pendingAdd = null; AddLocked(add.X, add.Y, add.Length); }
            var entries = DecodeRows.Entries(_ropeQueue.ToArray(), _storeQueue.ToArray());
            _ropeQueue.Clear(); _storeQueue.Clear();
            RunRows(entries);
        }
        finally { _flushingRows = false; }
    }

    /// <summary>Runs row entries as <see cref="DecodeRows.Groups"/> plans them, one rows_* launch per group.</summary>
    void RunRows(List<DecodeRows.Entry> entries)
    {
        foreach (var g in DecodeRows.Groups(entries))
        {
            var table = new RowTable();
            int heads = 0, width = g[0].Width;
            RopeTable? rope = null;
            DType dtype = DType.BF16;
            for (int b = 0; b < g.Count; b++)
            {
                var e = g[b];
                table.X[b] = e.X; table.Dst[b] = e.Dst; table.Start[b] = e.Start; table.Cap[b] = e.Cap; table.Heads[b] = e.Heads; table.Flags[b] = e.Flags;
                heads = Math.Max(heads, e.Heads);
                rope ??= e.Table;
                if (e.Dst != 0) dtype = e.DType;
            }
            var t = rope != null ? RopeTables(rope) : default;
            Launch("rows_" + Suffix(dtype), ((uint)heads, (uint)g.Count), (uint)Math.Clamp(width / 2, 32, 256),
                t.Cos?.Pointer ?? 0ul, t.Sin?.Pointer ?? 0ul, width, ShiftPointer, table);
        }
    }

    // ---- GEMVs of one x (Q, K, V; gate, up): queued, then one launch ----
    // A product of at most 8 rows is queued; the next one of the same x joins it (up to 3), anything else runs the queue
    // first. A product whose x or y overlaps queued rope or store memory runs those first, and a held-back add goes
    // before it, so that running the queue before the queued rows keeps the order of work.

    readonly record struct QueuedGemv(ulong X, ulong W, int Stride, ulong Y, int T, int N, int M);

    readonly List<QueuedGemv> _gemvQueue = [];
    bool _flushingGemvs;

    /// <summary>PALU_CUDA_FUSE_GEMV=0 launches every GEMV alone.</summary>
    static readonly bool s_fuseGemv = Environment.GetEnvironmentVariable("PALU_CUDA_FUSE_GEMV") != "0";

    bool QueueGemv(in QueuedGemv g)
    {
        if (!s_fuseGemv || _flushingGemvs) return false;
        if (_gemvQueue.Count > 0 && (_gemvQueue.Count == 3 || _gemvQueue[0].X != g.X || _gemvQueue[0].T != g.T || _gemvQueue[0].N != g.N)) FlushGemvs();
        if (_pendingAdd != null || _pendingSwiGlu != null || Overlaps(g.X, (long)g.T * g.N * 4) || Overlaps(g.Y, (long)g.T * g.M * 4)) { FlushGemvs(); FlushRows(); }
        _gemvQueue.Add(g);
        return true;
    }

    /// <summary>True when [p, p + bytes) overlaps memory that a queued rope or store reads or writes.</summary>
    bool Overlaps(ulong p, long bytes)
    {
        ulong end = p + (ulong)bytes;
        foreach (var r in _ropeQueue)
            if (p < r.X + (ulong)r.Bytes && r.X < end) return true;
        foreach (var s in _storeQueue)
            if ((p < s.Src + (ulong)s.SrcBytes && s.Src < end) || (p < s.Dst + (ulong)s.CacheBytes && s.Dst < end)) return true;
        return false;
    }

    void FlushGemvs()
    {
        if (_flushingGemvs || _gemvQueue.Count == 0) return;
        _flushingGemvs = true;
        try
        {
            var q = _gemvQueue.ToArray();
            _gemvQueue.Clear();
            if (q.Length == 1) { GemvLocked(q[0]); return; }
            if (q[0].T == 1 && _oneRowGemv.Rows > 0) { StreamGemvs(q); return; }
            if (q[0].T > 1 && _fewRowGemv.BlocksPerSm > 0) { StreamFewRowGemvs(q); return; }
            var set = Set(q, q[0].T == 1 ? 2 : 16, out int blocks);
            Launch(q[0].T == 1 ? "gemvs2x_bf16" : "gemvm2x_bf16", ((uint)blocks, 1), 128, q[0].X, q[0].T, q[0].N, set);
        }
        finally { _flushingGemvs = false; }
    }

    /// <summary>Up to 3 products of one x as a <see cref="GemvSet"/>, in groups of <paramref name="rows"/> rows of W
    /// (product i owns the groups [First[i], First[i + 1])); <paramref name="groups"/>: all of them.</summary>
    static GemvSet Set(ReadOnlySpan<QueuedGemv> q, int rows, out int groups)
    {
        var set = new GemvSet();
        groups = 0;
        for (int i = 0; i < 3; i++)
        {
            set.First[i] = groups;
            if (i >= q.Length) continue;
            set.W[i] = q[i].W; set.Y[i] = q[i].Y; set.Stride[i] = q[i].Stride; set.M[i] = q[i].M;
            groups += (q[i].M + rows - 1) / rows;
        }
        set.First[3] = groups;
        return set;
    }

    /// <summary>PALU_CUDA_GEMV picks the one-row GEMV: "split" (a block per 2 rows, gemvs2) or "tR:B" (gemvtR, the
    /// streamed kernel with R rows per group, B blocks per multiprocessor). Settable (the tests run every kind); a
    /// recorded decode graph keeps the kind it was recorded with. (Tried on the 7B shapes, H200, and left out: the
    /// streamed walk with its chunks of W pipelined through shared memory by cp.async, 3 to 7 chunks of 1024 columns in
    /// flight per block instead of one in registers: 4.48 to 5.16 against 4.22 ms per batch-1 step.)</summary>
    public string OneRowGemv
    {
        get => _oneRowGemvSpec;
        set { _oneRowGemv = ParseGemv(value); _oneRowGemvSpec = value; }
    }
    static readonly string s_defaultGemv = Environment.GetEnvironmentVariable("PALU_CUDA_GEMV") ?? "t4:4";
    string _oneRowGemvSpec = s_defaultGemv;
    (int Rows, int BlocksPerSm) _oneRowGemv = ParseGemv(s_defaultGemv);

    internal static (int, int) ParseGemv(string v)
    {
        if (v == "split") return (0, 0);
        var parts = v.TrimStart('t').Split(':');
        if (v.StartsWith('t') && parts.Length == 2 && int.TryParse(parts[0], out int r) && r is 1 or 2 or 4 && int.TryParse(parts[1], out int b) && b is > 0 and <= 32) return (r, b);
        throw new ArgumentException($"PALU_CUDA_GEMV={v}: expected split, t1:B, t2:B or t4:B (B blocks per multiprocessor, 1..32)");
    }

    /// <summary>PALU_CUDA_GEMV_EVEN=1: the streamed GEMV's grid is cut so that every block walks the same number of row
    /// groups (see <see cref="StreamGrid"/>); an experiment, off by default until measured on a GPU.</summary>
    static readonly bool s_evenGemvGrid = Environment.GetEnvironmentVariable("PALU_CUDA_GEMV_EVEN") == "1";

    /// <summary>Blocks of a streamed GEMV over <paramref name="groups"/> row groups, at most <paramref name="most"/>. Block b
    /// walks groups b, b + grid, ...; with <paramref name="even"/> the grid is ⌈groups / k⌉ for k = ⌈groups / most⌉, so
    /// that all blocks walk k groups (the last one possibly fewer) and stay busy to the end, instead of the blocks with
    /// one group less than the rest leaving the last stretch to a part of the grid (5,504 gate/up groups over 528
    /// blocks: 224 walk 11, 304 walk 10; evened, 501 blocks walk 11).</summary>
    internal static int StreamGrid(int groups, int most, bool even)
    {
        if (groups <= most || !even) return Math.Min(groups, most);
        int k = (groups + most - 1) / most;
        return (groups + k - 1) / k;
    }

    /// <summary>One-row products of one x through the streamed GEMV (gemvtR): a grid of a few blocks per multiprocessor.
    /// With <paramref name="up"/>, x is the gate of a held-back SwiGLU and the product takes silu(x)·up as it reads x.</summary>
    void StreamGemvs(ReadOnlySpan<QueuedGemv> q, ulong up = 0)
    {
        int R = _oneRowGemv.Rows;
        var set = Set(q, R, out int groups);
        int grid = StreamGrid(groups, Multiprocessors * _oneRowGemv.BlocksPerSm, s_evenGemvGrid);
        if (up != 0) Launch($"gemvt{R}_swiglu", ((uint)grid, 1), 128, q[0].X, up, q[0].N, set);
        else Launch($"gemvt{R}_bf16", ((uint)grid, 1), 128, q[0].X, 1, q[0].N, set);
    }

    /// <summary>PALU_CUDA_GEMV8 picks the GEMV of 2..8 rows (on the tensor cores, n % 64 == 0): "grid" (a block per 16 rows
    /// of W, gemvm2) or "q2:B" (gemvq2, the streamed kernel: B blocks per multiprocessor walk the groups of 16 rows with
    /// the next chunk of W and x in flight). Settable (the tests run every kind); a recorded graph keeps its kind.</summary>
    public string FewRowGemv
    {
        get => _fewRowGemvSpec;
        set { _fewRowGemv = ParseFewRowGemv(value); _fewRowGemvSpec = value; }
    }
    static readonly string s_defaultFewRowGemv = Environment.GetEnvironmentVariable("PALU_CUDA_GEMV8") ?? "q2:3";
    string _fewRowGemvSpec = s_defaultFewRowGemv;
    (int Unroll, int BlocksPerSm) _fewRowGemv = ParseFewRowGemv(s_defaultFewRowGemv);

    internal static (int, int) ParseFewRowGemv(string v)
    {
        if (v == "grid") return (0, 0);
        var parts = v.Split(':');
        if (parts.Length == 2 && parts[0] == "q2" && int.TryParse(parts[1], out int b) && b is > 0 and <= 32) return (2, b);
        throw new ArgumentException($"PALU_CUDA_GEMV8={v}: expected grid or q2:B (B blocks per multiprocessor, 1..32)");
    }

    /// <summary>Products of 2..8 rows of one x through the streamed tensor-core GEMV (gemvq2), in groups of 16 rows of
    /// W. With <paramref name="up"/>, x is the gate of a held-back SwiGLU and the product takes silu(x)·up as it reads x.</summary>
    void StreamFewRowGemvs(ReadOnlySpan<QueuedGemv> q, ulong up = 0)
    {
        var set = Set(q, 16, out int groups);
        LaunchFewRowGemv(up != 0 ? "swiglu" : "bf16", q[0], set, groups, up);
    }

    /// <summary>Launches gemvq{U}_{kind} over <paramref name="groups"/> row groups of 16 rows (x2 = <paramref name="up"/> for
    /// the SwiGLU kind).</summary>
    void LaunchFewRowGemv(string kind, in QueuedGemv g, GemvSet set, int groups, ulong up)
    {
        uint grid = (uint)Math.Min(groups, Multiprocessors * _fewRowGemv.BlocksPerSm);
        if (up != 0) Launch($"gemvq{_fewRowGemv.Unroll}_{kind}", (grid, 1), 128, g.X, up, g.T, g.N, set);
        else Launch($"gemvq{_fewRowGemv.Unroll}_{kind}", (grid, 1), 128, g.X, g.T, g.N, set);
    }

    // ---- decode attention ----

    readonly record struct QueuedAttention(ulong Q, ulong K, ulong V, ulong O, DType DType, AttentionCall Call, int Dv, int Cap);

    List<QueuedAttention>? _pending;   // set by ForEach on the thread holding the lock

    public override void ForEach(int count, Action<int> body)
    {
        if (count < 2) { base.ForEach(count, body); return; }
        using var _ = Enter();
        _pending = new List<QueuedAttention>(count);
        try
        {
            for (int i = 0; i < count; i++) body(i);
            FlushAttention();
        }
        finally { _pending = null; }
    }

    /// <summary>Queues a dense attention call inside <see cref="ForEach"/>; false when it must run now.</summary>
    bool Queue(in QueuedAttention a)
    {
        if (_pending == null || !_lock.IsHeldByCurrentThread) return false;
        _pending.Add(a);
        return true;
    }

    /// <summary>Runs the queued attention calls: one launch when they form a batch of single-row decode steps over bf16
    /// caches of equal geometry with consecutive query and output rows, else one by one.</summary>
    void FlushAttention()
    {
        var list = _pending;
        if (list is not { Count: > 0 }) return;
        var calls = list.ToArray();
        list.Clear();
        _pending = null;   // the launches below must not queue or flush again
        try
        {
            if (FlashBatchable(calls)) { FlashSeqs(calls); return; }
            if (!Batchable(calls)) { foreach (var a in calls) AttentionLocked(a.Q, a.K, a.V, a.O, a.DType, a.Call, a.Dv, a.Cap); return; }
            var c = calls[0].Call;
            int B = calls.Length, H = c.Heads, D = c.HeadDim, n = 0, nAlloc = 0;
            var table = new SeqTable();
            for (int b = 0; b < B; b++)
            {
                int S = calls[b].Call.StartPos + 1;
                n = Math.Max(n, _capturing ? GraphSplits(S) : (S + 127) / 128);
                nAlloc = Math.Max(nAlloc, GraphSplits(calls[b].Cap));
                table.K[b] = calls[b].K; table.V[b] = calls[b].V; table.Start[b] = calls[b].Call.StartPos; table.Cap[b] = calls[b].Cap;
            }
            ulong partials = Scratch("attn-part", (long)B * H * Math.Max(n, nAlloc) * (2 + D) * 4).Pointer;
            if (LongSplits(n, B * H) is int chunks)
                Launch($"attn_decodemc{D}_bf16", ((uint)H, (uint)((n + chunks - 1) / chunks), (uint)B), 128,
                    calls[0].Q, partials, calls[0].O, MergeCounters(B * H), ShiftPointer, table, H, c.KvHeads, c.Window ?? 0, (n + chunks - 1) / chunks, chunks, 1f / MathF.Sqrt(D));
            else
                Launch($"attn_decodem{D}_bf16", ((uint)H, (uint)n, (uint)B), 128,
                    calls[0].Q, partials, calls[0].O, MergeCounters(B * H), ShiftPointer, table, H, c.KvHeads, c.Window ?? 0, n, 1f / MathF.Sqrt(D));
        }
        finally { _pending = list; }
    }

    static bool Batchable(QueuedAttention[] calls)
    {
        if (calls.Length < 2 || calls.Length > 8) return false;
        var c0 = calls[0].Call;
        long row = (long)c0.Heads * c0.HeadDim * 4;   // bytes of one query (and output) row
        for (int b = 0; b < calls.Length; b++)
        {
            var a = calls[b];
            var c = a.Call;
            if (a.DType != DType.BF16 || c.T != 1 || a.Dv != c.HeadDim || c.HeadDim is not (64 or 128)) return false;
            if (c.Heads != c0.Heads || c.KvHeads != c0.KvHeads || c.HeadDim != c0.HeadDim || c.Window != c0.Window) return false;
            if (a.Q != calls[0].Q + (ulong)(b * row) || a.O != calls[0].O + (ulong)(b * row)) return false;
            if ((a.Q | a.K | a.V) % 16 != 0) return false;
        }
        return true;
    }
}
