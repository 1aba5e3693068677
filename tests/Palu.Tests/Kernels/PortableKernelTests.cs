using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Tests.Kernels;

/// <summary>
/// PortableKernels (what SimdKernels runs without AVX-512) against the reference, called directly so that this
/// AVX-512 machine tests them too. Same shape tables as the SIMD tests.
/// </summary>
public class PortableKernelTests
{
    const double Tolerance = 1e-5;

    [Theory]
    [MemberData(nameof(MatMulKernelTests.Cases), MemberType = typeof(MatMulKernelTests))]
    public void MatMulMatchesReference(int T, int n, int m, DType dtype)
    {
        var x = KernelTestData.Uniform(T + n, (long)T * n);       // [T, n]
        var w = KernelTestData.Weights(KernelTestData.Uniform(m + 1, (long)m * n), m, n, dtype, out var owner);
        using (owner)
        {
            var expected = new float[T * m];                       // [T, m]
            var actual = new float[T * m];                         // [T, m]
            ReferenceKernels.MatMul(x, w, expected, T);
            PortableKernels.MatMul(x, w, actual, T);
            KernelTestData.AssertClose(expected, actual, Tolerance, $"MatMul T={T} n={n} m={m} {dtype}");
        }
    }

    [Theory]
    [MemberData(nameof(AttentionKernelTests.Cases), MemberType = typeof(AttentionKernelTests))]
    public void AttentionMatchesReference(int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window)
    {
        var q = KernelTestData.Uniform(1, T * H * d, 2f);           // [T, H, d]
        var k = KernelTestData.Uniform(2, Hkv * maxSeq * d, 2f);    // [Hkv, maxSeq, d]
        var v = KernelTestData.Uniform(3, Hkv * maxSeq * d);        // [Hkv, maxSeq, d]
        var expected = new float[T * H * d];                         // [T, H, d]
        var actual = new float[T * H * d];                           // [T, H, d]
        ReferenceKernels.Attention(q, k, v, expected, T, startPos, H, Hkv, d, maxSeq, window);
        PortableKernels.Attention(q, k, v, actual, T, startPos, H, Hkv, d, maxSeq, window, d);
        KernelTestData.AssertClose(expected, actual, Tolerance, $"Attention T={T} pos={startPos} H={H} Hkv={Hkv} d={d} window={window}");
    }

    // (T, startPos, H, Hkv, d, maxSeq, window, dv): values narrower and wider than the keys (Palu's value latents)
    public static TheoryData<int, int, int, int, int, int, int?, int> ValueWidthCases() => new()
    {
        { 1, 5, 4, 2, 16, 16, null, 5 },
        { 5, 3, 6, 3, 8, 10, 4, 21 },
        { 40, 0, 4, 2, 64, 40, null, 13 },
        { 1, 700, 8, 2, 32, 701, 300, 48 },
    };

    /// <summary>The reference has values as wide as the keys: it runs once per d-wide block of value columns
    /// (the last block zero-padded), and the blocks' outputs are put side by side.</summary>
    [Theory]
    [MemberData(nameof(ValueWidthCases))]
    public void AttentionWithOwnValueWidthMatchesReference(int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window, int dv)
    {
        var q = KernelTestData.Uniform(4, T * H * d, 2f);           // [T, H, d]
        var k = KernelTestData.Uniform(5, Hkv * maxSeq * d, 2f);    // [Hkv, maxSeq, d]
        var v = KernelTestData.Uniform(6, Hkv * maxSeq * dv);       // [Hkv, maxSeq, dv]
        var expected = new float[T * H * dv];                        // [T, H, dv]
        var vBlock = new float[Hkv * maxSeq * d];                    // [Hkv, maxSeq, d] value columns [c0, c0 + d)
        var oBlock = new float[T * H * d];                           // [T, H, d]
        for (int c0 = 0; c0 < dv; c0 += d)
        {
            int w = Math.Min(d, dv - c0);
            Array.Clear(vBlock);
            for (int row = 0; row < Hkv * maxSeq; row++) v.AsSpan(row * dv + c0, w).CopyTo(vBlock.AsSpan(row * d, w));
            ReferenceKernels.Attention(q, k, vBlock, oBlock, T, startPos, H, Hkv, d, maxSeq, window);
            for (int row = 0; row < T * H; row++) oBlock.AsSpan(row * d, w).CopyTo(expected.AsSpan(row * dv + c0, w));
        }
        var actual = new float[T * H * dv];                          // [T, H, dv]
        PortableKernels.Attention(q, k, v, actual, T, startPos, H, Hkv, d, maxSeq, window, dv);
        KernelTestData.AssertClose(expected, actual, Tolerance, $"Attention T={T} pos={startPos} H={H} Hkv={Hkv} d={d} window={window} dv={dv}");
    }

    [Theory]
    [MemberData(nameof(ElementwiseKernelTests.RowShapes), MemberType = typeof(ElementwiseKernelTests))]
    public void RowKernelsMatchReference(int T, int n)
    {
        var x = KernelTestData.Uniform(n, T * n, 4f);              // [T, n]
        var w = KernelTestData.Uniform(n + 1, n);                  // [n]
        var u = KernelTestData.Uniform(n + 2, T * n);              // [T, n]
        var e = new float[T * n]; var a = new float[T * n];        // [T, n] each
        ReferenceKernels.RmsNorm(x, w, e, T, 1e-5f);
        PortableKernels.RmsNorm(x, w, a, T, 1e-5f);
        KernelTestData.AssertClose(e, a, Tolerance, $"RmsNorm T={T} n={n}");

        x.CopyTo(e, 0); x.CopyTo(a, 0);
        ReferenceKernels.SwiGlu(e, u);
        PortableKernels.SwiGlu(a, u);
        KernelTestData.AssertClose(e, a, Tolerance, $"SwiGlu T={T} n={n}");

        var row = x.AsSpan(0, n);
        row.CopyTo(e); row.CopyTo(a);
        ReferenceKernels.Softmax(e.AsSpan(0, n));
        PortableKernels.Softmax(a.AsSpan(0, n));
        KernelTestData.AssertClose(e.AsSpan(0, n), a.AsSpan(0, n), Tolerance, $"Softmax n={n}");
        double lse = ReferenceKernels.LogSumExp(row);
        Assert.True(Math.Abs(PortableKernels.LogSumExp(row) - lse) <= 1e-5 * Math.Max(1, Math.Abs(lse)));
    }

    [Theory]
    [MemberData(nameof(ElementwiseKernelTests.RopeShapes), MemberType = typeof(ElementwiseKernelTests))]
    public void RopeMatchesReference(int T, int heads, int d, int startPos)
    {
        var table = new RopeTable(d, 2048, 10000.0);
        var expected = KernelTestData.Uniform(d + T, T * heads * d);   // [T, heads, d]
        var actual = (float[])expected.Clone();
        ReferenceKernels.Rope(expected, T, heads, startPos, table);
        PortableKernels.Rope(actual, T, heads, startPos, table);
        KernelTestData.AssertClose(expected, actual, Tolerance, $"Rope T={T} heads={heads} d={d}");
    }
}
