using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Palu.Kernels.Cpu;   // RopeTable
using Palu.Tensors;

namespace Palu.Runtime.Cuda;

/// <summary>Up to 64 sequences' rows for the *_seqs kernels, passed by value (the layout of SeqRows in seqs.cu).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SeqRows
{
    public const int Capacity = 64;
    public Ptrs64 P0, P1, P2, P3;
    public Ints65 Pre;           // work units before sequence b (rows or query tiles); Pre[n] = all of them
    public Ints64 T, Start, Cap;

    [InlineArray(Capacity)] public struct Ptrs64 { ulong _e; }
    [InlineArray(Capacity + 1)] public struct Ints65 { int _e; }
    [InlineArray(Capacity)] public struct Ints64 { int _e; }
}

/// <summary>
/// Prefill of many sequences in one step (zero-shot scoring packs ~50 sequences of ~80 rows): the model rotates,
/// stores and attends each sequence apart, which is a launch per sequence, op and layer. Multi-row ropes and cache
/// stores are queued instead and run as one rope_seqs / store_seqs launch (ropes first: a rope over rows a queued store
/// reads runs the queue before it), and the attention calls queued by <see cref="ForEach"/> run as one flash_seqs
/// launch when they all fit it. The queue is only entered while nothing else is queued or held back, and any other op
/// runs it first (FlushRows), so the order of work is kept. PALU_CUDA_BATCH_SEQS=0 (or <see cref="BatchSequences"/>)
/// turns it off.
/// </summary>
public sealed unsafe partial class CudaBackend
{
    readonly record struct SeqRope(ulong X, int T, int Heads, int Start, RopeTable Table);
    readonly record struct SeqStore(ulong Src, int RowStride, ulong Dst, DType DType, int Heads, int Cap, int Width, int Start, int T)
    {
        public ulong SrcEnd => Src + (ulong)(((long)(T - 1) * RowStride + (long)Heads * Width) * 4);
    }

    readonly List<SeqRope> _seqRopes = [];
    readonly List<SeqStore> _seqStores = [];

    public bool BatchSequences { get; set; } = Environment.GetEnvironmentVariable("PALU_CUDA_BATCH_SEQS") != "0";

    bool OthersQueued => _gemvQueue.Count > 0 || _pendingAdd != null || _pendingSwiGlu != null || _ropeQueue.Count > 0 || _storeQueue.Count > 0;

    /// <summary>Queues a rope of T ≥ 2 rows; false when it must run now.</summary>
    bool QueueSeqRope(ulong x, int T, int heads, int start, RopeTable table)
    {
        if (!BatchSequences || _flushingRows || _flushingGemvs || _capturing || table.HeadDim % 4 != 0 || x % 8 != 0 || (long)T * heads > int.MaxValue / 4) return false;
        if (start + T > table.MaxPositions) throw new ArgumentOutOfRangeException(nameof(T), $"RoPE positions up to {start + T} beyond the table's {table.MaxPositions}");
        RopeTables(table);   // uploaded now, not while the queue runs
        if (OthersQueued) FlushRows();
        var r = new SeqRope(x, T, heads, start, table);
        if (_seqRopes.Count > 0 && (_seqRopes[0].Heads != heads || !ReferenceEquals(_seqRopes[0].Table, table))) FlushSeqs();
        ulong end = x + (ulong)((long)T * heads * table.HeadDim * 4);
        foreach (var s in _seqStores)
            if (x < s.SrcEnd && s.Src < end) { FlushSeqs(); break; }
        _seqRopes.Add(r);
        return true;
    }

    /// <summary>Queues a cache store of T ≥ 2 rows; false when it must run now.</summary>
    bool QueueSeqStore(ulong src, int rowStride, int column, ulong dst, DType dtype, int heads, int cap, int width, int start, int T)
    {
        ulong s0 = src + (ulong)((long)column * 4);
        if (!BatchSequences || _flushingRows || _flushingGemvs || _capturing || width % 4 != 0 || rowStride % 4 != 0 || s0 % 16 != 0 || dst % 16 != 0
            || (long)T * heads > int.MaxValue / 4) return false;
        if (OthersQueued) FlushRows();
        var st = new SeqStore(s0, rowStride, dst, dtype, heads, cap, width, start, T);
        if (_seqStores.Count > 0 && _seqStores[0] is var f && (f.RowStride != rowStride || f.DType != dtype || f.Heads != heads || f.Width != width)) FlushSeqs();
        _seqStores.Add(st);
        return true;
    }

    /// <summary>Runs the queued ropes, then the queued stores, up to 64 sequences per launch.</summary>
    void FlushSeqs()
    {
        if (_seqRopes.Count == 0 && _seqStores.Count == 0) return;
        var ropes = _seqRopes.ToArray();
        var stores = _seqStores.ToArray();
        _seqRopes.Clear(); _seqStores.Clear();
        bool was = _flushingRows;
        _flushingRows = true;   // the launches below do not flush again
        try
        {
            for (int i0 = 0; i0 < ropes.Length; i0 += SeqRows.Capacity)
            {
                var part = ropes.AsSpan(i0, Math.Min(SeqRows.Capacity, ropes.Length - i0));
                var table = new SeqRows();
                for (int b = 0; b < part.Length; b++) { table.P0[b] = part[b].X; table.T[b] = part[b].T; table.Start[b] = part[b].Start; table.Pre[b + 1] = table.Pre[b] + part[b].T; }
                var r0 = part[0];
                var t = RopeTables(r0.Table);
                long warps = (long)table.Pre[part.Length] * r0.Heads;
                Launch("rope_seqs", ((uint)((warps + 7) / 8), 1), 256, t.Cos.Pointer, t.Sin.Pointer, r0.Heads, r0.Table.HeadDim, part.Length, ShiftPointer, table);
            }
            for (int i0 = 0; i0 < stores.Length; i0 += SeqRows.Capacity)
            {
                var part = stores.AsSpan(i0, Math.Min(SeqRows.Capacity, stores.Length - i0));
                var table = new SeqRows();
                for (int b = 0; b < part.Length; b++)
                {
                    table.P0[b] = part[b].Src; table.P1[b] = part[b].Dst; table.T[b] = part[b].T; table.Start[b] = part[b].Start; table.Cap[b] = part[b].Cap;
                    table.Pre[b + 1] = table.Pre[b] + part[b].T;
                }
                var s0 = part[0];
                long warps = (long)table.Pre[part.Length] * s0.Heads;
                Launch("store_seqs_" + Suffix(s0.DType), ((uint)((warps + 7) / 8), 1), 256, s0.RowStride, s0.Heads, s0.Width, part.Length, ShiftPointer, table);
            }
        }
        finally { _flushingRows = was; }
    }

    /// <summary>True when the queued attention calls can run as flash_seqs launches: prefill rows (one call has more
    /// than the split kernel's rows), bf16 caches, value width = head width ∈ {32, 64, 128}, one geometry.</summary>
    bool FlashBatchable(QueuedAttention[] calls)
    {
        if (!BatchSequences || _capturing || calls.Length < 2) return false;
        var c0 = calls[0].Call;
        bool prefill = false;
        foreach (var a in calls)
        {
            var c = a.Call;
            if (a.DType != DType.BF16 || a.Dv != c.HeadDim || c.HeadDim is not (32 or 64 or 128) || c.T < 1) return false;
            if (c.Heads != c0.Heads || c.KvHeads != c0.KvHeads || c.HeadDim != c0.HeadDim || c.Window != c0.Window) return false;
            if ((a.K | a.V) % 16 != 0 || c.StartPos + c.T > a.Cap) return false;
            prefill |= c.T > SplitAttentionMaxRows;
        }
        return prefill;
    }

    /// <summary>The calls as flash_seqs launches of up to 64 sequences: a block per (query tile of 64, head).</summary>
    void FlashSeqs(QueuedAttention[] calls)
    {
        var c0 = calls[0].Call;
        int D = c0.HeadDim;
        uint shared = (uint)(2 * 2 * 64 * (D + 8) * 2);   // as flash{D}_bf16: 2 stages × (K, V) × 64 keys × (D + 8) bf16
        for (int i0 = 0; i0 < calls.Length; i0 += SeqRows.Capacity)
        {
            var part = calls.AsSpan(i0, Math.Min(SeqRows.Capacity, calls.Length - i0));
            var table = new SeqRows();
            for (int b = 0; b < part.Length; b++)
            {
                var a = part[b];
                table.P0[b] = a.Q; table.P1[b] = a.O; table.P2[b] = a.K; table.P3[b] = a.V;
                table.T[b] = a.Call.T; table.Start[b] = a.Call.StartPos; table.Cap[b] = a.Cap;
                table.Pre[b + 1] = table.Pre[b] + (a.Call.T + 63) / 64;
            }
            LaunchWithShared($"flash_seqs{D}_bf16", ((uint)table.Pre[part.Length], (uint)c0.Heads, 1u), 128, shared,
                c0.Heads, c0.KvHeads, c0.Window ?? 0, 1f / MathF.Sqrt(D), part.Length, table);
        }
    }
}
