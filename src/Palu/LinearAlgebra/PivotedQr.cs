namespace Palu.LinearAlgebra;

/// <summary>A·P = Q·R with column pivoting: the column order, R [k, n] in that order (upper trapezoidal), Q [m, k].</summary>
public sealed record PivotedQrResult(int[] Pivots, double[] R, double[] Q, int Rows, int Cols, int Steps);

/// <summary>
/// Column-pivoted Householder QR (Businger–Golub): at each step the remaining column of largest norm is moved to the
/// front. The first k pivots name k well-conditioned columns of A (a rank-revealing choice, the usual stand-in for a
/// strong RRQR). Managed float64; O(k·m·n).
/// </summary>
public static class PivotedQr
{
    /// <summary>Factorises A [m, n] (row-major) for k = min(m, n) steps.</summary>
    public static PivotedQrResult Factor(ReadOnlySpan<double> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        int k = Math.Min(m, n);
        var w = new double[(long)n * m];                 // [n, m] column-major copy: column j at w[j·m]
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) w[(long)j * m + i] = a[i * n + j];
        var piv = Enumerable.Range(0, n).ToArray();
        var norms = new double[n];                       // squared norms of the columns' remaining parts
        for (int j = 0; j < n; j++) norms[j] = SumSq(w.AsSpan(j * m, m));
        var vs = new double[(long)k * m];                // Householder vectors [k, m] (v_s zero above row s)
        var beta = new double[k];
        for (int s = 0; s < k; s++)
        {
            int best = s;
            for (int j = s + 1; j < n; j++) if (norms[j] > norms[best]) best = j;
            if (best != s)
            {
                (piv[s], piv[best]) = (piv[best], piv[s]);
                (norms[s], norms[best]) = (norms[best], norms[s]);
                var cs = w.AsSpan(s * m, m); var cb = w.AsSpan(best * m, m);
                for (int i = 0; i < m; i++) (cs[i], cb[i]) = (cb[i], cs[i]);
            }
            var col = w.AsSpan(s * m + s, m - s);
            double alpha = Math.Sqrt(SumSq(col));
            var v = vs.AsSpan(s * m + s, m - s);
            col.CopyTo(v);
            if (alpha == 0) { beta[s] = 0; continue; }
            if (v[0] > 0) alpha = -alpha;               // v = x − α e1 with α of opposite sign to x0 (no cancellation)
            v[0] -= alpha;
            double vv = SumSq(v);
            beta[s] = vv == 0 ? 0 : 2 / vv;
            for (int j = s; j < n; j++)                  // apply H = I − β v vᵀ to the remaining columns
            {
                var c = w.AsSpan(j * m + s, m - s);
                double dot = 0;
                for (int i = 0; i < v.Length; i++) dot += v[i] * c[i];
                dot *= beta[s];
                for (int i = 0; i < v.Length; i++) c[i] -= dot * v[i];
                if (j > s) norms[j] = SumSq(c[1..]);    // the part below row s that later steps still see
            }
        }
        var r = new double[(long)k * n];                 // [k, n]
        for (int i = 0; i < k; i++)
            for (int j = i; j < n; j++) r[(long)i * n + j] = w[(long)j * m + i];
        // Q [m, k] = H_0 H_1 … H_{k−1} applied to the first k columns of I
        var q = new double[(long)m * k];
        for (int i = 0; i < k; i++) q[(long)i * k + i] = 1;
        for (int s = k - 1; s >= 0; s--)
        {
            var v = vs.AsSpan(s * m, m);
            for (int j = 0; j < k; j++)
            {
                double dot = 0;
                for (int i = s; i < m; i++) dot += v[i] * q[(long)i * k + j];
                dot *= beta[s];
                for (int i = s; i < m; i++) q[(long)i * k + j] -= dot * v[i];
            }
        }
        return new PivotedQrResult(piv, r, q, m, n, k);
    }

    static double SumSq(ReadOnlySpan<double> x)
    {
        double s = 0;
        foreach (var v in x) s += v * v;
        return s;
    }
}
