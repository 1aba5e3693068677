using System.Globalization;
using Palu.Compression;
using Palu.IO;

namespace Palu.Cli;

/// <summary>
/// What <c>compress</c> can realise: ranks are multiples of <see cref="RankAllocation.Multiple"/> per group, so the kept
/// fraction of KV rank moves in steps. Default group size, the achievable keep ratios, and the warning when the realised
/// ratio misses the requested one.
/// </summary>
public static class RankGranularity
{
    /// <summary>
    /// The default <c>--group-size</c>: the largest divisor of the KV-head count that is ≤ 4. Palu's G-LRD default is
    /// groups of 4 heads (the paper's accuracy/cost trade-off); every model whose KV-head count is a multiple of 4 gets
    /// exactly that, and the others the nearest smaller group, so the per-token reconstruction cost never exceeds Palu's.
    /// </summary>
    public static int DefaultGroupSize(ModelConfig c) => Enumerable.Range(1, Math.Min(4, c.NumKvHeads)).Last(s => c.NumKvHeads % s == 0);

    public const string GroupSizeDefaultHelp =
        "[default: the largest divisor of the model's KV-head count that is ≤ 4, i.e. Palu's group of 4 heads where it divides]";

    /// <summary>The kept fractions uniform allocation can realise for groups of <paramref name="groupSize"/> heads, ascending.</summary>
    public static double[] Achievable(int groupSize, int headDim)
    {
        int width = groupSize * headDim, m = RankAllocation.Multiple(width);
        return Enumerable.Range(1, (width + m - 1) / m).Select(k => Math.Min(width, k * m) / (double)width).Distinct().ToArray();
    }

    /// <summary>The finest change of the kept fraction any allocation can make: one group moved by one rank multiple.</summary>
    public static double Step(ModelConfig c, int groupSize)
    {
        int width = groupSize * c.HeadDim;
        long total = 2L * c.NumLayers * (c.NumKvHeads / groupSize) * width;
        return RankAllocation.Multiple(width) / (double)total;
    }

    /// <summary>
    /// A warning when <paramref name="realized"/> differs from <paramref name="requested"/> by more than one rounding step
    /// (<see cref="Step"/>), with the nearest achievable values at this group size and the group sizes that get closer;
    /// null when it is within a step.
    /// </summary>
    public static string? Warning(double requested, double realized, ModelConfig c, int groupSize, bool uniform)
    {
        if (Math.Abs(realized - requested) <= Step(c, groupSize) + 1e-12) return null;
        int width = groupSize * c.HeadDim, m = RankAllocation.Multiple(width);
        var here = Achievable(groupSize, c.HeadDim);
        double? below = here.Where(v => v <= requested).Cast<double?>().LastOrDefault();
        double? above = here.Where(v => v >= requested).Cast<double?>().FirstOrDefault();
        string what = realized >= 1 ? " (nothing is compressed)" : "";
        string msg = $"--kv-keep {F(requested)} requested, but {realized:P2} of the KV rank is kept{what}: ranks are multiples of {m} " +
            $"per group of {groupSize} head(s) × {c.HeadDim} dims = {width}";
        msg += uniform
            ? $". Nearest achievable with --group-size {groupSize}: {string.Join(" or ", new[] { below, above }.OfType<double>().Distinct().Select(F))}"
            : $" after the Fisher allocation rounded each group; uniform allocation realises {string.Join(", ", here.Select(F))} with --group-size {groupSize}";
        double best = Math.Abs(Closest(here, requested) - requested);
        var better = Enumerable.Range(1, c.NumKvHeads).Where(s => c.NumKvHeads % s == 0 && s != groupSize)
            .Select(s => (S: s, V: Closest(Achievable(s, c.HeadDim), requested)))
            .Where(x => Math.Abs(x.V - requested) < best - 1e-12)
            .Select(x => $"--group-size {x.S} gives {F(x.V)}").ToArray();
        if (better.Length > 0) msg += "; " + string.Join(", ", better);
        return msg;
    }

    static double Closest(double[] values, double target) => values.MinBy(v => Math.Abs(v - target));

    static string F(double v) => Math.Round(v, 4).ToString(CultureInfo.InvariantCulture);
}
