using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// The first factor of a low-rank linear: h = A·x, or with an identity block (SkipCat's Skip) h = x_J + A'·x_J̄, where
/// the r channels J enter the rank space as they are and A' [r, In − r] reads only the other channels J̄ (the r×r
/// identity block is neither stored nor multiplied). One projection may be shared by several linears that read the
/// same input (SkipCat's Cat: q/k/v, gate/up): it is then computed once per step and each member applies its own B.
/// </summary>
public sealed class LowRankProjection
{
    public DeviceWeight A { get; }                 // [r, In] or, with an identity block, [r, In − r]
    public DeviceIndices? Identity { get; }        // J [r]: input channels added as they are, or null
    public DeviceIndices? Rest { get; }            // J̄ [In − r]: the channels A' reads, or null
    /// <summary>How many linears apply their B to this projection (1 = not shared).</summary>
    public int Members { get; }
    public int In { get; }
    public int Rank => A.Rows;

    public LowRankProjection(DeviceWeight a, DeviceIndices? identity = null, DeviceIndices? rest = null, int? inputs = null, int members = 1)
    {
        if ((identity == null) != (rest == null)) throw new ArgumentException("an identity block needs both J and J̄");
        if (identity != null && (identity.Length != a.Rows || rest!.Length != a.Cols))
            throw new ArgumentException($"identity block: J has {identity.Length} channels for rank {a.Rows}, J̄ {rest!.Length} for A' with {a.Cols} columns");
        if (members < 1) throw new ArgumentOutOfRangeException(nameof(members), $"a projection needs at least one member, got {members}");
        A = a; Identity = identity; Rest = rest; Members = members;
        In = identity == null ? a.Cols : identity.Length + rest!.Length;
        if (inputs is int n && n != In) throw new ArgumentException($"low-rank factors read {In} inputs, the layer has {n}");
    }

    /// <summary>Bytes read per row: A, and the int32 channel indices J and J̄ of an identity block.</summary>
    public long Bytes => A.Bytes + (Identity == null ? 0 : (long)In * sizeof(int));
    public long Parameters => (long)A.Rows * A.Cols;

    /// <summary>
    /// h [T, r] for input x [T, In]. A shared projection is computed by the first member of a step and reused by the
    /// others while the workspace remembers it for this same x (the members run one after another on one input).
    /// </summary>
    public Buf Project(Backend be, Buf x, int T, Workspace ws)
    {
        if (Members == 1) return Compute(be, x, ws.Get(Slot.LowRankMid, T * Rank), T, ws);
        ref var memo = ref ws.SharedProjection;
        var h = ws.Get(Slot.SharedMid, T * Rank);                     // [T, r] the group's shared h
        if (memo.Owner == this && memo.Left > 0 && memo.T == T && memo.X.Memory == x.Memory && memo.X.Offset == x.Offset)
        {
            memo.Left--;
            return h;
        }
        Compute(be, x, h, T, ws);
        memo = new Workspace.ProjectionMemo(this, x, T, Members - 1);
        return h;
    }

    Buf Compute(Backend be, Buf x, Buf h, int T, Workspace ws)
    {
        if (Identity == null) be.MatMul(x, A, h, T);
        else if (Rest!.Length == 0) be.Gather(x, Identity, h, T);      // full rank: h is x permuted, A' is empty
        else
        {
            var xr = ws.Get(Slot.LowRankGather, T * Rest!.Length);     // [T, In − r]
            be.Gather(x, Rest, xr, T);
            be.MatMul(xr, A, h, T);
            be.GatherAdd(x, Identity, h, T);
        }
        return h;
    }
}
