using Palu.Tensors;

namespace Palu.Models;

/// <summary>
/// A K or V projection factorised per head group (Palu G-LRD): W ≈ [B_1 A_1; …; B_n A_n] with groups of s consecutive
/// KV heads. The latent of a token is h = A·x = [A_1 x; …; A_n x] (Σr values); group g reconstructs its s heads as
/// B_g·h_g + b_g. s = 1 is M-LRD, s = H_kv is J-LRD.
/// </summary>
public sealed class LatentProjection
{
    public int GroupSize { get; }             // s: KV heads per group
    public int HeadDim { get; }               // d_h
    public int[] Ranks { get; }               // [n_g]: r_g
    public int[] Offsets { get; }             // [n_g + 1]: start of group g in the latent
    public int MaxRank { get; }               // max_g r_g (0 without groups)
    public Linear Down { get; }               // A [Σr, d] (no bias)
    public WeightMatrix[] Up { get; }         // per group B_g [s·d_h, r_g] F32
    public float[]?[] UpBias { get; }         // per group b_g [s·d_h] or null

    public LatentProjection(int groupSize, int headDim, Linear down, float[][] up, float[]?[] upBias)
    {
        GroupSize = groupSize; HeadDim = headDim; Down = down; UpBias = upBias;
        Ranks = new int[up.Length];
        Up = new WeightMatrix[up.Length];
        for (int g = 0; g < up.Length; g++)
        {
            if (up[g].Length % (groupSize * headDim) != 0) throw new ArgumentException($"up-projection {g} is not [s·d_h, r]");
            Ranks[g] = up[g].Length / (groupSize * headDim);
            Up[g] = WeightMatrix.FromFloats(up[g], groupSize * headDim, Ranks[g]);
        }
        MaxRank = Ranks.Length > 0 ? Ranks.Max() : 0;
        Offsets = new int[Ranks.Length + 1];
        for (int g = 0; g < Ranks.Length; g++) Offsets[g + 1] = Offsets[g] + Ranks[g];
        if (down.Out != Offsets[^1]) throw new ArgumentException($"down-projection has {down.Out} rows, ranks sum to {Offsets[^1]}");
    }

    public int Groups => Ranks.Length;
    public int TotalRank => Offsets[^1];
    public int KvHeads => Groups * GroupSize;

    /// <summary>Bytes of factors read per token.</summary>
    public long WeightBytes => Down.WeightBytes + Up.Sum(u => u.Bytes) + UpBias.Sum(b => (long)(b?.Length ?? 0) * sizeof(float));

    /// <summary>B_{g,i}: the [d_h, r_g] rows of group g's up-projection that rebuild KV head <paramref name="kvHead"/>.</summary>
    public unsafe WeightMatrix HeadUp(int kvHead)
    {
        int g = kvHead / GroupSize, i = kvHead % GroupSize;
        var u = Up[g];
        return new WeightMatrix(u.Row(i * HeadDim), DType.F32, HeadDim, Ranks[g], u.Owner);
    }

    /// <summary>b_{g,i} [d_h] or null.</summary>
    public ReadOnlySpan<float> HeadBias(int kvHead)
    {
        var b = UpBias[kvHead / GroupSize];
        return b == null ? default : b.AsSpan(kvHead % GroupSize * HeadDim, HeadDim);
    }

    /// <summary>Reconstructs the full projection W [KvHeads·d_h, d] from A [Σr, d] (for tests and inspection).</summary>
    public float[] ReconstructWeight(ReadOnlySpan<float> down, int d)
    {
        int sd = GroupSize * HeadDim;
        var w = new float[KvHeads * HeadDim * d];
        for (int g = 0; g < Groups; g++)
        {
            var up = Up[g].ToFloats();   // [s·d_h, r_g]
            for (int i = 0; i < sd; i++)
            {
                var row = w.AsSpan((g * sd + i) * d, d);
                for (int k = 0; k < Ranks[g]; k++)
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(down.Slice((Offsets[g] + k) * d, d), up[i * Ranks[g] + k], row, row);
            }
        }
        return w;
    }
}
