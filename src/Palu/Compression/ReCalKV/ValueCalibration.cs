using Palu.LinearAlgebra;

namespace Palu.Compression;

/// <summary>Relative calibration errors ‖X(W − B·A)ᵀ‖_F / ‖X Wᵀ‖_F of one OVC run: before, and after each iteration.</summary>
public sealed record OvcResult(float[] A, float[] B, double[] Errors, int RejectedRefits)
{
    public double Before => Errors[0];
    public double After => Errors[^1];
}

/// <summary>
/// ReCalKV's OVC (ALGORITHMS.md §5.3) on the normal equations: every quantity the least squares need is a product
/// with the calibration Gram G = XᵀX [d, d] (accumulated in f64 over the calibration tokens, so X is never stored
/// whole): ZᵀZ = A·G·Aᵀ, ZᵀY = A·G·Wᵀ, and the error ‖X(W − BA)ᵀ‖²_F = tr((W − BA)·G·(W − BA)ᵀ). Each iteration refits
/// B by least squares for fixed A (min ‖Z·Bᵀ − Y‖), then A = pinv(B)·W (for an invertible G this is also the
/// G-weighted optimum for fixed B). Both steps are exact minimisers, so the error cannot rise; an A refit that raises
/// it through round-off or a rank-deficient G is not taken (counted in <see cref="OvcResult.RejectedRefits"/>).
/// A bias of the projection cancels out (it sits on the reconstruction side, b + B·A·x).
/// </summary>
public static class ValueCalibration
{
    /// <summary>Relative cutoff of the pseudo-inverses (singular values below it × σ_max count as zero).</summary>
    public const double PinvCutoff = 1e-10;

    /// <param name="w">W [m, d].</param>
    /// <param name="a">A₀ [r, d] (the whitened-SVD down-projection).</param>
    /// <param name="b">B₀ [m, r].</param>
    /// <param name="gram">G [d, d] of the calibration inputs.</param>
    public static OvcResult Refit(ILinearAlgebra la, double[] w, float[] a, float[] b, double[] gram, int m, int d, int r, int iterations)
    {
        var A = Dense.ToDouble(a);                                  // [r, d]
        var B = Dense.ToDouble(b);                                  // [m, r]
        double norm = Trace(la, w, gram, m, d);                     // ‖X Wᵀ‖²
        double cur = Error(la, w, A, B, gram, m, d, r);             // ‖X(W − BA)ᵀ‖²
        var errors = new List<double> { Relative(cur, norm) };
        int rejected = 0;
        for (int t = 0; t < iterations; t++)
        {
            var ag = la.MatMul(A, gram, r, d, d);                   // [r, d] A·G
            var ztz = la.MatMul(ag, A, r, r, d, transB: true);      // [r, r] ZᵀZ
            var zty = la.MatMul(ag, w, r, m, d, transB: true);      // [r, m] ZᵀY
            var c = la.MatMul(la.PseudoInverse(ztz, r, r, PinvCutoff), zty, r, m, r);   // [r, m] = (ZᵀZ)⁺ ZᵀY
            var refitB = Dense.Transpose<double>(c, r, m);          // [m, r]
            double eB = Error(la, w, A, refitB, gram, m, d, r);
            if (eB <= cur) (B, cur) = (refitB, eB);
            else rejected++;
            var refitA = la.MatMul(la.PseudoInverse(B, m, r, PinvCutoff), w, r, d, m);  // [r, d] = B⁺ W
            double eA = Error(la, w, refitA, B, gram, m, d, r);
            if (eA <= cur) (A, cur) = (refitA, eA);
            else rejected++;
            errors.Add(Relative(cur, norm));
        }
        return new OvcResult(Dense.ToSingle(A), Dense.ToSingle(B), errors.ToArray(), rejected);
    }

    /// <summary>‖X(W − B·A)ᵀ‖²_F = tr(D·G·Dᵀ), D = W − B·A [m, d].</summary>
    public static double Error(ILinearAlgebra la, double[] w, double[] a, double[] b, double[] gram, int m, int d, int r)
    {
        var diff = la.MatMul(b, a, m, d, r);                        // [m, d] B·A
        for (int i = 0; i < diff.Length; i++) diff[i] = w[i] - diff[i];
        return Trace(la, diff, gram, m, d);
    }

    /// <summary>tr(M·G·Mᵀ) for M [m, d].</summary>
    static double Trace(ILinearAlgebra la, double[] mat, double[] gram, int m, int d)
    {
        var mg = la.MatMul(mat, gram, m, d, d);                     // [m, d]
        double s = 0;
        for (int i = 0; i < mg.Length; i++) s += mg[i] * mat[i];
        return s;
    }

    static double Relative(double err, double norm) => norm > 0 ? Math.Sqrt(Math.Max(err, 0) / norm) : 0;
}
