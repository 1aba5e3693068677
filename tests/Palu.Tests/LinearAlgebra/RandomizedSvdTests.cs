using Palu.LinearAlgebra;
using static Palu.Tests.LinearAlgebra.LinalgTestSupport;

namespace Palu.Tests.LinearAlgebra;

[Collection(LinalgTestSupport.Collection)]
public class RandomizedSvdTests
{
    public static TheoryData<string> Providers() => WhiteningTests.Providers();

    [Theory, MemberData(nameof(Providers))]
    public void FastDecayIsRecoveredAccurately(string provider)
    {
        var la = Get(provider);
        int m = 300, n = 200, r = 20;
        var a = WithSpectrum(m, n, i => Math.Pow(0.7, i), 1); // σ_r/σ_1 ≈ 8e-4
        var s = la.RandomizedSvd(a, m, n, r);
        Assert.Equal(r, s.Rank);
        Assert.True(OrthonormalityError(s.U, m, r) < 1e-10);
        // V's columns come through a division by σ (σ_r/σ_1 ≈ 8e-4 here), which scales U's rounding by up to 1e3: 1.4e-10
        // on a machine without AVX-512, where the managed kernels take 256-bit vectors
        double ev = OrthonormalityError(Dense.Transpose<double>(s.Vt, r, n), n, r);
        Assert.True(ev < 1e-9, $"Vᵀ orthonormality error {ev:E2}");
        for (int i = 0; i < r; i++)
            Assert.True(Math.Abs(s.S[i] - Math.Pow(0.7, i)) < 1e-8 * Math.Pow(0.7, i), $"σ_{i}: {s.S[i]} vs {Math.Pow(0.7, i)}");
    }

    [Theory, MemberData(nameof(Providers))]
    public void SlowDecayResidualIsNearOptimal(string provider)
    {
        var la = Get(provider);
        int m = 300, n = 256, r = 64;
        Func<int, double> sigma = i => 1 / Math.Sqrt(1 + i); // LLM-like slow decay
        var a = WithSpectrum(m, n, sigma, 2);
        double optimal = Math.Sqrt(Enumerable.Range(r, n - r).Sum(i => sigma(i) * sigma(i)));
        var s = la.RandomizedSvd(a, m, n, r, new RandomizedSvdOptions { PowerIterations = 2 });
        double residual = RelFrobDiff(Reconstruct(s), a) * Dense.FrobeniusNorm<double>(a);
        Assert.True(residual <= 1.02 * optimal, $"residual {residual} vs optimal {optimal}");
        Assert.True(residual >= optimal * (1 - 1e-12));
        Assert.True(Math.Abs(s.S[0] - 1) < 1e-3);

        var f = la.RandomizedSvd(Dense.ToSingle(a), m, n, r); // float path
        double residualF = RelFrobDiff(Reconstruct(ToDouble(f)), a) * Dense.FrobeniusNorm<double>(a);
        Assert.True(residualF <= 1.02 * optimal, $"float residual {residualF} vs optimal {optimal}");
    }

    [Fact]
    public void SameSeedSameResult()
    {
        var a = Random(60, 50, 3);
        var s1 = LinearAlgebraProvider.Managed.RandomizedSvd(a, 60, 50, 5);
        var s2 = LinearAlgebraProvider.Managed.RandomizedSvd(a, 60, 50, 5);
        Assert.Equal(s1.S, s2.S);
    }
}
