using Palu.Compression;
using Palu.LinearAlgebra;

namespace Palu.Tests.KvCompression;

/// <summary>HSR (CKA, greedy grouping), OVC (normal equations) and square-root whitening on random matrices.</summary>
public class ReCalKVMathTests
{
    static readonly ILinearAlgebra La = new ManagedLinearAlgebra();

    static double[] Random(Gaussian g, int n, double scale = 1) => Enumerable.Range(0, n).Select(_ => g.Next() * scale).ToArray();

    /// <summary>X [N, d] with correlated, unevenly scaled columns (like real activations), and its Gram.</summary>
    static (double[] X, double[] G) Activations(Gaussian g, int n, int d)
    {
        var z = Random(g, n * d);
        var mix = Random(g, d * d, 0.3);
        for (int i = 0; i < d; i++) mix[i * d + i] += 1 + 3.0 * i / d;
        var x = La.MatMul(z, mix, n, d, d);
        return (x, La.MatMul(x, x, d, d, n, transA: true));
    }

    [Fact]
    public void CkaIsOneOnTheDiagonalSymmetricAndInUnitRange()
    {
        var g = new Gaussian(5);
        int heads = 6, dh = 8, d = 40;
        var c = HeadReordering.CkaMatrix(La, Random(g, heads * dh * d), heads, dh, d);
        for (int i = 0; i < heads; i++)
        {
            Assert.Equal(1.0, c[i * heads + i], 12);
            for (int j = 0; j < heads; j++)
            {
                Assert.Equal(c[i * heads + j], c[j * heads + i], 12);
                Assert.InRange(c[i * heads + j], 0, 1 + 1e-12);
            }
        }
        // CKA of a head with a rotated, scaled copy of itself is 1 (linear CKA is invariant to both)
        var w = Random(g, 2 * dh * d);
        var q = Random(g, dh * dh);
        La.OrthonormalizeColumns(q, dh, dh);
        var rotated = La.MatMul(q, w.AsSpan(0, dh * d), dh, d, dh);
        for (int i = 0; i < rotated.Length; i++) w[dh * d + i] = 3 * rotated[i];
        Assert.Equal(1.0, HeadReordering.CkaMatrix(La, w, 2, dh, d)[1], 9);
    }

    /// <summary>Heads built as noisy copies of each other in pairs (a permutation of 8 heads): HSR pairs them up.</summary>
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void HsrFindsHeadsBuiltInSimilarPairs(int groupSize)
    {
        var g = new Gaussian(11);
        int heads = 8, dh = 8, d = 48;
        int[][] pairs = [[0, 5], [1, 3], [2, 7], [4, 6]];
        var w = new double[heads * dh * d];
        foreach (var p in pairs)
        {
            var basis = Random(g, dh * d);
            foreach (int h in p)
                for (int i = 0; i < dh * d; i++) w[h * dh * d + i] = basis[i] + 0.05 * g.Next();
        }
        var cka = HeadReordering.CkaMatrix(La, w, heads, dh, d);
        var groups = HeadReordering.GreedyGroups(cka, heads, groupSize);
        Assert.Equal(heads / groupSize, groups.Length);
        Assert.All(groups, grp => Assert.Equal(groupSize, grp.Length));
        Assert.Equal(Enumerable.Range(0, heads), groups.SelectMany(x => x).Order());
        foreach (var p in pairs)
            Assert.Contains(groups, grp => grp.Contains(p[0]) && grp.Contains(p[1]));
        // the permutation lays the groups out in order
        var perm = HeadReordering.Permutation(groups);
        Assert.Equal(Enumerable.Range(0, heads), groups.SelectMany(x => x).Select(h => perm[h]));
    }

    /// <summary>Any similarity matrix: every head in exactly one group, every group exactly s heads (the capacity rules).</summary>
    [Theory]
    [InlineData(8, 1)]
    [InlineData(8, 2)]
    [InlineData(12, 3)]
    [InlineData(12, 4)]
    [InlineData(6, 6)]
    public void GreedyGroupingRespectsCapacity(int heads, int s)
    {
        var g = new Gaussian((ulong)(heads * 31 + s));
        for (int trial = 0; trial < 20; trial++)
        {
            var c = new double[heads * heads];
            for (int i = 0; i < heads; i++)
                for (int j = i + 1; j < heads; j++) c[i * heads + j] = c[j * heads + i] = Math.Round(Math.Abs(g.Next()), trial % 2);   // ties too
            var groups = HeadReordering.GreedyGroups(c, heads, s);
            Assert.All(groups, grp => Assert.Equal(s, grp.Length));
            Assert.Equal(Enumerable.Range(0, heads), groups.SelectMany(x => x).Order());
        }
    }

    /// <summary>
    /// OVC on calibration data other than the whitening data: the error it minimises (computed from the Gram) equals
    /// ‖X(W − BA)ᵀ‖ computed from X itself, and never rises, iteration after iteration.
    /// </summary>
    [Fact]
    public void OvcNeverIncreasesTheCalibrationErrorItMinimises()
    {
        var g = new Gaussian(21);
        int m = 24, d = 32, r = 10, n = 300;
        var w = Random(g, m * d);
        var (_, whiteGram) = Activations(g, n, d);
        var (x, gram) = Activations(new Gaussian(99), n, d);                 // other data: OVC has something to fit
        var f = LowRankDecomposer.Decompose(La, w, m, d, Whitening.Of(La, whiteGram, d, WhiteningKind.Sqrt, 1e-3), r);
        var res = ValueCalibration.Refit(La, w, f.A, f.B, gram, m, d, r, iterations: 4);
        for (int t = 1; t < res.Errors.Length; t++) Assert.True(res.Errors[t] <= res.Errors[t - 1] * (1 + 1e-12), $"iteration {t}: {res.Errors[t]} > {res.Errors[t - 1]}");
        Assert.True(res.After < res.Before * 0.999, $"OVC should fit the new data: {res.Before} → {res.After}");

        double Direct(float[] a, float[] b)   // ‖X(W − BA)ᵀ‖ / ‖X Wᵀ‖ from X [n, d]
        {
            var ba = La.MatMul(Dense.ToDouble(b), Dense.ToDouble(a), m, d, r);
            var diff = w.Select((v, i) => v - ba[i]).ToArray();
            var e = La.MatMul(x, diff, n, m, d, transB: true);
            var y = La.MatMul(x, w, n, m, d, transB: true);
            return Math.Sqrt(e.Sum(v => v * v) / y.Sum(v => v * v));
        }
        Assert.Equal(Direct(f.A, f.B), res.Before, 9);
        Assert.Equal(Direct(res.A, res.B), res.After, 9);
    }

    /// <summary>On the whitening data itself, whitened SVD is already optimal: OVC is a fixed point.</summary>
    [Fact]
    public void OvcOnTheWhiteningDataChangesNothing()
    {
        var g = new Gaussian(23);
        int m = 16, d = 24, r = 6;
        var w = Random(g, m * d);
        var (_, gram) = Activations(g, 200, d);
        var f = LowRankDecomposer.Decompose(La, w, m, d, Whitening.Of(La, gram, d, WhiteningKind.Cholesky, 1e-3), r);
        var res = ValueCalibration.Refit(La, w, f.A, f.B, gram, m, d, r, iterations: 1);
        Assert.Equal(res.Before, res.After, 6);
    }

    /// <summary>Cholesky and square-root whitening are both optimal for ‖(W − BA)·S‖: same truncation error; at full rank both rebuild W.</summary>
    [Fact]
    public void SquareRootAndCholeskyWhiteningGiveTheSameOptimum()
    {
        var g = new Gaussian(29);
        int m = 16, d = 20;
        var w = Random(g, m * d);
        var (_, gram) = Activations(g, 100, d);
        foreach (int r in new[] { 5, 16 })
        {
            var e = new[] { WhiteningKind.Cholesky, WhiteningKind.Sqrt }.Select(k =>
            {
                var f = LowRankDecomposer.Decompose(La, w, m, d, Whitening.Of(La, gram, d, k, 1e-3), r);
                return ValueCalibration.Error(La, w, Dense.ToDouble(f.A), Dense.ToDouble(f.B), gram, m, d, r);
            }).ToArray();
            double scale = ValueCalibration.Error(La, w, new double[r * d], new double[m * r], gram, m, d, r);
            Assert.True(Math.Abs(e[0] - e[1]) <= 1e-5 * scale, $"rank {r}: {e[0]} vs {e[1]}");
            if (r == m) Assert.True(e[1] <= 1e-9 * scale, $"full rank error {e[1]}");
        }
    }
}
