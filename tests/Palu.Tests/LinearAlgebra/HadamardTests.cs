using Palu.LinearAlgebra;
using static Palu.Tests.LinearAlgebra.LinalgTestSupport;

namespace Palu.Tests.LinearAlgebra;

[Collection(LinalgTestSupport.Collection)]
public class HadamardTests
{
    [Theory]
    [InlineData(1), InlineData(2), InlineData(4), InlineData(8), InlineData(64), InlineData(256)]
    [InlineData(12), InlineData(24), InlineData(48), InlineData(96), InlineData(384)]
    [InlineData(20), InlineData(40), InlineData(160), InlineData(28), InlineData(56), InlineData(224)]
    [InlineData(36), InlineData(44), InlineData(60), InlineData(76), InlineData(104), InlineData(416), InlineData(800)]
    public void SignMatrixIsHadamard(int r)
    {
        Assert.True(Hadamard.IsSupported(r));
        var h = Hadamard.SignMatrix(r);
        Assert.All(h, x => Assert.True(x == 1 || x == -1));
        var hd = h.Select(x => (double)x).ToArray();
        var hht = LinearAlgebraProvider.Managed.MatMul(hd, hd, r, r, r, transB: true); // integer sums: exact in double
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
                Assert.Equal(i == j ? r : 0, hht[i * r + j]); // H·Hᵀ = r·I exactly
    }

    [Fact]
    public void RequiredOrdersAreSupported()
    {
        foreach (int k in new[] { 1, 12, 20, 28 })
            for (int p = 0; p <= 7; p++)
                Assert.True(Hadamard.IsSupported(k << p), $"{k}·2^{p}");
        Assert.Equal("Paley I (q = 11) ⊗ Sylvester 8", Hadamard.Describe(96));
        Assert.Equal("Paley II (q = 13) ⊗ Sylvester 4", Hadamard.Describe(112));
        Assert.Equal("Sylvester 128", Hadamard.Describe(128));
        Assert.Null(Hadamard.Describe(52));
    }

    [Theory, InlineData(16), InlineData(96), InlineData(52), InlineData(25), InlineData(92)]
    public void MatrixIsOrthogonalIncludingFallback(int r)
    {
        var m = Hadamard.Matrix(r);
        Assert.True(OrthonormalityError(m, r, r) < 1e-12);
        Assert.Equal(m, Hadamard.Matrix(r)); // deterministic
        if (!Hadamard.IsSupported(r)) Assert.NotEqual(m, Hadamard.Matrix(r, fallbackSeed: 7));
        else Assert.All(m, x => Assert.Equal(1 / Math.Sqrt(r), Math.Abs(x), 14));
    }

    [Theory, InlineData(1), InlineData(2), InlineData(16), InlineData(64), InlineData(1024)]
    public void FastTransformMatchesExplicitMatrix(int n)
    {
        var x = Random(1, n, 11);
        var expected = NaiveMatMul(Hadamard.Matrix(n), x, n, 1, n, false, false);
        var y = (double[])x.Clone();
        Hadamard.Transform(y);
        Assert.True(MaxAbsDiff(y, expected) < 1e-12);

        var rows = Dense.ToSingle(Random(3, n, 12)); // [3, n]
        var rowsExpected = NaiveMatMul(Dense.ToDouble(rows), Hadamard.Matrix(n), 3, n, n, false, true);
        Hadamard.TransformRows(rows, n);
        Assert.True(MaxAbsDiff(Dense.ToDouble(rows), rowsExpected) < 1e-5);

        Hadamard.Transform(y); // orthonormal and symmetric: an involution
        Assert.True(MaxAbsDiff(y, x) < 1e-12);
    }

    [Fact]
    public void TransformRejectsNonPowerOfTwo()
        => Assert.Throws<ArgumentException>(() => Hadamard.Transform(new float[12]));
}
