using System.Runtime.Intrinsics;
using Palu.Kernels.Cpu;

namespace Palu.Tests.Kernels;

/// <summary>RmsNorm, Softmax, SwiGlu, AddBias and Rope: SimdKernels against ReferenceKernels, plus properties.</summary>
public class ElementwiseKernelTests
{
    const double Tolerance = 1e-5;

    // Row lengths around the vector widths (16 lanes); 17 rows of 16,500 (280,500 elements) split over threads.
    public static readonly int[] Lengths = [1, 3, 8, 15, 16, 17, 64, 100, 192, 1000, 4096, 4097, 16_500];

    public static TheoryData<int, int> RowShapes()
    {
        var data = new TheoryData<int, int>();
        foreach (int n in Lengths)
            foreach (int T in new[] { 1, 3, 17 })
                data.Add(T, n);
        return data;
    }

    [Theory]
    [MemberData(nameof(RowShapes))]
    public void RmsNormMatchesReference(int T, int n)
    {
        var x = KernelTestData.Uniform(n + T, T * n, 3f);      // [T, n]
        var w = KernelTestData.Uniform(n + T + 1, n);          // [n]
        var expected = new float[T * n];                        // [T, n]
        var actual = new float[T * n];                          // [T, n]
        ReferenceKernels.RmsNorm(x, w, expected, T, 1e-5f);
        SimdKernels.RmsNorm(x, w, actual, T, 1e-5f);
        KernelTestData.AssertClose(expected, actual, Tolerance, $"RmsNorm T={T} n={n}");

        var inPlace = (float[])x.Clone();                       // [T, n], x and y alias
        SimdKernels.RmsNorm(inPlace, w, inPlace, T, 1e-5f);
        KernelTestData.AssertClose(expected, inPlace, Tolerance, $"RmsNorm in place T={T} n={n}");
    }

    [Theory]
    [MemberData(nameof(RowShapes))]
    public void AddBiasMatchesReference(int T, int m)
    {
        var y = KernelTestData.Uniform(m * 7 + T, T * m);      // [T, m]
        var bias = KernelTestData.Uniform(m * 7 + T + 1, m);   // [m]
        var expected = (float[])y.Clone();
        ReferenceKernels.AddBias(expected, bias, T);
        SimdKernels.AddBias(y, bias, T);
        KernelTestData.AssertClose(expected, y, Tolerance, $"AddBias T={T} m={m}");
    }

    [Theory]
    [MemberData(nameof(RowShapes))]
    public void SwiGluMatchesReference(int T, int f)
    {
        var gate = KernelTestData.Uniform(f * 3 + T, T * f, 8f);   // [T, f]
        var up = KernelTestData.Uniform(f * 3 + T + 1, T * f);     // [T, f]
        var expected = (float[])gate.Clone();
        ReferenceKernels.SwiGlu(expected, up);
        SimdKernels.SwiGlu(gate, up);
        KernelTestData.AssertClose(expected, gate, Tolerance, $"SwiGlu T={T} f={f}");
    }

    [Fact]
    public void SwiGluSaturatesLikeTheReference()
    {
        float[] g = [-100f, 100f, -1000f, 1000f, -88f, 88f, -89f, 89f, 0f, -0f, 1e-30f, -20f, 20f, 0.5f, -0.5f, 3f, -3f];
        var up = Enumerable.Range(0, g.Length).Select(i => 1.5f + i).ToArray();
        var expected = (float[])g.Clone();
        var actual = (float[])g.Clone();
        ReferenceKernels.SwiGlu(expected, up);
        SimdKernels.SwiGlu(actual, up);
        Assert.Equal(0f, actual[0]);                 // silu(−100) = 0
        Assert.Equal(100f * up[1], actual[1]);       // silu(100) = 100
        Assert.Equal(0f, actual[2]);
        Assert.Equal(1000f * up[3], actual[3]);
        for (int i = 0; i < g.Length; i++)
        {
            Assert.False(float.IsNaN(actual[i]), $"g = {g[i]} gave NaN");
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected[i])), $"g = {g[i]}: {actual[i]} vs {expected[i]}");
        }
    }

    [Theory]
    [InlineData(1, 1f)]
    [InlineData(7, 1f)]
    [InlineData(16, 1f)]
    [InlineData(33, 5f)]
    [InlineData(1000, 10f)]
    [InlineData(4097, 100f)]     // large logits: needs the max subtraction
    public void SoftmaxMatchesReferenceAndSumsToOne(int n, float scale)
    {
        var x = KernelTestData.Uniform(n, n, scale);
        var expected = (float[])x.Clone();
        ReferenceKernels.Softmax(expected);
        SimdKernels.Softmax(x);
        KernelTestData.AssertClose(expected, x, Tolerance, $"Softmax n={n}");
        Assert.InRange(x.Sum(v => (double)v), 1 - 1e-5, 1 + 1e-5);
        Assert.All(x, v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void VectorExpIsWithinFewUlpOfMathF()
    {
        var x = new float[16];
        double worst = 0;
        for (int k = 0; k < 200_000; k += 16)
        {
            for (int l = 0; l < 16; l++) x[l] = -86.5f + (k + l) * (175.2f / 200_000);
            var e = SimdMath.Exp(Vector512.Create(x));
            for (int l = 0; l < 16; l++) worst = Math.Max(worst, Math.Abs(e[l] - (double)MathF.Exp(x[l])) / MathF.Exp(x[l]));
        }
        Assert.True(worst < 5e-7, $"relative error {worst:E2}");
        float[] special = [0f, -0f, 1f, float.PositiveInfinity, float.NegativeInfinity, 89f, 1000f, -100f, -1000f, float.NaN, 88.7f, -86f, 1e-8f, -1e-8f, 0.5f, 2f];
        var s = SimdMath.Exp(Vector512.Create(special));
        Assert.Equal(1f, s[0]); Assert.Equal(1f, s[1]); Assert.Equal(MathF.Exp(1f), s[2], 6);
        Assert.Equal(float.PositiveInfinity, s[3]); Assert.Equal(0f, s[4]);
        Assert.Equal(float.PositiveInfinity, s[5]); Assert.Equal(float.PositiveInfinity, s[6]);
        Assert.Equal(0f, s[7]); Assert.Equal(0f, s[8]); Assert.True(float.IsNaN(s[9]));
        Assert.True(Math.Abs(s[10] / MathF.Exp(88.7f) - 1) < 1e-6);
        Assert.True(Math.Abs(s[11] / MathF.Exp(-86f) - 1) < 1e-6);
    }

    [Theory]
    [InlineData(1, 1f)]
    [InlineData(15, 3f)]
    [InlineData(48, 3f)]
    [InlineData(4096, 10f)]
    [InlineData(4099, 30f)]
    [InlineData(151_936, 20f)]   // a Qwen vocabulary
    public void LogSumExpMatchesReference(int n, float scale)
    {
        var x = KernelTestData.Uniform(n + 5, n, scale);
        double expected = ReferenceKernels.LogSumExp(x), actual = SimdKernels.LogSumExp(x);
        Assert.True(Math.Abs(actual - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)), $"n={n}: {actual} vs {expected}");
        Assert.Equal(float.NegativeInfinity, SimdKernels.LogSumExp(ReadOnlySpan<float>.Empty));
    }

    [Fact]
    public void SoftmaxOfEmptyRowIsNoOp() => SimdKernels.Softmax(Span<float>.Empty);

    // (T, heads, d, startPos): d below, at and above one vector of pairs (d/2 = 3, 4, 8, 16, 64), odd d/2 tails.
    public static TheoryData<int, int, int, int> RopeShapes() => new()
    {
        { 1, 1, 6, 0 }, { 1, 1, 8, 0 }, { 3, 4, 8, 5 }, { 2, 3, 16, 1 }, { 5, 2, 34, 9 },
        { 4, 3, 64, 100 }, { 2, 2, 128, 1000 }, { 1, 32, 128, 2047 }, { 7, 1, 22, 3 },
        { 520, 8, 128, 3 },   // 532,480 elements: split across threads
    };

    [Theory]
    [MemberData(nameof(RopeShapes))]
    public void RopeMatchesReferenceAndPreservesPairNorms(int T, int heads, int d, int startPos)
    {
        var table = new RopeTable(d, 2048, 10000.0);
        var x = KernelTestData.Uniform(d * 31 + T, T * heads * d);   // [T, heads, d]
        var expected = (float[])x.Clone();
        var actual = (float[])x.Clone();
        ReferenceKernels.Rope(expected, T, heads, startPos, table);
        SimdKernels.Rope(actual, T, heads, startPos, table);
        KernelTestData.AssertClose(expected, actual, Tolerance, $"Rope T={T} heads={heads} d={d} pos={startPos}");

        int half = d / 2;
        for (int b = 0; b < T * heads * d; b += d)
            for (int j = 0; j < half; j++)
            {
                double before = Math.Sqrt((double)x[b + j] * x[b + j] + (double)x[b + j + half] * x[b + j + half]);
                double after = Math.Sqrt((double)actual[b + j] * actual[b + j] + (double)actual[b + j + half] * actual[b + j + half]);
                Assert.True(Math.Abs(before - after) <= 1e-5 * Math.Max(1, before), $"pair norm {before} -> {after}");
            }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(128)]
    public void RopeAtPositionZeroIsIdentity(int d)
    {
        var table = new RopeTable(d, 16, 500000.0);
        var x = KernelTestData.Uniform(d, 3 * d);          // [1, 3, d]
        var y = (float[])x.Clone();
        SimdKernels.Rope(y, 1, 3, 0, table);
        Assert.Equal(x, y);
    }
}
