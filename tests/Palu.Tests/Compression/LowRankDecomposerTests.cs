using Palu.Compression;
using Palu.LinearAlgebra;

namespace Palu.Tests.Compression;

/// <summary>The production decomposer (whitened SVD, ALGORITHMS.md §1.4) below full rank.</summary>
public class LowRankDecomposerTests
{
    /// <summary>
    /// Eckart–Young through the whitening: with S Sᵀ = XᵀX, ‖(W − BA)·S‖_F must equal sqrt(Σ_{i ≥ r} σ_i²) of W·S, the
    /// tail of the spectrum the decomposer returns, for every rank below full.
    /// </summary>
    [Theory]
    [InlineData(24, 40, 5, true)]
    [InlineData(24, 40, 13, true)]
    [InlineData(32, 32, 7, false)]
    [InlineData(16, 48, 15, true)]
    public void TruncationErrorEqualsTheTailSingularValues(int m, int d, int rank, bool whiten)
    {
        var la = LinearAlgebraProvider.Default;
        var rng = new Gaussian((ulong)(m * 100 + rank));
        var w = rng.Matrix(m, d);                       // [m, d]
        var x = rng.Matrix(4 * d, d);                   // [N, d] calibration inputs
        for (int j = 0; j < d; j++) x[j] *= 5;          // uneven input scales, so whitening matters
        double[]? s = null;
        if (whiten)
        {
            var gram = la.MatMul(Transpose(x, 4 * d, d), x, d, 4 * d, d);   // XᵀX [d, d]
            s = la.WhiteningFactor(gram, d, 1e-6).S;                        // lower triangular, S Sᵀ = XᵀX
        }
        var f = LowRankDecomposer.Decompose(la, w, m, d, s, rank);
        double err = OutputError(la, w, f, s, m, d);
        double tail = Math.Sqrt(f.SingularValues.Skip(rank).Sum(v => v * v));
        Assert.True(tail > 0.1, $"test spectrum has no tail ({tail})");
        // A and B are stored in f32: allow their rounding (≈1e-7 relative to ‖W·S‖)
        double scale = Math.Sqrt(f.SingularValues.Sum(v => v * v));
        Assert.True(Math.Abs(err - tail) <= 1e-5 * scale, $"‖(W − BA)S‖ = {err}, tail σ = {tail}, ‖WS‖ = {scale}");
        // at full rank nothing is lost
        var full = LowRankDecomposer.Decompose(la, w, m, d, s, Math.Min(m, d));
        Assert.True(OutputError(la, w, full, s, m, d) <= 1e-5 * scale);
    }

    /// <summary>‖(W − B·A)·S‖_F (S = I for plain SVD).</summary>
    static double OutputError(ILinearAlgebra la, double[] w, LowRankFactors f, double[]? s, int m, int d)
    {
        var ba = new double[m * d];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < d; j++)
            {
                double acc = 0;
                for (int k = 0; k < f.Rank; k++) acc += (double)f.B[i * f.Rank + k] * f.A[k * d + j];
                ba[i * d + j] = w[i * d + j] - acc;
            }
        var e = s == null ? ba : la.MatMul(ba, s, m, d, d);
        return Math.Sqrt(e.Sum(v => v * v));
    }

    static double[] Transpose(double[] a, int rows, int cols)
    {
        var t = new double[a.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }
}
