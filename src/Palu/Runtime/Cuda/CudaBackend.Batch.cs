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
/// the dense attention calls of its body and runs the queue as one attn_decodem kernel over all sequences (grid z)
/// and one merge, instead of two launches per sequence. Calls that do not fit (other dtypes or widths, several rows,
/// rows not consecutive) run one by one, in order; any other op flushes the queue first, so the order of work is kept.
/// </summary>
public sealed unsafe partial class CudaBackend
{
    // ---- one-row RoPE and cache stores of a decode batch: queued, then one launch each ----
    // CausalLM and DenseAttention rotate and store each sequence's row separately (8 sequences: 8 launches per op). A
    // one-row Rope or Store is queued instead; the next other op (any launch, copy or cuBLAS call) runs the queued
    // ropes, then the queued stores, each group as one launch where the rows are consecutive. Running the ropes first
    // is the order the model wants (a store reads its rotated row); a rope over memory that a queued store reads runs
    // the queue first, so no store ever sees a rotation made after it.

    readonly record struct QueuedRope(ulong X, int Heads, RopeTable Table, int Start);
    readonly record struct QueuedStore(ulong Src, int RowStride, int Column, ulong Dst, DType DType, int Heads, int Cap, int Width, int Start);

    readonly List<QueuedRope> _ropeQueue = [];
    readonly List<QueuedStore> _storeQueue = [];
    bool _flushingRows;

    bool QueueRope(in QueuedRope r)
    {
        if (_flushingRows) return false;
        long bytes = (long)r.Heads * r.Table.HeadDim * 4;
        foreach (var s in _storeQueue)
            if (r.X < s.Src + (ulong)((long)s.Heads * s.Width * 4 + s.Column * 4L) && s.Src < r.X + (ulong)bytes) { FlushRows(); break; }
        _ropeQueue.Add(r);
        return true;
    }

    bool QueueStore(in QueuedStore s)
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
        FlushGemvs();
        if (_pendingAdd == null && _ropeQueue.Count == 0 && _storeQueue.Count == 0) return;
        _flushingRows = true;
        try
        {
            if (_pendingAdd is { } add) { _pendingAdd = null; AddLocked(add.X, add.Y, add.Length); }
            var ropes = _ropeQueue.ToArray(); _ropeQueue.Clear();
            var stores = _storeQueue.ToArray(); _storeQueue.Clear();
            for (int i = 0; i < ropes.Length;)
            {
                var r = ropes[i];
                long row = (long)r.Heads * r.Table.HeadDim * 4;
                int n = 1;
                while (n < 8 && i + n < ropes.Length && ropes[i + n] is var o && o.Heads == r.Heads && ReferenceEquals(o.Table, r.Table)
                       && o.X == r.X + (ulong)(n * row)) n++;
                if (n == 1) RopeLocked(r.X, 1, r.Heads, r.Start, r.Table);
                else
                {
                    var t = RopeTables(r.Table);
                    var table = new SeqTable();
                    for (int b = 0; b < n; b++) table.Start[b] = ropes[i + b].Start;
                    Launch("rope_multi", ((uint)(n * r.Heads), 1), (uint)Math.Clamp(r.Table.HeadDim / 2, 32, 256),
                        r.X, t.Cos.Pointer, t.Sin.Pointer, r.Heads, r.Table.HeadDim, ShiftPointer, table);
                }
                i += n;
            }
            for (int i = 0; i < stores.Length;)
            {
                var s = stores[i];
                int n = 1;
                while (n < 8 && i + n < stores.Length && stores[i + n] is var o && o.DType == s.DType && o.Heads == s.Heads && o.Width == s.Width
                       && o.RowStride == s.RowStride && o.Column == s.Column && o.Src == s.Src + (ulong)((long)n * s.RowStride * 4)) n++;
                if (n == 1) StoreLocked(s.Src, s.RowStride, s.Column, s.Dst, s.DType, s.Heads, s.Cap, s.Width, s.Start, 1);
                else
                {
                    var table = new SeqTable();
                    for (int b = 0; b < n; b++) { table.K[b] = stores[i + b].Dst; table.Start[b] = stores[i + b].Start; table.Cap[b] = stores[i + b].Cap; }
                    Launch("storem_" + Suffix(s.DType), ((uint)n, (uint)s.Heads), (uint)Math.Clamp(s.Width, 32, 256),
                        s.Src, s.RowStride, s.Column, s.Heads, s.Width, ShiftPointer, table);
                }
                i += n;
            }
        }
        finally { _flushingRows = false; }
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
        if (_pendingAdd != null || Overlaps(g.X, (long)g.T * g.N * 4) || Overlaps(g.Y, (long)g.T * g.M * 4)) { FlushGemvs(); FlushRows(); }
        _gemvQueue.Add(g);
        return true;
    }

    /// <summary>True when [p, p + bytes) overlaps memory that a queued rope or store reads or writes.</summary>
    bool Overlaps(ulong p, long bytes)
    {
        ulong end = p + (ulong)bytes;
        foreach (var r in _ropeQueue)
            if (p < r.X + (ulong)((long)r.Heads * r.Table.HeadDim * 4) && r.X < end) return true;
        foreach (var s in _storeQueue)
        {
            ulong srcEnd = s.Src + (ulong)(((long)s.Column + (long)s.Heads * s.Width) * 4);
            ulong dstEnd = s.Dst + (ulong)((long)s.Heads * s.Cap * s.Width * DTypes.Size(s.DType));
            if ((p < srcEnd && s.Src < end) || (p < dstEnd && s.Dst < end)) return true;
        }
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
            int perBlock = q[0].T == 1 ? 2 : 16, blocks = 0;
            var set = new GemvSet();
            for (int i = 0; i < 3; i++)
            {
                set.First[i] = blocks;
                if (i >= q.Length) continue;
                set.W[i] = q[i].W; set.Y[i] = q[i].Y; set.Stride[i] = q[i].Stride; set.M[i] = q[i].M;
                blocks += (q[i].M + perBlock - 1) / perBlock;
            }
            set.First[3] = blocks;
            Launch(q[0].T == 1 ? "gemvs2x_bf16" : "gemvm2x_bf16", ((uint)blocks, 1), 128, q[0].X, q[0].T, q[0].N, set);
        }
        finally { _flushingGemvs = false; }
    }

    // ---- decode attention ----

    readonly record struct QueuedAttention(ulong Q, ulong K, ulong V, ulong O, DType DType, AttentionCall Call, int Dv, int Cap);

    List<QueuedAttention>? _pending;   // set by ForEach on the thread holding the lock

    public override void ForEach(int count, Action<int> body)
    {
        if (count < 2 || count > 8) { base.ForEach(count, body); return; }
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
            Launch($"attn_decodem{D}_bf16", ((uint)H, (uint)n, (uint)B), 128,
                calls[0].Q, partials, ShiftPointer, table, H, c.KvHeads, c.Window ?? 0, n, 1f / MathF.Sqrt(D));
            Launch("attn_combine", ((uint)((B * H + 3) / 4), 1), 128, partials, calls[0].O, B * H, n, D);
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
