namespace Palu.Compression;

/// <summary>Ranks of one layer's K and V factorisations, per head group (an allocation's result).</summary>
public sealed record LayerRanks(int[] KRanks, int[] VRanks);

/// <summary>How ranks are spread over the K/V projections and their head groups (ALGORITHMS.md §4.3).</summary>
public enum RankAllocationMethod { Uniform, Fisher, FisherUniform }

/// <summary>Rank rounding and allocation.</summary>
public static class RankAllocation
{
    /// <summary>
    /// The rounding step for a group of <paramref name="width"/> = s·d_h rows: 32 as in Palu (§1.6), or 8 when the group
    /// is narrower than 256 so that small models keep usable granularity [inferred; our choice].
    /// </summary>
    public static int Multiple(int width) => width >= 256 ? 32 : 8;

    /// <summary>r ← max(1, round_half_even(r / m))·m, capped at the group width.</summary>
    public static int Round(double r, int width)
    {
        int m = Multiple(width);
        int k = Math.Max(1, (int)Math.Round(r / m, MidpointRounding.ToEven));
        return Math.Min(width, k * m);
    }

    /// <summary>Every group of every K and V projection gets round(ρ·s·d_h).</summary>
    public static LayerRanks[] Uniform(int layers, int groups, int width, double keep)
    {
        int r = Round(keep * width, width);
        return Enumerable.Range(0, layers)
            .Select(_ => new LayerRanks(Enumerable.Repeat(r, groups).ToArray(), Enumerable.Repeat(r, groups).ToArray()))
            .ToArray();
    }

    /// <summary>Kept fraction of KV-cache rank: Σ ranks / Σ full widths.</summary>
    public static double RealizedKeep(LayerRanks[] ranks, int width)
    {
        var (kept, full) = Totals(ranks, width);
        return (double)kept / full;
    }

    /// <summary>Σ ranks and Σ full widths (<paramref name="width"/> per group) over every K and V projection.</summary>
    public static (long Kept, long Full) Totals(LayerRanks[] ranks, int width) =>
        (ranks.Sum(l => (long)l.KRanks.Sum() + l.VRanks.Sum()), ranks.Sum(l => (long)(l.KRanks.Length + l.VRanks.Length) * width));

    public static string Name(RankAllocationMethod m) => m switch
    {
        RankAllocationMethod.Uniform => "uniform",
        RankAllocationMethod.Fisher => "fisher",
        _ => "fisher_uniform",
    };

    public static RankAllocationMethod Parse(string s) => s switch
    {
        "uniform" => RankAllocationMethod.Uniform,
        "fisher" => RankAllocationMethod.Fisher,
        "fisher_uniform" => RankAllocationMethod.FisherUniform,
        _ => throw new ArgumentException($"--rank-allocation must be uniform, fisher or fisher_uniform, not '{s}'"),
    };
}
