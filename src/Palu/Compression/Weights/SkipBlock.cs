using Palu.LinearAlgebra;

namespace Palu.Compression.Weights;

/// <summary>B' [m, r], A' [r, n − r] and the channels J (identity block) and J̄ (read by A'), plus cond(A_J).</summary>
public sealed record SkipFactors(double[] B, double[] A, int[] Identity, int[] Rest, double Condition);

/// <summary>
/// SkipCat's block skipping (ALGORITHMS-SKIPCAT-FLRC.md §1.4): W ≈ B·A with A [r, n] is re-parameterised exactly as
/// B'·(x_J + A'·x_J̄) with B' = B·A_J and A' = A_J⁻¹·A_J̄, so the r×r block A_J becomes the identity and is neither
/// stored nor multiplied. J is chosen by column-pivoted QR of A (A·P = Q·R): the first r pivots, for which A_J = Q·R₁₁
/// is as well conditioned as a greedy choice gets, and A' = R₁₁⁻¹·R₁₂ by back substitution. That pivoting is the
/// conditioning safeguard; when even the pivoted block is too ill-conditioned for float storage the caller is told.
/// </summary>
public static class SkipBlock
{
    /// <param name="a">A [r, n], r ≤ n.</param>
    /// <param name="b">B [m, r].</param>
    public static SkipFactors Apply(ILinearAlgebra la, double[] a, double[] b, int m, int r, int n)
    {
        if (r > n) throw new ArgumentException($"an identity block needs rank {r} ≤ inputs {n}");
        var qr = PivotedQr.Factor(a, r, n);                 // A·P = Q·R, R [r, n]
        int rest = n - r;
        var r11 = new double[(long)r * r];                  // [r, r] upper triangular
        var aPrime = new double[(long)r * rest];            // [r, n − r] = R₁₂, then R₁₁⁻¹·R₁₂
        for (int i = 0; i < r; i++)
        {
            qr.R.AsSpan(i * n, r).CopyTo(r11.AsSpan(i * r, r));
            qr.R.AsSpan(i * n + r, rest).CopyTo(aPrime.AsSpan(i * rest, rest));
        }
        for (int i = 0; i < r; i++)
            if (r11[(long)i * r + i] == 0) return new SkipFactors(b, a, [], [], double.PositiveInfinity);
        if (rest > 0) la.SolveTriangular(r11, r, lower: false, transpose: false, left: true, aPrime, rest);
        var J = qr.Pivots[..r];
        var aJ = new double[(long)r * r];                   // [r, r] = A[:, J]
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++) aJ[(long)i * r + j] = a[(long)i * n + J[j]];
        var bPrime = new double[(long)m * r];               // [m, r] = B·A_J
        la.Gemm(false, false, m, r, r, 1.0, b, aJ, 0.0, bPrime);
        var sv = la.Svd(aJ, r, r).S;
        double cond = sv[^1] > 0 ? sv[0] / sv[^1] : double.PositiveInfinity;
        return new SkipFactors(bPrime, aPrime, J, qr.Pivots[r..], cond);
    }
}
