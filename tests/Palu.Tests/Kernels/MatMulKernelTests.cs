using System.Runtime.Intrinsics;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Tests.Kernels;

/// <summary>SimdKernels.MatMul against ReferenceKernels.MatMul over one table of shapes × the three weight dtypes.</summary>
public class MatMulKernelTests
{
    const double Tolerance = 1e-5;

    // (T, n, m): decode/small batches T = 1..12 (GEMV, x rows four at a time) and prefill T ≥ 13 (GEMM) with odd T,
    // n not a multiple of 16, odd m,
    // n over several k-blocks (256), m over several panel blocks (8 × 32), T over several row blocks (128),
    // one panel with the rows of x split across threads (600, 256, 20),
    // and sizes large enough to be split across threads.
    public static readonly (int T, int n, int m)[] Shapes =
    [
        (1, 0, 3), (20, 0, 5), (1, 1, 1), (1, 16, 1), (1, 17, 5), (1, 192, 192), (1, 1000, 301),
        (2, 33, 7), (3, 100, 65), (4, 64, 33), (4, 513, 260),
        (5, 50, 31), (7, 16, 32), (8, 256, 64), (9, 300, 97), (12, 40, 9), (11, 1000, 130),
        (13, 40, 9), (13, 513, 129),
        (31, 15, 3), (64, 192, 192), (65, 257, 95), (133, 600, 300), (256, 64, 512), (600, 256, 20),
    ];

    public static TheoryData<int, int, int, DType> Cases()
    {
        var data = new TheoryData<int, int, int, DType>();
        foreach (var (T, n, m) in Shapes)
            foreach (var dt in new[] { DType.F32, DType.BF16, DType.F16 })
                data.Add(T, n, m, dt);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference(int T, int n, int m, DType dtype)
    {
        int seed = T * 1_000_003 + n * 1009 + m;
        var x = KernelTestData.Uniform(seed, (long)T * n);                 // [T, n]
        var wf = KernelTestData.Uniform(seed + 1, (long)m * n);            // [m, n]
        var w = KernelTestData.Weights(wf, m, n, dtype, out var owner);
        using (owner)
        {
            var expected = new float[T * m];                                // [T, m]
            var actual = new float[T * m];                                  // [T, m]
            Array.Fill(actual, float.NaN);
            ReferenceKernels.MatMul(x, w, expected, T);
            SimdKernels.MatMul(x, w, actual, T);
            KernelTestData.AssertClose(expected, actual, Tolerance, $"MatMul T={T} n={n} m={m} {dtype}");
        }
    }

    [Fact]
    public void LeavesRowsPastTUntouched()
    {
        const int T = 3, n = 40, m = 9;
        var x = KernelTestData.Uniform(7, (T + 1) * n);                     // [T + 1, n], last row unused
        var w = KernelTestData.Weights(KernelTestData.Uniform(8, m * n), m, n, DType.F32, out var owner);
        using (owner)
        {
            var y = new float[(T + 1) * m];                                 // [T + 1, m]
            y.AsSpan(T * m).Fill(42f);
            SimdKernels.MatMul(x, w, y, T);
            Assert.All(y[(T * m)..], v => Assert.Equal(42f, v));
        }
    }

    [Fact]
    public unsafe void WideningMatchesScalarConversionForEveryBitPattern()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        fixed (ushort* p = bits)
        {
            for (int i = 0; i < bits.Length; i += 16)
            {
                Vector512<float> h = F16Loader.Load16((byte*)p, i), b = BF16Loader.Load16((byte*)p, i);
                for (int j = 0; j < 16; j++)
                {
                    float eh = (float)BitConverter.UInt16BitsToHalf(bits[i + j]);
                    float eb = FloatConvert.BF16ToSingle(bits[i + j]);
                    if (float.IsNaN(eh)) Assert.True(float.IsNaN(h[j]));
                    else Assert.Equal(BitConverter.SingleToInt32Bits(eh), BitConverter.SingleToInt32Bits(h[j]));
                    Assert.Equal(BitConverter.SingleToInt32Bits(eb), BitConverter.SingleToInt32Bits(b[j]));
                }
            }
        }
    }
}
