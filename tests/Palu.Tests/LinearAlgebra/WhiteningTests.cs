using Palu.LinearAlgebra;
using static Palu.Tests.LinearAlgebra.LinalgTestSupport;

namespace Palu.Tests.LinearAlgebra;

/// <summary>Whitening factor (§1.3) and the whitened truncated SVD (§1.4), on every available provider.</summary>
[Collection(LinalgTestSupport.Collection)]
public class WhiteningTests
{
    /// <summary>"managed", plus "lapack" when it is available (LAPACK rows are absent rather than skipped).</summary>
    public static string[] AvailableProviders()
        => LinalgTestSupport.LapackSkipReason() is null ? ["managed", "lapack"] : ["managed"];

    public static TheoryData<string> Providers() => new(AvailableProviders());

    public static TheoryData<string, bool> ProvidersAndFactors()
    {
        var d = new TheoryData<string, bool>();
        foreach (var p in AvailableProviders()) { d.Add(p, true); d.Add(p, false); }
        return d;
    }

    /// <summary>Activations X [N, d] with anisotropic, correlated columns (column j scaled by 10^(−2j/d)).</summary>
    static double[] Activations(int tokens, int d, ulong seed)
    {
        var x = Random(tokens, d, seed);
        var mix = Random(d, d, seed + 1);
        for (int i = 0; i < d; i++) mix[i * d + i] += 3;
        var y = NaiveMatMul(x, mix, tokens, d, d, false, false);
        for (int t = 0; t < tokens; t++) for (int j = 0; j < d; j++) y[t * d + j] *= Math.Pow(10, -2.0 * j / d);
        return y;
    }

    [Theory, MemberData(nameof(Providers))]
    public void PositiveDefiniteGramNeedsNoJitter(string provider)
    {
        var la = Get(provider);
        int d = 48;
        var x = Activations(200, d, 1);
        var g = NaiveMatMul(x, x, d, d, 200, true, false);
        var f = la.WhiteningFactor(g, d, Factorizations.SvdLlmEpsilon);
        Assert.False(f.UsedJitter);
        Assert.Equal(1, f.Attempts);
        Assert.True(f.IsLowerTriangular);
        Assert.True(RelFrobDiff(NaiveMatMul(f.S, f.S, d, d, d, false, true), g) < 1e-13);
    }

    [Theory, MemberData(nameof(Providers))]
    public void SingularGramFallsBackToEigenvalueShift(string provider)
    {
        var la = Get(provider);
        int tokens = 40, d = 64; // fewer tokens than features: XᵀX has rank ≤ 40
        var x = Random(tokens, d, 2);
        for (int t = 0; t < tokens; t++) x[t * d + 5] = 0; // a dead channel makes plain Cholesky fail deterministically
        var g = NaiveMatMul(x, x, d, d, tokens, true, false);
        foreach (double eps in new[] { Factorizations.PaluEpsilon, Factorizations.SvdLlmEpsilon })
        {
            Assert.False(la.TryCholesky((double[])g.Clone(), d));
            var f = la.WhiteningFactor(g, d, eps);
            Assert.True(f.UsedJitter);
            Assert.Equal(2, f.Attempts);
            Assert.True(Math.Abs(f.MinEigenvalue) < 1e-12 * 200, $"λ_min of a singular PSD Gram should be ≈ 0, got {f.MinEigenvalue}");
            Assert.Equal(-f.MinEigenvalue + eps, f.Jitter, 15);
            var shifted = (double[])g.Clone();
            for (int i = 0; i < d; i++) shifted[i * d + i] += f.Jitter;
            Assert.True(RelFrobDiff(NaiveMatMul(f.S, f.S, d, d, d, false, true), shifted) < 1e-12);
            for (int i = 0; i < d; i++) for (int j = i + 1; j < d; j++) Assert.Equal(0.0, f.S[i * d + j]);
        }
    }

    [Theory, MemberData(nameof(Providers))]
    public void FailureAfterShiftThrowsClearException(string provider)
    {
        var la = Get(provider);
        var g = new double[] { 1, 2, 2, 1 }; // eigenvalues −1, 3; a negative ε leaves G + (1 + ε)·I indefinite
        var e = Assert.Throws<LinearAlgebraException>(() => la.WhiteningFactor(g, 2, -0.5));
        Assert.Contains("not positive definite even after adding", e.Message);
        Assert.Contains("λ_min", e.Message);

        var bad = new double[] { 1, double.NaN, double.NaN, 1 };
        Assert.Contains("non-finite", Assert.Throws<LinearAlgebraException>(() => la.WhiteningFactor(bad, 2, 1e-3)).Message);
    }

    [Theory, MemberData(nameof(Providers))]
    public void SymmetricSqrtFactorReproducesGram(string provider)
    {
        var la = Get(provider);
        int d = 40;
        var x = Activations(150, d, 3);
        var g = NaiveMatMul(x, x, d, d, 150, true, false);
        var f = la.SymmetricSqrtFactor(g, d);
        Assert.False(f.IsLowerTriangular);
        Assert.True(RelFrobDiff(NaiveMatMul(f.S, f.S, d, d, d, false, true), g) < 1e-12);
        var inv = la.InverseFactor(f);
        Assert.True(MaxAbsDiff(NaiveMatMul(f.S, inv, d, d, d, false, false), Dense.Identity(d)) < 1e-9);
    }

    /// <summary>
    /// SVD-LLM's truncation-aware property: with S·Sᵀ = XᵀX, W·S = U·Σ·Vᵀ, A = Σ_r^½·V_rᵀ·S⁻¹, B = U_r·Σ_r^½,
    /// the output error ‖(W − B·A)·Xᵀ‖_F equals sqrt(Σ_{i>r} σ_i²(W·S)).
    /// </summary>
    [Theory, MemberData(nameof(ProvidersAndFactors))]
    public void WhitenedTruncatedSvdErrorEqualsTailSingularValues(string provider, bool cholesky)
    {
        var la = Get(provider);
        int m = 48, d = 64, tokens = 256;
        var w = Random(m, d, 4);
        var x = Activations(tokens, d, 5);
        var g = la.MatMul(x, x, d, d, tokens, transA: true);
        var factor = cholesky ? la.WhiteningFactor(g, d, Factorizations.SvdLlmEpsilon) : la.SymmetricSqrtFactor(g, d, 0);
        Assert.False(factor.UsedJitter);
        var sInv = la.InverseFactor(factor);

        var ws = la.MatMul(w, factor.S, m, d, d); // [m, d]
        var svd = la.Svd(ws, m, d);
        foreach (int r in new[] { 1, 10, 24, 47 })
        {
            var t = svd.Truncate(r);
            var vtScaled = new double[r * d]; // Σ_r^½·V_rᵀ [r, d]
            var b = new double[m * r];        // U_r·Σ_r^½ [m, r]
            for (int i = 0; i < r; i++)
            {
                double root = Math.Sqrt(t.S[i]);
                for (int j = 0; j < d; j++) vtScaled[i * d + j] = t.Vt[i * d + j] * root;
                for (int row = 0; row < m; row++) b[row * r + i] = t.U[row * r + i] * root;
            }
            var a = la.MatMul(vtScaled, sInv, r, d, d); // [r, d]
            var diff = la.MatMul(b, a, m, d, r);
            for (int i = 0; i < diff.Length; i++) diff[i] = w[i] - diff[i];
            double outputError = Dense.FrobeniusNorm<double>(la.MatMul(diff, x, m, tokens, d, transB: true));
            double tail = Math.Sqrt(svd.S.Skip(r).Sum(s => s * s));
            Assert.True(Math.Abs(outputError - tail) <= 1e-8 * tail, $"r={r}: ‖(W−BA)Xᵀ‖ = {outputError}, tail = {tail}");
        }
    }
}
