using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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

/// <summary>
/// Decode attention of a batch in one launch: <see cref="ForEach"/> (the per-sequence part of a batched step) queues
/// the dense attention calls of its body and runs the queue as one attn_decodem kernel over all sequences (grid z)
/// and one merge, instead of two launches per sequence. Calls that do not fit (other dtypes or widths, several rows,
/// rows not consecutive) run one by one, in order; any other op flushes the queue first, so the order of work is kept.
/// </summary>
public sealed unsafe partial class CudaBackend
{
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
