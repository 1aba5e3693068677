using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;
using Palu.Kernels.Cpu;

namespace Palu.LinearAlgebra;

/// <summary>
/// Symmetric eigensolver in C# (double): Householder reduction to tridiagonal form (full symmetric storage, so every
/// matrix-vector product and rank-2 update runs over contiguous rows, in parallel), then implicit QL iterations with
/// Wilkinson shifts. Eigenvectors: the reflectors are accumulated into Q explicitly and each QL sweep's Givens
/// rotations are applied to rows of Qᵀ, split over threads by column ranges.
/// </summary>
internal static class ManagedEigen
{
    /// <summary>Eigenvalues ascending and (optionally) eigenvectors [n, n] with column j = eigenvector j.</summary>
    public static SymmetricEigenResult Solve(ReadOnlySpan<double> a, int n, bool computeVectors)
    {
        var w = a[..(n * n)].ToArray(); // [n, n] working copy, made symmetric from the lower triangle
        Dense.SymmetrizeFromLower(w, n);
        var d = new double[n];     // [n] diagonal
        var e = new double[n];     // [n] e[i] couples i and i+1; e[n−1] = 0
        var tau = new double[n];   // [n] reflector scales; reflector k is stored in row k, entries [k+1, n)
        Tridiagonalize(w, n, d, e, tau);
        double[]? zt = computeVectors ? FormQt(w, n, tau) : null; // [n, n] row i = column i of Q·(rotations)
        TridiagonalQl(d, e, zt, n);

        var order = Enumerable.Range(0, n).OrderBy(i => d[i]).ToArray();
        var values = order.Select(i => d[i]).ToArray();
        if (zt is null) return new SymmetricEigenResult(values, null, n);
        var vectors = new double[(long)n * n]; // [n, n], column j = eigenvector j
        for (int j = 0; j < n; j++)
        {
            int src = order[j];
            for (int r = 0; r < n; r++) vectors[(long)r * n + j] = zt[(long)src * n + r];
        }
        return new SymmetricEigenResult(values, vectors, n);
    }

    /// <summary>A ← Hᵀ·A·H step by step for k = 0..n−3 (H_k acts on indices [k+1, n)).</summary>
    static void Tridiagonalize(double[] a, int n, double[] d, double[] e, double[] tau)
    {
        var p = new double[n]; // [n] scratch: p = tau·A22·v, then w = p − K·v
        for (int k = 0; k < n; k++)
        {
            d[k] = a[(long)k * n + k];
            int len = n - k - 1;
            if (len <= 0) { e[k] = 0; break; }
            var v = a.AsSpan(k * n + k + 1, len); // column k below the diagonal = row k right of it
            double tailNorm = len > 1 ? TensorPrimitives.Norm<double>(v[1..]) : 0;
            if (tailNorm == 0) { e[k] = v[0]; continue; } // already tridiagonal in this column: H = I
            double norm = Math.Sqrt(v[0] * v[0] + tailNorm * tailNorm);
            double alpha = v[0] > 0 ? -norm : norm;
            v[0] -= alpha;
            double t = 2 / TensorPrimitives.SumOfSquares<double>(v);
            tau[k] = t;
            e[k] = alpha;

            int k1 = k + 1;
            var vArr = a; int vOff = k * n + k1;
            var pk = p.AsSpan(0, len);
            Rows(len, j => p[j] = t * TensorPrimitives.Dot(new ReadOnlySpan<double>(a, (k1 + j) * n + k1, len), new ReadOnlySpan<double>(vArr, vOff, len)));
            double kk = 0.5 * t * TensorPrimitives.Dot(pk, new ReadOnlySpan<double>(a, vOff, len));
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<double>(a, vOff, len), -kk, pk, pk); // w = p − K·v
            Rows(len, j =>
            {
                var row = a.AsSpan((k1 + j) * n + k1, len);
                var vv = new ReadOnlySpan<double>(vArr, vOff, len);
                TensorPrimitives.MultiplyAdd(p.AsSpan(0, len), -vv[j], row, row); // row −= v_j·w
                TensorPrimitives.MultiplyAdd(vv, -p[j], row, row);               // row −= w_j·v
            });
        }
    }

    /// <summary>Qᵀ [n, n] (row j = column j of Q = H_0·H_1·…) by backward accumulation.</summary>
    static double[] FormQt(double[] a, int n, double[] tau)
    {
        var qt = Dense.Identity(n);
        for (int k = n - 3; k >= 0; k--)
        {
            double t = tau[k];
            if (t == 0) continue;
            int k1 = k + 1, len = n - k1, vOff = k * n + k1;
            Rows(len, j =>
            {
                var vv = new ReadOnlySpan<double>(a, vOff, len);
                var x = qt.AsSpan((k1 + j) * n + k1, len);
                TensorPrimitives.MultiplyAdd(vv, -t * TensorPrimitives.Dot(vv, x), x, x);
            });
        }
        return qt;
    }

    /// <summary>
    /// Implicit QL with Wilkinson shifts on the tridiagonal (d, e); d becomes the eigenvalues (unsorted). When zt is
    /// given, every rotation acting on indices (i, i+1) is applied to rows i and i+1 of zt.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void TridiagonalQl(double[] d, double[] e, double[]? zt, int n)
    {
        var cs = new double[n]; var sn = new double[n]; // [n] each: cos/sin of one sweep's rotations, by index i
        for (int l = 0; l < n; l++)
        {
            for (int iter = 0; ; iter++)
            {
                int m = l;
                for (; m < n - 1; m++)
                {
                    double dd = Math.Abs(d[m]) + Math.Abs(d[m + 1]);
                    if (Math.Abs(e[m]) <= Factorizations.MachineEpsilon * dd) break;
                }
                if (m == l) break;
                if (iter == 60) throw new LinearAlgebraException($"symmetric eigen: QL did not converge for eigenvalue {l} of {n}");

                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double r = Hypot(g, 1);
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
                double s = 1, c = 1, p = 0;
                int i = m - 1, first = m; // rotations applied for indices [first, m)
                bool underflow = false;
                for (; i >= l; i--)
                {
                    double f = s * e[i], b = c * e[i];
                    r = Hypot(f, g);
                    e[i + 1] = r;
                    if (r == 0) { d[i + 1] -= p; e[m] = 0; underflow = true; break; }
                    s = f / r; c = g / r;
                    g = d[i + 1] - p;
                    r = (d[i] - g) * s + 2 * c * b;
                    p = s * r;
                    d[i + 1] = g + p;
                    g = c * r - b;
                    cs[i] = c; sn[i] = s; first = i;
                }
                if (zt is not null && first < m) ApplyRotations(zt, n, cs, sn, first, m);
                if (underflow) continue;
                d[l] -= p; e[l] = g; e[m] = 0;
            }
        }
    }

    /// <summary>For i = m−1 down to first: (row_i, row_{i+1}) ← (c·row_i − s·row_{i+1}, s·row_i + c·row_{i+1}).</summary>
    static void ApplyRotations(double[] zt, int n, double[] cs, double[] sn, int first, int m)
    {
        int chunks = n >= 256 ? Math.Max(1, Parallelism.Threads) : 1;
        KernelThreads.For(chunks, t =>
        {
            int c0 = KernelThreads.Split(n, chunks, t), c1 = KernelThreads.Split(n, chunks, t + 1);
            for (int i = m - 1; i >= first; i--)
                Rotate(zt.AsSpan(i * n + c0, c1 - c0), zt.AsSpan((i + 1) * n + c0, c1 - c0), cs[i], sn[i]);
        });
    }

    /// <summary>(x, y) ← (c·x − s·y, s·x + c·y), elementwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rotate(Span<double> x, Span<double> y, double c, double s)
    {
        int k = 0, len = x.Length;
        if (Vector512.IsHardwareAccelerated)
        {
            var vc = Vector512.Create(c);
            var vs = Vector512.Create(s);
            for (; k + Vector512<double>.Count <= len; k += Vector512<double>.Count)
            {
                var a = Vector512.Create<double>(x[k..]);
                var b = Vector512.Create<double>(y[k..]);
                (vc * a - vs * b).CopyTo(x[k..]);
                (vs * a + vc * b).CopyTo(y[k..]);
            }
        }
        for (; k < len; k++)
        {
            double a = x[k], b = y[k];
            x[k] = c * a - s * b;
            y[k] = s * a + c * b;
        }
    }

    static double Hypot(double x, double y)
    {
        double ax = Math.Abs(x), ay = Math.Abs(y);
        if (ax < ay) (ax, ay) = (ay, ax);
        if (ax == 0) return 0;
        double q = ay / ax;
        return ax * Math.Sqrt(1 + q * q);
    }

    /// <summary>Runs body(j) for j in [0, count): contiguous ranges of rows per task, in parallel when the rows are many.</summary>
    static void Rows(int count, Action<int> body) =>
        ManagedParallel.Rows(count, count < 128 ? 1 : KernelThreads.Plan(count, 1, count), body);
}
