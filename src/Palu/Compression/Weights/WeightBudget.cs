namespace Palu.Compression.Weights;

/// <summary>
/// Ranks from a parameter budget (ALGORITHMS-SKIPCAT-FLRC.md §1.5). A group of matrices reading one input of width n
/// with stacked output height m (one matrix: m = its rows; Cat: Σ of its members' rows) keeps P = keep·m·n parameters.
/// Plain factors cost r·(m + n): r = ⌊P/(m + n)⌋. With an identity block they cost r·(m + n − r): r is the smaller
/// root of r² − (m + n)·r + P = 0, floored. Ranks never exceed min(m, n). keep = 1 means full rank (r = min(m, n)):
/// exact, and for plain factors more parameters than the dense matrix (the check that a method is exact).
/// </summary>
public static class WeightBudget
{
    public static int Rank(int m, int n, double keep, bool skip)
    {
        int full = Math.Min(m, n);
        if (keep >= 1) return full;
        double p = keep * m * n, s = (double)m + n;
        double r = skip ? (s - Math.Sqrt(s * s - 4 * p)) / 2 : p / s;
        return (int)Math.Min(full, Math.Floor(r + 1e-9));
    }

    /// <summary>Stored parameters of rank r (weights only: no indices, no biases).</summary>
    public static long Parameters(int m, int n, int r, bool skip) => skip ? (long)r * (m + n - r) : (long)r * (m + n);

    /// <summary>The smallest keep that gives rank ≥ 1 (the parameters of rank 1 over the dense ones).</summary>
    public static double SmallestKeep(int m, int n, bool skip) => (double)Parameters(m, n, 1, skip) / ((long)m * n);
}
