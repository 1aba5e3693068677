using Palu.Models;
using Palu.Training;

namespace Palu.Compression;

/// <summary>How the deficit D = T − Σ floor(ideal) is handed out (ALGORITHMS.md §4.3 step 4).</summary>
public enum DeficitMode
{
    /// <summary>+1 per entry along the order until D ≤ 0 (default): Σ r = ⌈T⌉ when the caps allow.</summary>
    StopAtZero,
    /// <summary>Palu's loop: a pass stops early only when D hits exactly 0, so a fractional T overshoots by up to one pass.</summary>
    PaluPass,
}

/// <summary>Order in which entries receive the deficit, by fractional part r̃ − r.</summary>
public enum RemainderOrder
{
    /// <summary>Smallest fractional part first, as Palu's rank_search.py (default, for parity).</summary>
    Ascending,
    /// <summary>Largest first (largest-remainder method; ReCalKV's fisher_uniform).</summary>
    Descending,
}

/// <summary>Ranks and the budget they realise.</summary>
public sealed record AllocationResult(LayerRanks[] Ranks, double TargetRank, long AllocatedRank, long RoundedRank, long FullRank)
{
    /// <summary>Kept fraction of KV rank after §1.6 rounding.</summary>
    public double RealizedKeep => (double)RoundedRank / FullRank;
}

/// <summary>
/// Fisher-information rank allocation, exactly as ALGORITHMS.md §4.3. Modules are every k_proj and v_proj in model
/// order (layer 0 k, layer 0 v, layer 1 k, …); a module's head group g owns rows [g·s·d_h, (g+1)·s·d_h).
/// </summary>
public static class FisherAllocation
{
    /// <summary>
    /// <c>fisher</c>: one entry per (module, group), score f = mean of F over the group's rows; budget
    /// T = ρ·Σ s·d_h; ideal share T·f/Σf; floor capped at s·d_h; deficit by fractional part; §1.6 rounding.
    /// </summary>
    public static AllocationResult Fisher(FisherInfo f, int layers, int groups, int width, double keep,
        DeficitMode mode = DeficitMode.StopAtZero, RemainderOrder order = RemainderOrder.Ascending)
    {
        Check(f, layers, groups * width);
        var scores = new double[2 * layers * groups];
        for (int l = 0, i = 0; l < layers; l++)
            foreach (var kind in new[] { LinearKind.K, LinearKind.V })
                for (int g = 0; g < groups; g++) scores[i++] = f.BlockMean(l, kind, g * width, (g + 1) * width);
        var caps = Enumerable.Repeat(width, scores.Length).ToArray();
        double target = keep * caps.Sum(c => (long)c);
        var r = Distribute(scores, caps, target, mode, order);
        var ranks = new LayerRanks[layers];
        for (int l = 0; l < layers; l++)
            ranks[l] = new LayerRanks(
                Enumerable.Range(0, groups).Select(g => RankAllocation.Round(r[(2 * l) * groups + g], width)).ToArray(),
                Enumerable.Range(0, groups).Select(g => RankAllocation.Round(r[(2 * l + 1) * groups + g], width)).ToArray());
        return Result(ranks, target, r.Sum(x => (long)x), width);
    }

    /// <summary>
    /// <c>fisher_uniform</c> (Palu's default): one entry per module, score = mean of F over the whole matrix, cap
    /// H_kv·d_h; then each of the module's n_g groups gets floor(r_W / n_g); §1.6 rounding.
    /// </summary>
    public static AllocationResult FisherUniform(FisherInfo f, int layers, int groups, int width, double keep,
        DeficitMode mode = DeficitMode.StopAtZero, RemainderOrder order = RemainderOrder.Ascending)
    {
        int full = groups * width;
        Check(f, layers, full);
        var scores = new double[2 * layers];
        for (int l = 0; l < layers; l++)
        {
            scores[2 * l] = f.BlockMean(l, LinearKind.K, 0, full);
            scores[2 * l + 1] = f.BlockMean(l, LinearKind.V, 0, full);
        }
        var caps = Enumerable.Repeat(full, scores.Length).ToArray();
        double target = keep * caps.Sum(c => (long)c);
        var r = Distribute(scores, caps, target, mode, order);
        int[] Split(int rw) => Enumerable.Repeat(RankAllocation.Round(rw / groups, width), groups).ToArray();
        var ranks = Enumerable.Range(0, layers).Select(l => new LayerRanks(Split(r[2 * l]), Split(r[2 * l + 1]))).ToArray();
        return Result(ranks, target, r.Sum(x => (long)x), width);
    }

    /// <summary>
    /// Integer ranks proportional to <paramref name="scores"/> under budget <paramref name="target"/> (§4.3 steps 3–4):
    /// r = min(cap, floor(T·f/Σf)), then +1 per entry in fractional-part order (stable; ties keep module order),
    /// skipping capped entries, until the deficit is spent per <paramref name="mode"/>. Stops if every entry is capped
    /// (the reference would loop forever).
    /// </summary>
    public static int[] Distribute(double[] scores, int[] caps, double target, DeficitMode mode, RemainderOrder order)
    {
        int n = scores.Length;
        if (caps.Length != n) throw new ArgumentException("one cap per score");
        double sum = scores.Sum();
        if (!(sum > 0) || scores.Any(s => !double.IsFinite(s) || s < 0))
            throw new ArgumentException("Fisher scores must be finite, non-negative and not all zero (is the Fisher file from a real pass?)");
        var ideal = scores.Select(s => target * s / sum).ToArray();
        var r = new int[n];
        for (int i = 0; i < n; i++) r[i] = (int)Math.Min(caps[i], Math.Floor(ideal[i]));
        var frac = Enumerable.Range(0, n).Select(i => ideal[i] - r[i]).ToArray();
        var idx = Enumerable.Range(0, n).ToArray();
        idx = order == RemainderOrder.Ascending
            ? idx.OrderBy(i => frac[i]).ToArray()              // LINQ ordering is stable
            : idx.OrderByDescending(i => frac[i]).ToArray();
        double deficit = target - r.Sum(x => (double)x);
        while (deficit > 0)
        {
            bool gave = false, done = false;
            foreach (int i in idx)
            {
                if (r[i] >= caps[i]) continue;
                r[i]++; deficit -= 1; gave = true;
                if (mode == DeficitMode.PaluPass ? deficit == 0 : deficit <= 0) { done = true; break; }
            }
            if (done || !gave) break;
        }
        return r;
    }

    static AllocationResult Result(LayerRanks[] ranks, double target, long allocated, int width)
    {
        var (rounded, full) = RankAllocation.Totals(ranks, width);
        return new AllocationResult(ranks, target, allocated, rounded, full);
    }

    static void Check(FisherInfo f, int layers, int kvDim)
    {
        if (f.Layers != layers) throw new ArgumentException($"the Fisher file has {f.Layers} layers, the model {layers}");
        if (f.RowMeans(0, LinearKind.K).Length != kvDim) throw new ArgumentException($"the Fisher file's k_proj has {f.RowMeans(0, LinearKind.K).Length} rows, the model {kvDim}");
    }

    public static string Name(DeficitMode m) => m == DeficitMode.StopAtZero ? "stop_at_zero" : "palu_pass";
    public static string Name(RemainderOrder o) => o == RemainderOrder.Ascending ? "ascending" : "descending";
}
