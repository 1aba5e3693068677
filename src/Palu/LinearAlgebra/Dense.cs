using System.Numerics;

namespace Palu.LinearAlgebra;

/// <summary>Small helpers on dense row-major matrices.</summary>
public static class Dense
{
    /// <summary>Returns Aᵀ [n, m] of A [m, n].</summary>
    public static T[] Transpose<T>(ReadOnlySpan<T> a, int m, int n)
    {
        CheckShape(a.Length, m, n, nameof(a));
        var t = new T[(long)m * n]; // [n, m]
        const int B = 32; // cache tile
        for (int i0 = 0; i0 < m; i0 += B)
            for (int j0 = 0; j0 < n; j0 += B)
            {
                int i1 = Math.Min(m, i0 + B), j1 = Math.Min(n, j0 + B);
                for (int i = i0; i < i1; i++)
                    for (int j = j0; j < j1; j++)
                        t[(long)j * m + i] = a[i * n + j];
            }
        return t;
    }

    /// <summary>The identity [n, n].</summary>
    public static double[] Identity(int n)
    {
        var a = new double[(long)n * n]; // [n, n]
        for (int i = 0; i < n; i++) a[(long)i * n + i] = 1;
        return a;
    }

    /// <summary>Sets the strict upper triangle of A [n, n] to zero.</summary>
    public static void ZeroStrictUpper<T>(Span<T> a, int n) where T : INumberBase<T>
    {
        for (int i = 0; i < n - 1; i++) a.Slice(i * n + i + 1, n - i - 1).Clear();
    }

    /// <summary>Copies the lower triangle of A [n, n] onto its upper triangle.</summary>
    public static void SymmetrizeFromLower(Span<double> a, int n)
    {
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                a[i * n + j] = a[j * n + i];
    }

    public static double[] ToDouble(ReadOnlySpan<float> x)
    {
        var y = new double[x.Length]; // same shape as x
        for (int i = 0; i < x.Length; i++) y[i] = x[i];
        return y;
    }

    public static float[] ToSingle(ReadOnlySpan<double> x)
    {
        var y = new float[x.Length]; // same shape as x
        for (int i = 0; i < x.Length; i++) y[i] = (float)x[i];
        return y;
    }

    /// <summary>Frobenius norm, accumulated in double.</summary>
    public static double FrobeniusNorm<T>(ReadOnlySpan<T> a) where T : INumberBase<T>
    {
        double s = 0;
        foreach (var x in a) { double d = double.CreateTruncating(x); s += d * d; }
        return Math.Sqrt(s);
    }

    internal static void CheckShape(int length, long rows, long cols, string name)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(name, $"negative shape [{rows}, {cols}]");
        if (length < rows * cols) throw new ArgumentException($"{name} has {length} elements, shape [{rows}, {cols}] needs {rows * cols}", name);
    }
}
