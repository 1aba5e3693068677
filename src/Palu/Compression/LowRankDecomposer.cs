using Palu.LinearAlgebra;

namespace Palu.Compression;

/// <summary>W ≈ B·A for one block: A [r, d] (down), B [m, r] (up), plus the spectrum it was cut from.</summary>
public sealed record LowRankFactors(float[] A, float[] B, int Rows, int Cols, int Rank, double[] SingularValues);

/// <summary><see cref="LowRankFactors"/> in float64, for methods that transform the factors further (SkipCat).</summary>
public sealed record LowRankFactors64(double[] A, double[] B, int Rows, int Cols, int Rank, double[] SingularValues);

/// <summary>
/// Truncated SVD of one weight block, plain or whitened (ALGORITHMS.md §1.4): W_s = W·S, W_s = U Σ Vᵀ,
/// A = Σ_r^½ V_rᵀ S⁻¹, B = U_r Σ_r^½ (√Σ split evenly between the factors). In float64 throughout; S is lower
/// triangular (Cholesky) or null for plain SVD.
/// </summary>
public static class LowRankDecomposer
{
    /// <param name="w">[m, d] row-major.</param>
    /// <param name="s">[d, d] lower-triangular whitening factor with S·Sᵀ = XᵀX, or null.</param>
    public static LowRankFactors Decompose(ILinearAlgebra la, double[] w, int m, int d, double[]? s, int rank) =>
        ToSingle(Decompose64(la, w, m, d, s, rank));

    /// <summary>
    /// As above with any whitening factor (null = plain SVD): a dense (symmetric square-root) S is undone by its
    /// inverse (A = Y·S⁻¹), a lower-triangular one by a triangular solve.
    /// </summary>
    public static LowRankFactors Decompose(ILinearAlgebra la, double[] w, int m, int d, Whitening? wh, int rank) =>
        ToSingle(Decompose64(la, w, m, d, wh, rank));

    /// <inheritdoc cref="Decompose(ILinearAlgebra, double[], int, int, double[], int)"/>
    public static LowRankFactors64 Decompose64(ILinearAlgebra la, double[] w, int m, int d, double[]? s, int rank) =>
        Decompose64(la, w, m, d, s, rank, y => { if (s != null) la.SolveTriangular(s, d, lower: true, transpose: false, left: false, y, rank); return y; });

    /// <inheritdoc cref="Decompose(ILinearAlgebra, double[], int, int, Whitening, int)"/>
    public static LowRankFactors64 Decompose64(ILinearAlgebra la, double[] w, int m, int d, Whitening? wh, int rank) =>
        wh == null || wh.Factor.IsLowerTriangular
            ? Decompose64(la, w, m, d, wh?.Factor.S, rank)
            : Decompose64(la, w, m, d, wh.Factor.S, rank, y => la.MatMul(y, wh.Inverse, rank, d, d));

    static LowRankFactors ToSingle(LowRankFactors64 f)
    {
        var b = new float[f.B.Length];                              // [m, r]
        for (int i = 0; i < b.Length; i++) b[i] = (float)f.B[i];
        return new LowRankFactors(Dense.ToSingle(f.A), b, f.Rows, f.Cols, f.Rank, f.SingularValues);
    }

    /// <param name="unwhiten">Y [r, d] = Σ_r^½ V_rᵀ → A [r, d] (may work in place).</param>
    static LowRankFactors64 Decompose64(ILinearAlgebra la, double[] w, int m, int d, double[]? s, int rank, Func<double[], double[]> unwhiten)
    {
        if (rank < 1 || rank > Math.Min(m, d)) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} outside [1, {Math.Min(m, d)}]");
        double[] ws = s == null ? w : la.MatMul(w, s, m, d, d);    // [m, d]
        var svd = la.Svd(ws, m, d);                                 // U [m, k], σ [k], Vᵀ [k, d]
        int k = svd.Rank;
        var sq = new double[rank];                                  // [r] Σ_r^½
        for (int i = 0; i < rank; i++) sq[i] = Math.Sqrt(svd.S[i]);
        var y = new double[rank * d];                               // [r, d] = Σ_r^½ V_rᵀ
        for (int i = 0; i < rank; i++)
            for (int j = 0; j < d; j++) y[i * d + j] = sq[i] * svd.Vt[i * d + j];
        var a = unwhiten(y);                                        // [r, d]
        var b = new double[m * rank];                               // [m, r] = U_r Σ_r^½
        for (int i = 0; i < m; i++)
            for (int j = 0; j < rank; j++) b[i * rank + j] = svd.U[i * k + j] * sq[j];
        return new LowRankFactors64(a, b, m, d, rank, svd.S);
    }
}

/// <summary>How the Gram is factorised (ALGORITHMS.md §1.3): Cholesky (Palu, SVD-LLM) or the symmetric square root (ReCalKV).</summary>
public enum WhiteningKind { Cholesky, Sqrt }

/// <summary>A whitening factor S (S·Sᵀ = G) and its inverse [d, d] (computed once per layer, used by every block).</summary>
public sealed record Whitening(WhiteningFactorResult Factor, double[] Inverse)
{
    /// <summary>S of the Gram <paramref name="gram"/> [d, d] by <paramref name="kind"/>; Cholesky with Palu's jitter fallback ε.</summary>
    public static Whitening Of(ILinearAlgebra la, double[] gram, int d, WhiteningKind kind, double epsilon)
    {
        var f = kind == WhiteningKind.Cholesky ? la.WhiteningFactor(gram, d, epsilon) : la.SymmetricSqrtFactor(gram, d);
        return new Whitening(f, la.InverseFactor(f));
    }

    public static string Name(WhiteningKind k) => k == WhiteningKind.Cholesky ? "cholesky" : "sqrt";
}
