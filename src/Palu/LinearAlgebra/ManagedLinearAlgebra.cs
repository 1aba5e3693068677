using MathNet.Numerics.LinearAlgebra;

namespace Palu.LinearAlgebra;

/// <summary>
/// Pure C# provider, always available; the oracle the native provider is tested against.
/// Own code: GEMM (<see cref="ManagedGemm"/>), blocked Cholesky and triangular solves (<see cref="ManagedTriangular"/>),
/// Householder QR and least squares (<see cref="ManagedQr"/>), symmetric eigendecomposition (<see cref="ManagedEigen"/>).
/// MathNet's managed provider: only the SVD of a square core matrix (non-square inputs are first reduced by our QR).
/// Expect MathNet's SVD to take ≈ 350 s at n = 4096 on 2 cores: use LAPACK for large exact SVDs, or <see cref="Factorizations.RandomizedSvd(ILinearAlgebra, ReadOnlySpan{float}, int, int, int, RandomizedSvdOptions?)"/>.
/// </summary>
public sealed unsafe class ManagedLinearAlgebra : ILinearAlgebra
{
    public string Name => "managed (C# GEMM/Cholesky/QR/eigen, MathNet SVD)";
    public bool IsNative => false;

    public void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, ReadOnlySpan<double> b, double beta, Span<double> c)
    {
        Checks.Gemm(a.Length, b.Length, c.Length, m, n, k);
        fixed (double* pa = a) fixed (double* pb = b) fixed (double* pc = c)
            ManagedGemm.Gemm(transA, transB, m, n, k, alpha, pa, transA ? m : k, pb, transB ? k : n, beta, pc, n);
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
    {
        Checks.Gemm(a.Length, b.Length, c.Length, m, n, k);
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            ManagedGemm.Gemm(transA, transB, m, n, k, alpha, pa, transA ? m : k, pb, transB ? k : n, beta, pc, n);
    }

    public bool TryCholesky(Span<double> a, int n)
    {
        Dense.CheckShape(a.Length, n, n, nameof(a));
        return ManagedTriangular.Cholesky(a, n);
    }

    public void SolveTriangular(ReadOnlySpan<double> t, int n, bool lower, bool transpose, bool left, Span<double> b, int nrhs)
    {
        Dense.CheckShape(t.Length, n, n, nameof(t));
        Dense.CheckShape(b.Length, n, nrhs, nameof(b));
        ManagedTriangular.Solve(t, n, lower, transpose, left, b, nrhs);
    }

    public void InvertLowerTriangular(Span<double> l, int n)
    {
        Dense.CheckShape(l.Length, n, n, nameof(l));
        for (int i = 0; i < n; i++)
            if (l[i * n + i] == 0) throw new LinearAlgebraException($"triangular inverse: L[{i},{i}] = 0 (singular)");
        var x = Dense.Identity(n); // [n, n]
        ManagedTriangular.SolveLowerLeft(l, n, x, n);
        x.CopyTo(l);
    }

    public SymmetricEigenResult SymmetricEigen(ReadOnlySpan<double> a, int n, bool computeVectors = true)
    {
        Dense.CheckShape(a.Length, n, n, nameof(a));
        return ManagedEigen.Solve(a, n, computeVectors);
    }

    public SvdResult<double> Svd(ReadOnlySpan<double> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        int k = Math.Min(m, n);
        if (k == 0) return new SvdResult<double>([], [], [], m, n, 0);
        if (m == n) return SquareSvd(a[..(n * n)].ToArray(), n);
        if (m > n)
        {
            // A = Q·R, R = Ur·Σ·Vt  ⇒  U = Q·Ur.
            var f = ManagedQr.Factor(a, m, n);
            var core = SquareSvd(f.R(), n);
            var qt = ManagedQr.FormQt(f); // [n, m] = Qᵀ
            var u = new double[(long)m * n]; // [m, n]
            Gemm(true, false, m, n, n, 1.0, qt, core.U, 0.0, u);
            return core with { U = u, Rows = m };
        }
        else
        {
            // Aᵀ = Q·R  ⇒  A = Rᵀ·Qᵀ, Rᵀ = U·Σ·Wt  ⇒  Vt = Wt·Qᵀ. A [m, n] row-major is Aᵀ stored transposed.
            var f = ManagedQr.FactorTransposed(a, n, m);
            var core = SquareSvd(f.R(transposed: true), m);
            var qt = ManagedQr.FormQt(f); // [m, n] = Qᵀ
            var vt = new double[(long)m * n]; // [m, n]
            Gemm(false, false, m, n, m, 1.0, core.Vt, qt, 0.0, vt);
            return core with { Vt = vt, Cols = n };
        }
    }

    public SvdResult<float> Svd(ReadOnlySpan<float> a, int m, int n)
    {
        // Computed in double (MathNet's kernels are scalar, so double costs about the same and is more accurate).
        var r = Svd(Dense.ToDouble(a), m, n);
        return new SvdResult<float>(Dense.ToSingle(r.U), Dense.ToSingle(r.S), Dense.ToSingle(r.Vt), m, n, r.Rank);
    }

    static SvdResult<double> SquareSvd(double[] a, int n)
    {
        var svd = Matrix<double>.Build.DenseOfRowMajor(n, n, a).Svd(computeVectors: true);
        return new SvdResult<double>(svd.U.ToRowMajorArray(), svd.S.ToArray(), svd.VT.ToRowMajorArray(), n, n, n);
    }

    public void OrthonormalizeColumns(Span<double> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        ManagedQr.FormQ(ManagedQr.Factor(a, m, n)).CopyTo(a);
    }

    public void OrthonormalizeColumns(Span<float> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        var q = ManagedQr.FormQ(ManagedQr.Factor(Dense.ToDouble(a[..(m * n)]), m, n));
        for (int i = 0; i < q.Length; i++) a[i] = (float)q[i];
    }

    public double[] LeastSquares(ReadOnlySpan<double> a, int m, int n, ReadOnlySpan<double> b, int nrhs)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        Dense.CheckShape(b.Length, m, nrhs, nameof(b));
        return ManagedQr.LeastSquares(a, m, n, b, nrhs);
    }
}

/// <summary>Argument checks shared by the providers.</summary>
internal static class Checks
{
    public static void Gemm(int aLength, int bLength, int cLength, int m, int n, int k)
    {
        Dense.CheckShape(aLength, m, k, "a");
        Dense.CheckShape(bLength, k, n, "b");
        Dense.CheckShape(cLength, m, n, "c");
    }
}
