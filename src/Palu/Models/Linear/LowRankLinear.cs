using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// A low-rank linear y = B·h + b with h from its <see cref="LowRankProjection"/>: h = A·x (SVD-LLM) or, with an identity
/// block (SkipCat), h = x_J + A'·x_J̄; the projection may be shared with the other linears that read the same input
/// (SkipCat's Cat), then it is computed once per step. Optionally an active rank k ≤ r (FLRC's progressive decoding),
/// which uses the first k rows of A and columns of B (only that prefix is read).
/// </summary>
public sealed class LowRankLinear : Linear
{
    public LowRankProjection Projection { get; }
    public DeviceWeight A => Projection.A;         // [r, In] or, with an identity block, [r, In − r]
    public DeviceWeight B { get; }                 // [Out, r]
    public Buf Bias { get; }                       // [Out] or empty
    public DeviceIndices? Identity => Projection.Identity;   // J [r] or null
    public DeviceIndices? Rest => Projection.Rest;           // J̄ [In − r] or null
    /// <summary>Whether this linear's <see cref="Parameters"/> and <see cref="WeightBytes"/> include the (shared)
    /// projection: true for exactly one member of a group, so that sums over linears count A once.</summary>
    public bool CountsProjection { get; }

    public LowRankLinear(DeviceWeight a, DeviceWeight b, Buf bias, DeviceIndices? identity = null, DeviceIndices? rest = null, int? inputs = null)
        : this(new LowRankProjection(a, identity, rest, inputs), b, bias, countsProjection: true) { }

    public LowRankLinear(LowRankProjection projection, DeviceWeight b, Buf bias, bool countsProjection)
    {
        if (b.Cols != projection.Rank) throw new ArgumentException($"low-rank factors do not chain: A [{projection.A.Rows}, {projection.A.Cols}], B [{b.Rows}, {b.Cols}]");
        Projection = projection; B = b; Bias = bias; CountsProjection = countsProjection;
    }

    public int Rank => Projection.Rank;
    public override int In => Projection.In;
    public override int Out => B.Rows;
    public override string Kind => "lowrank";
    public override long WeightBytes => (CountsProjection ? Projection.Bytes : 0) + B.Bytes + (long)Bias.Length * sizeof(float);
    public override long Parameters => (CountsProjection ? Projection.Parameters : 0) + (long)B.Rows * B.Cols + Bias.Length;

    /// <summary>
    /// The same factors used at rank <paramref name="rank"/> ≤ <see cref="Rank"/>: the first rows of A and columns of B
    /// (a truncated SVD is nested, so this is the rank-k truncation). Plain, unshared factors only.
    /// </summary>
    public LowRankLinear WithActiveRank(int rank)
    {
        if (rank < 1 || rank > Rank) throw new ArgumentOutOfRangeException(nameof(rank), $"active rank {rank} outside [1, {Rank}]");
        if (Identity != null) throw new NotSupportedException("an active rank below the stored rank needs plain low-rank factors (no identity block)");
        if (Projection.Members > 1) throw new NotSupportedException("an active rank below the stored rank needs an unshared projection");
        return rank == Rank ? this : new LowRankLinear(A.SliceRows(0, rank), B.ColumnPrefix(rank), Bias);
    }

    public override void Forward(Backend be, Buf x, Buf y, int T, Workspace ws)
    {
        var h = Projection.Project(be, x, T, ws);                      // [T, r]
        be.MatMul(h, B, y, T);
        if (!Bias.IsEmpty) be.AddBias(y, Bias, T);
    }
}
