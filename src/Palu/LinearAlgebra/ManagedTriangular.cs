using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

namespace Palu.LinearAlgebra;

/// <summary>Blocked Cholesky and triangular solves in C# (double), with the bulk of the work in <see cref="ManagedGemm"/>.</summary>
internal static unsafe class ManagedTriangular
{
    const int NB = 128; // block size

    /// <summary>In place lower Cholesky of A [n, n] (lower triangle read). Returns false if not positive definite.</summary>
    public static bool Cholesky(Span<double> a, int n)
    {
        fixed (double* pa = a)
        {
            for (int k0 = 0; k0 < n; k0 += NB)
            {
                int kb = Math.Min(NB, n - k0);
                double* d = pa + (long)k0 * n + k0; // diagonal block [kb, kb], ld n
                if (!CholeskyUnblocked(d, kb, n)) return false;
                int rest = n - k0 - kb;
                if (rest == 0) break;

                // Panel: A21 [rest, kb] := A21 · L11⁻ᵀ, one independent forward substitution per row.
                double* a21 = pa + (long)(k0 + kb) * n + k0;
                var diag = d;
                int ld = n;
                ManagedParallel.Rows(rest, (long)kb * kb / 2, i =>
                {
                    var row = new Span<double>(a21 + (long)i * ld, kb);
                    for (int j = 0; j < kb; j++)
                    {
                        var lj = new ReadOnlySpan<double>(diag + (long)j * ld, j);
                        row[j] = (row[j] - TensorPrimitives.Dot(row[..j], lj)) / diag[(long)j * ld + j];
                    }
                });

                // Trailing update of the lower part: A22 -= A21·A21ᵀ, by row blocks (block rows [i0, i1) need columns [0, i1)).
                double* a22 = pa + (long)(k0 + kb) * n + (k0 + kb);
                for (int i0 = 0; i0 < rest; i0 += 2 * NB)
                {
                    int i1 = Math.Min(rest, i0 + 2 * NB);
                    ManagedGemm.Gemm(false, true, i1 - i0, i1, kb, -1.0, a21 + (long)i0 * n, n, a21, n, 1.0, a22 + (long)i0 * n, n);
                }
            }
        }
        Dense.ZeroStrictUpper(a, n);
        return true;
    }

    /// <summary>Row-oriented (Cholesky–Banachiewicz) factorisation of a small block [nb, nb] with leading dimension ld.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool CholeskyUnblocked(double* a, int nb, int ld)
    {
        for (int i = 0; i < nb; i++)
        {
            var li = new Span<double>(a + (long)i * ld, i + 1);
            for (int j = 0; j <= i; j++)
            {
                var lj = new ReadOnlySpan<double>(a + (long)j * ld, j);
                double s = li[j] - TensorPrimitives.Dot(li[..j], lj);
                if (i == j)
                {
                    if (!(s > 0) || !double.IsFinite(s)) return false;
                    li[i] = Math.Sqrt(s);
                }
                else li[j] = s / a[(long)j * ld + j];
            }
        }
        return true;
    }

    /// <summary>General triangular solve; reduces every case to a left solve with an explicit lower or upper T.</summary>
    public static void Solve(ReadOnlySpan<double> t, int n, bool lower, bool transpose, bool left, Span<double> b, int nrhs)
    {
        // Effective matrix E = op(T) for left solves, op(T)ᵀ for right solves (X·op(T) = B ⇔ op(T)ᵀ·Xᵀ = Bᵀ).
        bool transposeT = left ? transpose : !transpose;
        bool effectiveLower = lower != transposeT;
        ReadOnlySpan<double> e = transposeT ? Dense.Transpose(t, n, n) : t; // [n, n]
        if (left)
        {
            SolveLeft(e, n, effectiveLower, b, nrhs);
            return;
        }
        var bt = Dense.Transpose<double>(b, nrhs, n); // [n, nrhs]
        SolveLeft(e, n, effectiveLower, bt, nrhs);
        Dense.Transpose<double>(bt, n, nrhs).CopyTo(b);
    }

    static void SolveLeft(ReadOnlySpan<double> e, int n, bool lower, Span<double> b, int nrhs)
    {
        if (lower) SolveLowerLeft(e, n, b, nrhs);
        else SolveUpperLeft(e, n, b, nrhs);
    }

    /// <summary>Forward substitution L·X = B in place, L [n, n] lower, B [n, nrhs]. Left-looking by blocks of rows.</summary>
    public static void SolveLowerLeft(ReadOnlySpan<double> l, int n, Span<double> b, int nrhs)
    {
        fixed (double* pl = l)
        fixed (double* pb = b)
        {
            for (int k0 = 0; k0 < n; k0 += NB)
            {
                int kb = Math.Min(NB, n - k0);
                // B[k0:k0+kb] -= L[k0:k0+kb, 0:k0] · X[0:k0]
                if (k0 > 0) ManagedGemm.Gemm(false, false, kb, nrhs, k0, -1.0, pl + (long)k0 * n, n, pb, nrhs, 1.0, pb + (long)k0 * nrhs, nrhs);
                for (int i = k0; i < k0 + kb; i++)
                {
                    var bi = new Span<double>(pb + (long)i * nrhs, nrhs);
                    for (int t = k0; t < i; t++)
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<double>(pb + (long)t * nrhs, nrhs), -pl[(long)i * n + t], bi, bi);
                    TensorPrimitives.Multiply(bi, 1.0 / pl[(long)i * n + i], bi);
                }
            }
        }
    }

    /// <summary>Back substitution U·X = B in place, U [n, n] upper, B [n, nrhs].</summary>
    public static void SolveUpperLeft(ReadOnlySpan<double> u, int n, Span<double> b, int nrhs)
    {
        fixed (double* pu = u)
        fixed (double* pb = b)
        {
            for (int k1 = n; k1 > 0; k1 -= NB)
            {
                int k0 = Math.Max(0, k1 - NB);
                // B[k0:k1] -= U[k0:k1, k1:n] · X[k1:n]
                if (k1 < n) ManagedGemm.Gemm(false, false, k1 - k0, nrhs, n - k1, -1.0, pu + (long)k0 * n + k1, n, pb + (long)k1 * nrhs, nrhs, 1.0, pb + (long)k0 * nrhs, nrhs);
                for (int i = k1 - 1; i >= k0; i--)
                {
                    var bi = new Span<double>(pb + (long)i * nrhs, nrhs);
                    for (int t = i + 1; t < k1; t++)
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<double>(pb + (long)t * nrhs, nrhs), -pu[(long)i * n + t], bi, bi);
                    TensorPrimitives.Multiply(bi, 1.0 / pu[(long)i * n + i], bi);
                }
            }
        }
    }
}
