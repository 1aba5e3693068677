using Palu.LinearAlgebra;

namespace Palu.Tests.LinearAlgebra;

/// <summary>A fact that is skipped (not failed) when LAPACKE cannot be loaded or PALU_LINALG=managed.</summary>
public sealed class LapackFactAttribute : FactAttribute
{
    public LapackFactAttribute() { if (LinalgTestSupport.LapackSkipReason() is { } r) Skip = r; }
}

/// <summary>A theory that is skipped (not failed) when LAPACKE cannot be loaded or PALU_LINALG=managed.</summary>
public sealed class LapackTheoryAttribute : TheoryAttribute
{
    public LapackTheoryAttribute() { if (LinalgTestSupport.LapackSkipReason() is { } r) Skip = r; }
}

internal static class LinalgTestSupport
{
    /// <summary>
    /// All linear algebra test classes share one xunit collection, so they run one after another: OpenBLAS threads
    /// busy-wait, and running its tests in parallel with our own threads on a 2-core machine made both several times slower.
    /// </summary>
    public const string Collection = "LinearAlgebra";

    public static string? LapackSkipReason()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(LinearAlgebraProvider.EnvironmentVariable)?.Trim(), "managed", StringComparison.OrdinalIgnoreCase))
            return "LAPACK disabled by PALU_LINALG=managed";
        return LinearAlgebraProvider.IsLapackAvailable ? null : "LAPACK not available: " + LinearAlgebraProvider.LapackUnavailableReason;
    }

    public static ILinearAlgebra Get(string provider) => provider switch
    {
        "managed" => LinearAlgebraProvider.Managed,
        "lapack" => LinearAlgebraProvider.Lapack,
        _ => throw new ArgumentException(provider),
    };

    /// <summary>[m, n] of N(0, 1), deterministic per seed.</summary>
    public static double[] Random(int m, int n, ulong seed) => new Gaussian(seed).Matrix(m, n);

    public static float[] RandomF(int m, int n, ulong seed) => Dense.ToSingle(Random(m, n, seed));

    /// <summary>Naive C [m, n] = op(A)·op(B) in double (dot products of explicit rows of op(A) and columns of op(B)).</summary>
    public static double[] NaiveMatMul(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int n, int k, bool ta, bool tb)
    {
        double[] rowsA = ta ? Dense.Transpose(a, k, m) : a[..(m * k)].ToArray();  // [m, k]
        double[] colsB = tb ? b[..(n * k)].ToArray() : Dense.Transpose(b, k, n);  // [n, k]
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                int ia = i * k, jb = j * k;
                for (int p = 0; p < k; p++) s += rowsA[ia + p] * colsB[jb + p];
                c[i * n + j] = s;
            }
        return c;
    }

    public static double MaxAbsDiff(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Assert.Equal(x.Length, y.Length);
        double d = 0;
        for (int i = 0; i < x.Length; i++) d = Math.Max(d, Math.Abs(x[i] - y[i]));
        return d;
    }

    public static double RelFrobDiff(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Assert.Equal(x.Length, y.Length);
        double d = 0, s = 0;
        for (int i = 0; i < x.Length; i++) { d += (x[i] - y[i]) * (x[i] - y[i]); s += y[i] * y[i]; }
        return Math.Sqrt(d / Math.Max(s, 1e-300));
    }

    /// <summary>max |QᵀQ − I| for Q [m, k] (orthonormal columns).</summary>
    public static double OrthonormalityError(ReadOnlySpan<double> q, int m, int k)
    {
        var g = NaiveMatMul(q, q, k, k, m, true, false);
        for (int i = 0; i < k; i++) g[i * k + i] -= 1;
        return MaxAbsDiff(g, new double[k * k]);
    }

    /// <summary>U·diag(S)·Vt [m, n].</summary>
    public static double[] Reconstruct(SvdResult<double> s)
    {
        int m = s.Rows, n = s.Cols, k = s.Rank;
        var us = new double[m * k];
        for (int i = 0; i < m; i++) for (int j = 0; j < k; j++) us[i * k + j] = s.U[i * k + j] * s.S[j];
        return NaiveMatMul(us, s.Vt, m, n, k, false, false);
    }

    public static SvdResult<double> ToDouble(SvdResult<float> s)
        => new(Dense.ToDouble(s.U), Dense.ToDouble(s.S), Dense.ToDouble(s.Vt), s.Rows, s.Cols, s.Rank);

    /// <summary>A [m, n] = U·diag(sigma)·Vᵀ with Haar-random U, V: a matrix with a prescribed spectrum.</summary>
    public static double[] WithSpectrum(int m, int n, Func<int, double> sigma, ulong seed)
    {
        int k = Math.Min(m, n);
        var u = Hadamard.RandomOrthogonal(m, seed);
        var v = Hadamard.RandomOrthogonal(n, seed + 1);
        var us = new double[m * k];
        for (int i = 0; i < m; i++) for (int j = 0; j < k; j++) us[i * k + j] = u[i * m + j] * sigma(j);
        var vk = new double[n * k];
        for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) vk[i * k + j] = v[i * n + j];
        return LinearAlgebraProvider.Managed.MatMul(us, vk, m, n, k, transB: true);
    }
}
