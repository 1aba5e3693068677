using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// A low-rank linear y = B·(A·x) + b with A [r, In] and B [Out, r] (SVD-LLM), optionally with an identity block
/// (SkipCat): r input channels J pass straight into the rank space, so A' [r, In − r] reads only the other channels
/// J̄ and h = x_J + A'·x_J̄; and optionally an active rank k ≤ r (FLRC's progressive decoding), which uses the first k
/// rows of A and columns of B (only that prefix is read).
/// </summary>
public sealed class LowRankLinear : Linear
{
    public DeviceWeight A { get; }                 // [r, In] or, with an identity block, [r, In − r]
    public DeviceWeight B { get; }                 // [Out, r]
    public Buf Bias { get; }                       // [Out] or empty
    public DeviceIndices? Identity { get; }        // J [r]: input channels added as they are (identity block), or null
    public DeviceIndices? Rest { get; }            // J̄ [In − r]: the channels A' reads, or null
    readonly int _in;

    public LowRankLinear(DeviceWeight a, DeviceWeight b, Buf bias, DeviceIndices? identity = null, DeviceIndices? rest = null, int? inputs = null)
    {
        if (b.Cols != a.Rows) throw new ArgumentException($"low-rank factors do not chain: A [{a.Rows}, {a.Cols}], B [{b.Rows}, {b.Cols}]");
        if ((identity == null) != (rest == null)) throw new ArgumentException("an identity block needs both J and J̄");
        if (identity != null && (identity.Length != a.Rows || rest!.Length != a.Cols))
            throw new ArgumentException($"identity block: J has {identity.Length} channels for rank {a.Rows}, J̄ {rest!.Length} for A' with {a.Cols} columns");
        A = a; B = b; Bias = bias; Identity = identity; Rest = rest;
        _in = identity == null ? a.Cols : identity.Length + rest!.Length;
        if (inputs is int n && n != _in) throw new ArgumentException($"low-rank factors read {_in} inputs, the layer has {n}");
    }

    public int Rank => A.Rows;
    public override int In => _in;
    public override int Out => B.Rows;
    public override string Kind => "lowrank";
    public override long WeightBytes => A.Bytes + B.Bytes + (long)Bias.Length * sizeof(float);
    public override long Parameters => (long)A.Rows * A.Cols + (long)B.Rows * B.Cols + Bias.Length;

    /// <summary>
    /// The same factors used at rank <paramref name="rank"/> ≤ <see cref="Rank"/>: the first rows of A and columns of B
    /// (a truncated SVD is nested, so this is the rank-k truncation). Plain factors only (no identity block).
    /// </summary>
    public LowRankLinear WithActiveRank(int rank)
    {
        if (rank < 1 || rank > Rank) throw new ArgumentOutOfRangeException(nameof(rank), $"active rank {rank} outside [1, {Rank}]");
        if (Identity != null) throw new NotSupportedException("an active rank below the stored rank needs plain low-rank factors (no identity block)");
        return rank == Rank ? this : new LowRankLinear(A.SliceRows(0, rank), B.ColumnPrefix(rank), Bias);
    }

    public override void Forward(Backend be, Buf x, Buf y, int T, Workspace ws)
    {
        int r = Rank;
        var h = ws.Get(Slot.LowRankMid, T * r);                       // [T, r]
        if (Identity == null) be.MatMul(x, A, h, T);
        else
        {
            var xr = ws.Get(Slot.LowRankGather, T * Rest!.Length);     // [T, In − r]
            be.Gather(x, Rest, xr, T);
            be.MatMul(xr, A, h, T);
            be.GatherAdd(x, Identity, h, T);
        }
        be.MatMul(h, B, y, T);
        if (!Bias.IsEmpty) be.AddBias(y, Bias, T);
    }
}
