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
    public static LowRankFactors Decompose(ILinearAlgebra la, double[] w, int m, int d, double[]? s, int rank)
    {
        var f = Decompose64(la, w, m, d, s, rank);
        var b = new float[m * rank];                                // [m, r]
        for (int i = 0; i < b.Length; i++) b[i] = (float)f.B[i];
        return new LowRankFactors(Dense.ToSingle(f.A), b, m, d, rank, f.SingularValues);
    }

    /// <inheritdoc cref="Decompose"/>
    public static LowRankFactors64 Decompose64(ILinearAlgebra la, double[] w, int m, int d, double[]? s, int rank)
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
        if (s != null) la.SolveTriangular(s, d, lower: true, transpose: false, left: false, y, rank);   // A·S = Y
        var b = new double[m * rank];                               // [m, r] = U_r Σ_r^½
        for (int i = 0; i < m; i++)
            for (int j = 0; j < rank; j++) b[i * rank + j] = svd.U[i * k + j] * sq[j];
        return new LowRankFactors64(y, b, m, d, rank, svd.S);
    }
}
