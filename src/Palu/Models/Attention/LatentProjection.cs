using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// A K or V projection factorised per head group (Palu G-LRD, ReCalKV's reordered groups): group g holds KV heads
/// <see cref="GroupHeads"/>[g] in slot order and W rows of those heads ≈ B_g A_g. The latent of a token is
/// h = A·x = [A_1 x; …; A_n x] (Σr values); group g rebuilds its heads as B_g·h_g + b_g, head in slot i from rows
/// [i·d_h, (i+1)·d_h) of B_g. Group membership is data: any head order, any group sizes.
/// </summary>
public sealed class LatentProjection
{
    public int HeadDim { get; }                 // d_h
    public int[][] GroupHeads { get; }          // [n_g][s_g]: KV heads of group g, in slot order
    public int[] Ranks { get; }                 // [n_g]: r_g
    public int[] Offsets { get; }               // [n_g + 1]: start of group g in the latent
    public Linear Down { get; }                 // A [Σr, d] (no bias)
    public DeviceWeight[] Up { get; }           // [n_g]: B_g [s_g·d_h, r_g]
    public Buf[] UpBias { get; }                // [n_g]: b_g [s_g·d_h] or empty
    /// <summary>Bits per cached latent value (16 = f32 latents; 2, 3, 4, 8 = packed, quantised per token).</summary>
    public int Bits { get; init; } = 16;
    /// <summary>Channels per quantisation scale (0 = each group's whole rank).</summary>
    public int QuantGroup { get; init; }
    readonly int[] _group, _slot;               // [H_kv]: group and slot of each KV head
    readonly DeviceWeight[] _headUp;            // [H_kv]: B^K_{g,i} [d_h, r_g]
    readonly Buf[] _headBias;                   // [H_kv]: b_{g,i} [d_h] or empty

    public LatentProjection(int headDim, int kvHeads, int[][] groupHeads, Linear down, DeviceWeight[] up, Buf[] upBias)
    {
        HeadDim = headDim; GroupHeads = groupHeads; Down = down; Up = up; UpBias = upBias;
        int n = groupHeads.Length;
        if (up.Length != n || upBias.Length != n) throw new ArgumentException($"{n} groups but {up.Length} up-projections and {upBias.Length} biases");
        _group = Enumerable.Repeat(-1, kvHeads).ToArray();
        _slot = new int[kvHeads];
        Ranks = new int[n];
        for (int g = 0; g < n; g++)
        {
            if (up[g].Rows != groupHeads[g].Length * headDim)
                throw new ArgumentException($"group {g}: up-projection has {up[g].Rows} rows, its {groupHeads[g].Length} heads need {groupHeads[g].Length * headDim}");
            Ranks[g] = up[g].Cols;
            for (int i = 0; i < groupHeads[g].Length; i++)
            {
                int h = groupHeads[g][i];
                if (h < 0 || h >= kvHeads) throw new ArgumentException($"group {g} names KV head {h}; the model has {kvHeads}");
                if (_group[h] >= 0) throw new ArgumentException($"KV head {h} is in groups {_group[h]} and {g}");
                _group[h] = g; _slot[h] = i;
            }
        }
        if (Array.IndexOf(_group, -1) is int missing and >= 0) throw new ArgumentException($"KV head {missing} is in no group");
        Offsets = new int[n + 1];
        for (int g = 0; g < n; g++) Offsets[g + 1] = Offsets[g] + Ranks[g];
        if (down.Out != Offsets[^1]) throw new ArgumentException($"down-projection has {down.Out} rows, ranks sum to {Offsets[^1]}");
        _headUp = new DeviceWeight[kvHeads];
        _headBias = new Buf[kvHeads];
        for (int h = 0; h < kvHeads; h++)
        {
            _headUp[h] = up[_group[h]].SliceRows(_slot[h] * headDim, headDim);
            _headBias[h] = UpBias[_group[h]].IsEmpty ? default : UpBias[_group[h]].Slice(_slot[h] * headDim, headDim);
        }
    }

    public int Groups => Ranks.Length;
    public int TotalRank => Offsets[^1];
    public int KvHeads => _group.Length;
    public int MaxRank => Ranks.Length > 0 ? Ranks.Max() : 0;

    /// <summary>The group KV head <paramref name="kvHead"/> belongs to.</summary>
    public int GroupOf(int kvHead) => _group[kvHead];
    /// <summary>Its slot inside that group (row block of B_g).</summary>
    public int SlotOf(int kvHead) => _slot[kvHead];
    /// <summary>r of the group of KV head <paramref name="kvHead"/>.</summary>
    public int RankOf(int kvHead) => Ranks[_group[kvHead]];
    /// <summary>B_{g,i}: the [d_h, r_g] rows of the group's up-projection that rebuild KV head <paramref name="kvHead"/>.</summary>
    public DeviceWeight HeadUp(int kvHead) => _headUp[kvHead];
    /// <summary>b_{g,i} [d_h], or empty.</summary>
    public Buf HeadBias(int kvHead) => _headBias[kvHead];

    /// <summary>Bytes of factors read per token.</summary>
    public long WeightBytes => Down.WeightBytes + Up.Sum(u => u.Bytes) + UpBias.Sum(b => (long)b.Length * sizeof(float));
    public long Parameters => Down.Parameters + Up.Sum(u => (long)u.Rows * u.Cols) + UpBias.Sum(b => (long)b.Length);
}
