using Palu.LinearAlgebra;
using static Palu.Tests.LinearAlgebra.LinalgTestSupport;

namespace Palu.Tests.LinearAlgebra;

/// <summary>The managed provider always runs; it is the oracle.</summary>
[Collection(LinalgTestSupport.Collection)]
public class ManagedProviderTests
{
    static ILinearAlgebra La => LinearAlgebraProvider.Managed;

    [Theory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void Gemm(int n) => ProviderChecks.Gemm(La, n);

    [Theory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void Cholesky(int n) => ProviderChecks.Cholesky(La, n);

    [Theory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void TriangularSolveAndInverse(int n) => ProviderChecks.Triangular(La, n);

    [Theory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void SymmetricEigen(int n) => ProviderChecks.Eigen(La, n);

    [Theory, InlineData(1, 1), InlineData(7, 7), InlineData(64, 64), InlineData(300, 300), InlineData(14, 1), InlineData(1, 14),
     InlineData(80, 64), InlineData(64, 80), InlineData(300, 120), InlineData(120, 300)]
    public void Svd(int m, int n) => ProviderChecks.Svd(La, m, n);

    [Theory, InlineData(7, 7), InlineData(300, 300), InlineData(300, 64), InlineData(64, 300)]
    public void SvdFloat(int m, int n) => ProviderChecks.SvdFloat(La, m, n);

    [Theory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void OrthonormalizeColumns(int n) => ProviderChecks.Orthonormalize(La, n);

    [Theory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void LeastSquaresMatchesNormalEquations(int n) => ProviderChecks.LeastSquares(La, n);

    [Fact]
    public void PseudoInverse() => ProviderChecks.PseudoInverse(La);

    [Fact]
    public void ManagedGemmIsExactOnSmallIntegers()
    {
        // Integer inputs make every product exact: catches packing/tiling bugs independent of tolerances.
        foreach (var (m, n, k) in new[] { (1, 1, 1), (6, 32, 256), (13, 45, 300), (150, 70, 520), (7, 4100, 3) })
        {
            var a = new double[m * k]; var b = new double[k * n];
            for (int i = 0; i < a.Length; i++) a[i] = (i * 7 % 11) - 5;
            for (int i = 0; i < b.Length; i++) b[i] = (i * 5 % 13) - 6;
            var c = La.MatMul(a, b, m, n, k);
            Assert.Equal(NaiveMatMul(a, b, m, n, k, false, false), c);
            var cf = La.MatMul(Dense.ToSingle(a), Dense.ToSingle(b), m, n, k);
            Assert.Equal(NaiveMatMul(a, b, m, n, k, false, false), Dense.ToDouble(cf));
        }
    }
}

/// <summary>The same checks on LAPACK; skipped when LAPACKE is not installed (or PALU_LINALG=managed).</summary>
[Collection(LinalgTestSupport.Collection)]
public class LapackProviderTests
{
    static ILinearAlgebra La => LinearAlgebraProvider.Lapack;

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void Gemm(int n) => ProviderChecks.Gemm(La, n);

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void Cholesky(int n) => ProviderChecks.Cholesky(La, n);

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void TriangularSolveAndInverse(int n) => ProviderChecks.Triangular(La, n);

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void SymmetricEigen(int n) => ProviderChecks.Eigen(La, n);

    [LapackTheory, InlineData(1, 1), InlineData(7, 7), InlineData(64, 64), InlineData(300, 300), InlineData(14, 1), InlineData(1, 14),
     InlineData(80, 64), InlineData(64, 80), InlineData(300, 120), InlineData(120, 300)]
    public void Svd(int m, int n) => ProviderChecks.Svd(La, m, n);

    [LapackTheory, InlineData(7, 7), InlineData(300, 300), InlineData(300, 64), InlineData(64, 300)]
    public void SvdFloat(int m, int n) => ProviderChecks.SvdFloat(La, m, n);

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void OrthonormalizeColumns(int n) => ProviderChecks.Orthonormalize(La, n);

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void LeastSquaresMatchesNormalEquations(int n) => ProviderChecks.LeastSquares(La, n);

    [LapackFact]
    public void PseudoInverse() => ProviderChecks.PseudoInverse(La);
}

/// <summary>LAPACK and managed results agree (values that are unique: factors, singular values, eigenvalues, solutions).</summary>
[Collection(LinalgTestSupport.Collection)]
public class ProviderAgreementTests
{
    static ILinearAlgebra Managed => LinearAlgebraProvider.Managed;
    static ILinearAlgebra Lapack => LinearAlgebraProvider.Lapack;

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void CholeskyFactorsAgree(int n)
    {
        var l1 = ProviderChecks.Cholesky(Managed, n);
        var l2 = ProviderChecks.Cholesky(Lapack, n);
        Assert.True(RelFrobDiff(l1, l2) < 1e-12, $"{RelFrobDiff(l1, l2)}");
    }

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void EigenvaluesAgree(int n)
    {
        var e1 = ProviderChecks.Eigen(Managed, n);
        var e2 = ProviderChecks.Eigen(Lapack, n);
        Assert.True(MaxAbsDiff(e1.Values, e2.Values) < 1e-11 * Math.Max(1, Math.Abs(e2.Values[0]) + Math.Abs(e2.Values[n - 1])));
    }

    [LapackTheory, InlineData(1, 1), InlineData(7, 7), InlineData(64, 64), InlineData(300, 300), InlineData(300, 120), InlineData(120, 300)]
    public void SingularValuesAgree(int m, int n)
    {
        var s1 = ProviderChecks.Svd(Managed, m, n);
        var s2 = ProviderChecks.Svd(Lapack, m, n);
        Assert.True(MaxAbsDiff(s1.S, s2.S) < 1e-10 * s2.S[0], $"double σ: {MaxAbsDiff(s1.S, s2.S)}");
        var f1 = ProviderChecks.SvdFloat(Managed, m, n);
        var f2 = ProviderChecks.SvdFloat(Lapack, m, n);
        Assert.True(MaxAbsDiff(Dense.ToDouble(f1.S), Dense.ToDouble(f2.S)) < 1e-5 * f2.S[0], "float σ");
    }

    [LapackTheory, InlineData(1), InlineData(7), InlineData(64), InlineData(300)]
    public void LeastSquaresAgree(int n)
    {
        var x1 = ProviderChecks.LeastSquares(Managed, n);
        var x2 = ProviderChecks.LeastSquares(Lapack, n);
        Assert.True(RelFrobDiff(x1, x2) < 1e-11);
    }

    [LapackFact]
    public void GemmAgrees()
    {
        int m = 300, n = 257, k = 511;
        var a = RandomF(m, k, 90); var b = RandomF(n, k, 91);
        var c1 = Managed.MatMul(a, b, m, n, k, transB: true);
        var c2 = Lapack.MatMul(a, b, m, n, k, transB: true);
        Assert.True(RelFrobDiff(Dense.ToDouble(c1), Dense.ToDouble(c2)) < 1e-6);
    }
}

[Collection(LinalgTestSupport.Collection)]
public class ProviderSelectionTests
{
    [Fact]
    public void CreateHonoursChoice()
    {
        Assert.Same(LinearAlgebraProvider.Managed, LinearAlgebraProvider.Create("managed"));
        Assert.Same(LinearAlgebraProvider.Managed, LinearAlgebraProvider.Create(" Managed "));
        Assert.Throws<ArgumentException>(() => LinearAlgebraProvider.Create("mkl"));
        var auto = LinearAlgebraProvider.Create(null);
        Assert.Equal(LinearAlgebraProvider.IsLapackAvailable, auto.IsNative);
        if (LinearAlgebraProvider.IsLapackAvailable)
            Assert.IsType<LapackLinearAlgebra>(LinearAlgebraProvider.Create("lapack"));
        else
        {
            var e = Assert.Throws<DllNotFoundException>(() => LinearAlgebraProvider.Create("lapack"));
            Assert.Contains("libopenblas0-pthread liblapacke", e.Message);
        }
    }
}
