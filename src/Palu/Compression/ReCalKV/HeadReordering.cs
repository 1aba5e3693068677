using Palu.LinearAlgebra;

namespace Palu.Compression;

/// <summary>
/// ReCalKV's HSR (ALGORITHMS.md §5.2, §1.9): linear CKA between the whitened key heads, a greedy grouping of similar
/// heads into groups of <c>s</c>, and the resulting head order. The groups go into palu.json as they are (each group's
/// original heads in slot order), so the runtime reads each head's rows of B_g directly: no permutation pass.
/// </summary>
public static class HeadReordering
{
    /// <summary>
    /// C [H_kv, H_kv]: linear CKA between the head blocks P_i = W_s[i·d_h, (i+1)·d_h) of <paramref name="ws"/>
    /// [H_kv·d_h, d] (the whitened key weight), each read as d samples of d_h features, column-centred:
    /// CKA = ‖P_jᶜ P_iᶜᵀ‖²_F / (‖P_iᶜ P_iᶜᵀ‖_F·‖P_jᶜ P_jᶜᵀ‖_F) (the d_h×d_h form of §1.9). Symmetric, diagonal 1.
    /// </summary>
    public static double[] CkaMatrix(ILinearAlgebra la, double[] ws, int heads, int dh, int d)
    {
        var centred = new double[heads][];                          // [H_kv][d_h, d]: head block, each row minus its mean
        var self = new double[heads];                               // ‖P P ᵀ‖_F of each centred head
        for (int h = 0; h < heads; h++)
        {
            var p = ws.AsSpan(h * dh * d, dh * d).ToArray();
            for (int f = 0; f < dh; f++)
            {
                var row = p.AsSpan(f * d, d);
                double mean = 0;
                foreach (double v in row) mean += v;
                mean /= d;
                for (int j = 0; j < d; j++) row[j] -= mean;
            }
            centred[h] = p;
            self[h] = Math.Sqrt(FrobeniusSquared(la.MatMul(p, p, dh, dh, d, transB: true)));
        }
        var c = new double[heads * heads];                          // [H_kv, H_kv]
        for (int i = 0; i < heads; i++)
        {
            c[i * heads + i] = 1;
            for (int j = i + 1; j < heads; j++)
            {
                double den = self[i] * self[j];
                double v = den > 0 ? FrobeniusSquared(la.MatMul(centred[i], centred[j], dh, dh, d, transB: true)) / den : 0;
                c[i * heads + j] = c[j * heads + i] = v;
            }
        }
        return c;
    }

    static double FrobeniusSquared(double[] a)
    {
        double s = 0;
        foreach (double v in a) s += v * v;
        return s;
    }

    /// <summary>
    /// The greedy grouping of §5.2 step 3 on the similarity matrix <paramref name="cka"/> [H, H] into H/s groups of
    /// <paramref name="groupSize"/> s: pairs by descending similarity (ties in (i, j) order); a pair of free heads joins
    /// the first group with room (which may overfill it by one), a free head whose partner's group has room joins it;
    /// the remaining free heads (highest index first) fill the groups in order; overfull groups hand their last member
    /// to the first group with room. Returns each group's heads in the order they joined (= slot order).
    /// </summary>
    public static int[][] GreedyGroups(double[] cka, int heads, int groupSize)
    {
        if (groupSize < 1 || heads % groupSize != 0) throw new ArgumentException($"group size {groupSize} does not divide {heads} heads");
        int n = heads / groupSize;
        var groups = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
        var groupOf = Enumerable.Repeat(-1, heads).ToArray();
        var pairs = new List<(int I, int J)>();
        for (int i = 0; i < heads; i++)
            for (int j = i + 1; j < heads; j++) pairs.Add((i, j));
        foreach (var (i, j) in pairs.OrderByDescending(p => cka[p.I * heads + p.J]))   // stable: ties keep (i, j) order
        {
            int gi = groupOf[i], gj = groupOf[j];
            if (gi < 0 && gj < 0)
            {
                int g = Array.FindIndex(groups, x => x.Count < groupSize);
                if (g < 0) continue;
                groups[g].Add(i); groups[g].Add(j);
                groupOf[i] = groupOf[j] = g;
            }
            else if (gi >= 0 != gj >= 0)
            {
                int g = Math.Max(gi, gj), free = gi < 0 ? i : j;
                if (groups[g].Count >= groupSize) continue;
                groups[g].Add(free);
                groupOf[free] = g;
            }
        }
        var unassigned = Enumerable.Range(0, heads).Where(h => groupOf[h] < 0).ToList();   // ascending; taken from the end
        foreach (var g in groups)
            while (g.Count < groupSize && unassigned.Count > 0)
            {
                g.Add(unassigned[^1]);
                unassigned.RemoveAt(unassigned.Count - 1);
            }
        foreach (var g in groups)
            while (g.Count > groupSize)
            {
                int last = g[^1];
                g.RemoveAt(g.Count - 1);
                Array.Find(groups, x => x.Count < groupSize)!.Add(last);
            }
        return groups.Select(g => g.ToArray()).ToArray();
    }

    /// <summary>perm[original head] = its position when the groups are laid out in order (the reference's permutation_info).</summary>
    public static int[] Permutation(int[][] groups)
    {
        var perm = new int[groups.Sum(g => g.Length)];
        int pos = 0;
        foreach (var g in groups)
            foreach (int h in g) perm[h] = pos++;
        return perm;
    }

    /// <summary>Rows of the heads <paramref name="heads"/> of <paramref name="w"/> [H·d_h, d], in that order: [|heads|·d_h, d].</summary>
    public static double[] GatherHeads(ReadOnlySpan<float> w, int[] heads, int dh, int d)
    {
        var block = new double[heads.Length * dh * d];
        for (int i = 0; i < heads.Length; i++)
        {
            var src = w.Slice(heads[i] * dh * d, dh * d);
            for (int j = 0; j < src.Length; j++) block[i * dh * d + j] = src[j];
        }
        return block;
    }

    /// <summary>Bias entries of the heads <paramref name="heads"/> of <paramref name="bias"/> [H·d_h], in that order.</summary>
    public static float[] GatherBias(ReadOnlySpan<float> bias, int[] heads, int dh)
    {
        var b = new float[heads.Length * dh];
        for (int i = 0; i < heads.Length; i++) bias.Slice(heads[i] * dh, dh).CopyTo(b.AsSpan(i * dh, dh));
        return b;
    }
}
