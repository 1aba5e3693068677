using System.Numerics.Tensors;

namespace Palu.LinearAlgebra;

/// <summary>
/// Higher-level operations built on any <see cref="ILinearAlgebra"/>: matrix products, whitening factors
/// (ALGORITHMS.md §1.3), SPD solves, truncated SVD, pseudo-inverse. Randomized SVD is in <c>RandomizedSvd.cs</c>.
/// </summary>
public static partial class Factorizations
{
    /// <summary>Whitening jitter ε used by Palu (and recommended by SVD-LLM maintainers for large models).</summary>
    public const double PaluEpsilon = 1e-3;

    /// <summary>Whitening jitter ε used by SVD-LLM.</summary>
    public const double SvdLlmEpsilon = 1e-6;

    /// <summary>Unit round-off of double (2⁻⁵²).</summary>
    public const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>C [m, n] = op(A)·op(B), op(A) [m, k], op(B) [k, n] (see <see cref="ILinearAlgebra.Gemm(bool, bool, int, int, int, double, ReadOnlySpan{double}, ReadOnlySpan{double}, double, Span{double})"/>).</summary>
    public static double[] MatMul(this ILinearAlgebra la, ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int n, int k, bool transA = false, bool transB = false)
    {
        var c = new double[(long)m * n]; // [m, n]
        la.Gemm(transA, transB, m, n, k, 1.0, a, b, 0.0, c);
        return c;
    }

    /// <inheritdoc cref="MatMul(ILinearAlgebra, ReadOnlySpan{double}, ReadOnlySpan{double}, int, int, int, bool, bool)"/>
    public static float[] MatMul(this ILinearAlgebra la, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int n, int k, bool transA = false, bool transB = false)
    {
        var c = new float[(long)m * n]; // [m, n]
        la.Gemm(transA, transB, m, n, k, 1f, a, b, 0f, c);
        return c;
    }

    /// <summary>Lower Cholesky factor L [n, n] of an SPD A [n, n]; throws <see cref="LinearAlgebraException"/> when A is not positive definite.</summary>
    public static double[] Cholesky(this ILinearAlgebra la, ReadOnlySpan<double> a, int n)
    {
        Dense.CheckShape(a.Length, n, n, nameof(a));
        var l = a[..(n * n)].ToArray(); // [n, n]
        if (!la.TryCholesky(l, n)) throw new LinearAlgebraException($"Cholesky: the [{n}, {n}] matrix is not positive definite");
        return l;
    }

    /// <summary>
    /// Cholesky whitening factor S (lower, S·Sᵀ = G) of a Gram matrix G [n, n] (ALGORITHMS.md §1.3, SVD-LLM / Palu):
    /// first plain Cholesky in double; if that fails, G + (−λ_min(G) + ε)·I (so its smallest eigenvalue becomes ε) is
    /// factorised instead and the shift is reported in <see cref="WhiteningFactorResult.Jitter"/>.
    /// Throws <see cref="LinearAlgebraException"/> if G has non-finite entries or the shifted matrix still fails.
    /// </summary>
    /// <param name="epsilon"><see cref="PaluEpsilon"/> (1e-3) or <see cref="SvdLlmEpsilon"/> (1e-6).</param>
    public static WhiteningFactorResult WhiteningFactor(this ILinearAlgebra la, ReadOnlySpan<double> gram, int n, double epsilon)
    {
        Dense.CheckShape(gram.Length, n, n, nameof(gram));
        for (int i = 0; i < n * n; i++)
            if (!double.IsFinite(gram[i])) throw new LinearAlgebraException($"whitening: Gram matrix has a non-finite entry at ({i / n}, {i % n})");

        var s = gram[..(n * n)].ToArray(); // [n, n]
        if (la.TryCholesky(s, n)) return new WhiteningFactorResult(s, n, true, 0, double.NaN, 1);

        double lambdaMin = la.SymmetricEigen(gram, n, computeVectors: false).Values[0];
        double shift = -lambdaMin + epsilon;
        gram[..(n * n)].CopyTo(s);
        for (int i = 0; i < n; i++) s[i * n + i] += shift;
        if (la.TryCholesky(s, n)) return new WhiteningFactorResult(s, n, true, shift, lambdaMin, 2);

        double maxDiag = 0;
        for (int i = 0; i < n; i++) maxDiag = Math.Max(maxDiag, Math.Abs(gram[i * n + i]));
        throw new LinearAlgebraException(
            $"whitening: Gram [{n}, {n}] is not positive definite even after adding (−λ_min + ε)·I = {shift:G6}·I " +
            $"(λ_min = {lambdaMin:G6}, ε = {epsilon:G3}, max |diag| = {maxDiag:G6}); ε is below the round-off of this Gram — " +
            $"raise it (Palu uses {PaluEpsilon:G1}) or scale the Gram (e.g. divide by the token count)");
    }

    /// <summary>
    /// Symmetric square-root whitening factor (ReCalKV "whiten v2", ALGORITHMS.md §1.3): G = U·Λ·Uᵀ, S = U·Λ^½ (dense,
    /// S·Sᵀ = G up to the floor). Eigenvalues below <paramref name="relativeFloor"/>·λ_max are raised to it (the
    /// reference has no floor; without one, S⁻¹ blows up on near-singular Grams). Columns of S are ordered by
    /// ascending eigenvalue.
    /// </summary>
    public static WhiteningFactorResult SymmetricSqrtFactor(this ILinearAlgebra la, ReadOnlySpan<double> gram, int n, double relativeFloor = 1e-10)
    {
        Dense.CheckShape(gram.Length, n, n, nameof(gram));
        var eig = la.SymmetricEigen(gram, n);
        var s = eig.Vectors!; // [n, n], scaled in place: column j *= sqrt(λ_j)
        double lambdaMax = n > 0 ? eig.Values[n - 1] : 0, floor = Math.Max(relativeFloor * lambdaMax, double.Epsilon);
        for (int j = 0; j < n; j++)
        {
            double root = Math.Sqrt(Math.Max(eig.Values[j], floor));
            for (int i = 0; i < n; i++) s[i * n + j] *= root;
        }
        return new WhiteningFactorResult(s, n, false, 0, n > 0 ? eig.Values[0] : double.NaN, 0);
    }

    /// <summary>
    /// S⁻¹ [n, n] of a whitening factor. Lower (Cholesky) factors use the triangular inverse; square-root factors use
    /// S⁻¹ = diag(1/‖s_j‖²)·Sᵀ, exact because the columns s_j = u_j·√λ_j are orthogonal.
    /// </summary>
    public static double[] InverseFactor(this ILinearAlgebra la, WhiteningFactorResult factor)
    {
        int n = factor.N;
        if (factor.IsLowerTriangular)
        {
            var inv = (double[])factor.S.Clone(); // [n, n]
            la.InvertLowerTriangular(inv, n);
            return inv;
        }
        var st = Dense.Transpose<double>(factor.S, n, n); // [n, n]: row j = column j of S
        for (int j = 0; j < n; j++)
        {
            var row = st.AsSpan(j * n, n);
            double sq = TensorPrimitives.SumOfSquares<double>(row);
            TensorPrimitives.Multiply(row, 1.0 / sq, row);
        }
        return st;
    }

    /// <summary>Solves A·X = B for SPD A [n, n] (Cholesky), B [n, nrhs]; e.g. least squares via normal equations (ZᵀZ)·C = ZᵀY.</summary>
    public static double[] SolveSpd(this ILinearAlgebra la, ReadOnlySpan<double> a, int n, ReadOnlySpan<double> b, int nrhs)
    {
        Dense.CheckShape(b.Length, n, nrhs, nameof(b));
        var l = la.Cholesky(a, n);           // [n, n]
        var x = b[..(n * nrhs)].ToArray();   // [n, nrhs]
        la.SolveTriangular(l, n, lower: true, transpose: false, left: true, x, nrhs);
        la.SolveTriangular(l, n, lower: true, transpose: true, left: true, x, nrhs);
        return x;
    }

    /// <summary>Exact thin SVD truncated to the leading <paramref name="rank"/> triplets.</summary>
    public static SvdResult<double> TruncatedSvd(this ILinearAlgebra la, ReadOnlySpan<double> a, int m, int n, int rank)
        => la.Svd(a, m, n).Truncate(rank);

    /// <inheritdoc cref="TruncatedSvd(ILinearAlgebra, ReadOnlySpan{double}, int, int, int)"/>
    public static SvdResult<float> TruncatedSvd(this ILinearAlgebra la, ReadOnlySpan<float> a, int m, int n, int rank)
        => la.Svd(a, m, n).Truncate(rank);

    /// <summary>The leading min(rank, k) triplets: U [m, r], S [r], Vt [r, n].</summary>
    public static SvdResult<T> Truncate<T>(this SvdResult<T> svd, int rank) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        int r = Math.Min(rank, svd.Rank), m = svd.Rows, n = svd.Cols, k = svd.Rank;
        if (r == k) return svd;
        var u = new T[(long)m * r]; // [m, r]
        for (int i = 0; i < m; i++) svd.U.AsSpan(i * k, r).CopyTo(u.AsSpan(i * r, r));
        return new SvdResult<T>(u, svd.S[..r], svd.Vt[..(r * n)], m, n, r);
    }

    /// <summary>
    /// Moore–Penrose pseudo-inverse A⁺ [n, m] of A [m, n] via SVD; singular values ≤ cutoff·σ_max are treated as zero,
    /// cutoff defaulting to max(m, n)·ε_double (NumPy/PyTorch convention).
    /// </summary>
    public static double[] PseudoInverse(this ILinearAlgebra la, ReadOnlySpan<double> a, int m, int n, double? relativeCutoff = null)
    {
        var svd = la.Svd(a, m, n);
        int k = svd.Rank;
        double cutoff = (relativeCutoff ?? Math.Max(m, n) * MachineEpsilon) * (k > 0 ? svd.S[0] : 0);
        var vt = svd.Vt; // [k, n], rows scaled by 1/σ (0 for dropped)
        for (int i = 0; i < k; i++)
        {
            double inv = svd.S[i] > cutoff ? 1.0 / svd.S[i] : 0.0;
            var row = vt.AsSpan(i * n, n);
            TensorPrimitives.Multiply(row, inv, row);
        }
        return la.MatMul(vt, svd.U, n, m, k, transA: true, transB: true); // [n, m] = (Σ⁺·Vt)ᵀ·Uᵀ
    }
}
