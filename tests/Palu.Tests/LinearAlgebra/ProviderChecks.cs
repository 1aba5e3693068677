using Palu.LinearAlgebra;
using static Palu.Tests.LinearAlgebra.LinalgTestSupport;

namespace Palu.Tests.LinearAlgebra;

/// <summary>Property checks run against each provider (see ManagedProviderTests / LapackProviderTests).</summary>
internal static class ProviderChecks
{
    public static void Gemm(ILinearAlgebra la, int n)
    {
        int m = n + 3, k = n + 5; // non-square, odd sizes exercise the tile edges
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            var a = Random(m, k, 1); var b = Random(k, n, 2); var c0 = Random(m, n, 3);
            var expected = NaiveMatMul(a, b, m, n, k, ta, tb);
            for (int i = 0; i < expected.Length; i++) expected[i] = 0.5 * expected[i] - 2.0 * c0[i];
            var c = (double[])c0.Clone();
            la.Gemm(ta, tb, m, n, k, 0.5, a, b, -2.0, c);
            Assert.True(MaxAbsDiff(c, expected) <= 1e-12 * k, $"double gemm ta={ta} tb={tb}: {MaxAbsDiff(c, expected)}");

            var af = Dense.ToSingle(a); var bf = Dense.ToSingle(b);
            var expectedF = NaiveMatMul(Dense.ToDouble(af), Dense.ToDouble(bf), m, n, k, ta, tb);
            var cf = new float[m * n];
            for (int i = 0; i < cf.Length; i++) cf[i] = float.NaN; // beta = 0 must overwrite NaN
            la.Gemm(ta, tb, m, n, k, 1f, af, bf, 0f, cf);
            Assert.True(MaxAbsDiff(Dense.ToDouble(cf), expectedF) <= 2e-6 * k, $"float gemm ta={ta} tb={tb}: {MaxAbsDiff(Dense.ToDouble(cf), expectedF)}");
        }
    }

    /// <summary>SPD matrix XᵀX + n·I [n, n].</summary>
    public static double[] Spd(int n, ulong seed)
    {
        var x = Random(2 * n, n, seed);
        var g = NaiveMatMul(x, x, n, n, 2 * n, true, false);
        for (int i = 0; i < n; i++) g[i * n + i] += n;
        return g;
    }

    public static double[] Cholesky(ILinearAlgebra la, int n)
    {
        var g = Spd(n, 10);
        var input = (double[])g.Clone();
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) input[i * n + j] = double.NaN; // upper triangle must be ignored
        Assert.True(la.TryCholesky(input, n));
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) Assert.Equal(0.0, input[i * n + j]);
        var llt = NaiveMatMul(input, input, n, n, n, false, true);
        Assert.True(RelFrobDiff(llt, g) < 1e-13, $"L·Lᵀ vs G: {RelFrobDiff(llt, g)}");

        var notPd = (double[])g.Clone();
        notPd[(n - 1) * n + n - 1] = -1;
        Assert.False(la.TryCholesky(notPd, n));
        return input;
    }

    public static void Triangular(ILinearAlgebra la, int n)
    {
        var l = Cholesky(la, n); // well-conditioned lower
        var u = Dense.Transpose<double>(l, n, n);
        int nrhs = 5;
        foreach (bool lower in new[] { true, false })
            foreach (bool trans in new[] { false, true })
                foreach (bool left in new[] { true, false })
                {
                    var t = lower ? l : u;
                    var b = left ? Random(n, nrhs, 20) : Random(nrhs, n, 20);
                    var x = (double[])b.Clone();
                    la.SolveTriangular(t, n, lower, trans, left, x, nrhs);
                    var back = left ? NaiveMatMul(t, x, n, nrhs, n, trans, false) : NaiveMatMul(x, t, nrhs, n, n, false, trans);
                    Assert.True(RelFrobDiff(back, b) < 1e-12, $"trsm lower={lower} trans={trans} left={left}: {RelFrobDiff(back, b)}");
                }

        var inv = (double[])l.Clone();
        la.InvertLowerTriangular(inv, n);
        var id = NaiveMatMul(l, inv, n, n, n, false, false);
        Assert.True(MaxAbsDiff(id, Dense.Identity(n)) < 1e-12, $"L·L⁻¹ vs I: {MaxAbsDiff(id, Dense.Identity(n))}");
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) Assert.Equal(0.0, inv[i * n + j]);
    }

    public static SymmetricEigenResult Eigen(ILinearAlgebra la, int n)
    {
        var a = Random(n, n, 30);
        for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) a[j * n + i] = a[i * n + j]; // symmetric, indefinite
        var e = la.SymmetricEigen(a, n);
        var v = e.Vectors!;
        for (int i = 1; i < n; i++) Assert.True(e.Values[i - 1] <= e.Values[i]);
        Assert.True(OrthonormalityError(v, n, n) < 1e-12, $"VᵀV − I: {OrthonormalityError(v, n, n)}");
        var av = NaiveMatMul(a, v, n, n, n, false, false);
        var vl = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) vl[i * n + j] = v[i * n + j] * e.Values[j];
        double scale = Math.Max(1, Math.Abs(e.Values[0]) + Math.Abs(e.Values[n - 1]));
        Assert.True(MaxAbsDiff(av, vl) < 1e-12 * scale, $"A·V − V·Λ: {MaxAbsDiff(av, vl)}");
        var valuesOnly = la.SymmetricEigen(a, n, computeVectors: false);
        Assert.Null(valuesOnly.Vectors);
        Assert.True(MaxAbsDiff(valuesOnly.Values, e.Values) < 1e-12 * scale);
        return e;
    }

    public static SvdResult<double> Svd(ILinearAlgebra la, int m, int n)
    {
        var a = Random(m, n, (ulong)(40 + m * 7 + n));
        var s = la.Svd(a, m, n);
        int k = Math.Min(m, n);
        Assert.Equal(k, s.Rank);
        Assert.Equal(m * k, s.U.Length);
        Assert.Equal(k * n, s.Vt.Length);
        for (int i = 1; i < k; i++) Assert.True(s.S[i - 1] >= s.S[i], "singular values must be descending");
        Assert.True(s.S[k - 1] >= 0);
        Assert.True(RelFrobDiff(Reconstruct(s), a) < 1e-10, $"U·Σ·Vᵀ vs A: {RelFrobDiff(Reconstruct(s), a)}");
        Assert.True(OrthonormalityError(s.U, m, k) < 1e-10, $"UᵀU − I: {OrthonormalityError(s.U, m, k)}");
        Assert.True(OrthonormalityError(Dense.Transpose<double>(s.Vt, k, n), n, k) < 1e-10, "VᵀV − I");
        return s;
    }

    public static SvdResult<float> SvdFloat(ILinearAlgebra la, int m, int n)
    {
        var a = RandomF(m, n, (ulong)(50 + m + n));
        var s = la.Svd(a, m, n);
        int k = Math.Min(m, n);
        var sd = ToDouble(s);
        Assert.True(RelFrobDiff(Reconstruct(sd), Dense.ToDouble(a)) < 2e-5, $"float U·Σ·Vᵀ vs A: {RelFrobDiff(Reconstruct(sd), Dense.ToDouble(a))}");
        Assert.True(OrthonormalityError(sd.U, m, k) < 2e-5);
        Assert.True(OrthonormalityError(Dense.Transpose<double>(sd.Vt, k, n), n, k) < 2e-5);
        for (int i = 1; i < k; i++) Assert.True(s.S[i - 1] >= s.S[i]);
        return s;
    }

    public static void Orthonormalize(ILinearAlgebra la, int n)
    {
        int m = n + 10;
        var a = Random(m, n, 60);
        var q = (double[])a.Clone();
        la.OrthonormalizeColumns(q, m, n);
        Assert.True(OrthonormalityError(q, m, n) < 1e-12);
        var proj = NaiveMatMul(q, NaiveMatMul(q, a, n, n, m, true, false), m, n, n, false, false); // Q·Qᵀ·A = A
        Assert.True(RelFrobDiff(proj, a) < 1e-12, $"QQᵀA vs A: {RelFrobDiff(proj, a)}");

        var qf = Dense.ToSingle(a);
        la.OrthonormalizeColumns(qf, m, n);
        Assert.True(OrthonormalityError(Dense.ToDouble(qf), m, n) < 1e-5);
    }

    /// <summary>QR least squares vs the normal equations (ZᵀZ)·C = ZᵀY solved by Cholesky.</summary>
    public static double[] LeastSquares(ILinearAlgebra la, int n)
    {
        int rows = 3 * n + 5, rhs = 4;
        var z = Random(rows, n, 70); var y = Random(rows, rhs, 71);
        var x = la.LeastSquares(z, rows, n, y, rhs);
        var ztz = la.MatMul(z, z, n, n, rows, transA: true);
        var zty = la.MatMul(z, y, n, rhs, rows, transA: true);
        var xNormal = la.SolveSpd(ztz, n, zty, rhs);
        Assert.True(RelFrobDiff(x, xNormal) < 1e-10, $"QR vs normal equations: {RelFrobDiff(x, xNormal)}");
        // Optimality: the residual is orthogonal to range(Z).
        var r = NaiveMatMul(z, x, rows, rhs, n, false, false);
        for (int i = 0; i < r.Length; i++) r[i] -= y[i];
        var ztr = NaiveMatMul(z, r, n, rhs, rows, true, false);
        Assert.True(MaxAbsDiff(ztr, new double[ztr.Length]) < 1e-10 * rows);
        return x;
    }

    public static void PseudoInverse(ILinearAlgebra la)
    {
        // Rank-deficient A [30, 20] of rank 12: the Penrose conditions.
        int m = 30, n = 20, r = 12;
        var a = NaiveMatMul(Random(m, r, 80), Random(r, n, 81), m, n, r, false, false);
        var p = la.PseudoInverse(a, m, n); // [n, m]
        var apa = NaiveMatMul(NaiveMatMul(a, p, m, m, n, false, false), a, m, n, m, false, false);
        Assert.True(RelFrobDiff(apa, a) < 1e-10, $"A·A⁺·A vs A: {RelFrobDiff(apa, a)}");
        var pap = NaiveMatMul(NaiveMatMul(p, a, n, n, m, false, false), p, n, m, n, false, false);
        Assert.True(RelFrobDiff(pap, p) < 1e-10, $"A⁺·A·A⁺ vs A⁺: {RelFrobDiff(pap, p)}");
        var ap = NaiveMatMul(a, p, m, m, n, false, false);
        Assert.True(MaxAbsDiff(ap, Dense.Transpose<double>(ap, m, m)) < 1e-10, "A·A⁺ symmetric");

        // Full column rank: A⁺ = (AᵀA)⁻¹·Aᵀ.
        var f = Random(m, n, 82);
        var pf = la.PseudoInverse(f, m, n);
        var expected = la.SolveSpd(la.MatMul(f, f, n, n, m, transA: true), n, Dense.Transpose<double>(f, m, n), m);
        Assert.True(RelFrobDiff(pf, expected) < 1e-10);
    }
}
