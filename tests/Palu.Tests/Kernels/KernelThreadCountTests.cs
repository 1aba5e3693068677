using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Tests.Kernels;

/// <summary>
/// The threaded kernels split work by output (rows or columns of y, attention items), so every output is computed
/// by the same code whatever the thread count: results must be bit-identical for 1, 2, 3 and 5 threads (more threads
/// than this machine's cores included).
/// </summary>
public class KernelThreadCountTests
{
    static readonly int[] ThreadCounts = [1, 2, 3, 5];

    static float[][] ForEachThreadCount(Func<float[]> run)
    {
        return ThreadCounts.Select(t => { using var _ = Parallelism.Limit(t); return run(); }).ToArray();
    }

    static void AssertAllEqual(float[][] results)
    {
        for (int i = 1; i < results.Length; i++) Assert.Equal(results[0], results[i]);
    }

    [Theory]
    [InlineData(1, 1024, 1100)]    // GEMV
    [InlineData(7, 700, 600)]      // GEMV, several x-row groups
    [InlineData(100, 300, 500)]    // GEMM
    [InlineData(400, 256, 20)]     // GEMM with one panel: rows of x split
    public void MatMulIsIdenticalForAnyThreadCount(int T, int n, int m)
    {
        var x = KernelTestData.Uniform(1, (long)T * n);    // [T, n]
        var w = KernelTestData.Weights(KernelTestData.Uniform(2, (long)m * n), m, n, DType.BF16, out var owner);
        using (owner)
            AssertAllEqual(ForEachThreadCount(() => { var y = new float[T * m]; SimdKernels.MatMul(x, w, y, T); return y; }));
    }

    [Theory]
    [InlineData(1, 300, 8, 2, 64)]     // decode
    [InlineData(1, 1500, 3, 3, 64)]    // decode split into key segments
    [InlineData(6, 50, 4, 4, 32)]      // small prefill, four queries at a time
    [InlineData(200, 0, 4, 2, 64)]     // GEMM prefill
    public void AttentionIsIdenticalForAnyThreadCount(int T, int startPos, int H, int Hkv, int d)
    {
        int maxSeq = startPos + T;
        var q = KernelTestData.Uniform(3, T * H * d);               // [T, H, d]
        var k = KernelTestData.Uniform(4, Hkv * maxSeq * d);        // [Hkv, maxSeq, d]
        var v = KernelTestData.Uniform(5, Hkv * maxSeq * d);        // [Hkv, maxSeq, d]
        AssertAllEqual(ForEachThreadCount(() =>
        {
            var o = new float[T * H * d];                            // [T, H, d]
            SimdKernels.Attention(q, k, v, o, T, startPos, H, Hkv, d, maxSeq);
            return o;
        }));
    }

    [Fact]
    public void SwiGluAndRopeAreIdenticalForAnyThreadCount()
    {
        const int T = 700, heads = 8, d = 128;   // 716,800 elements: split across threads
        var g = KernelTestData.Uniform(8, T * heads * d, 6f);   // [T, heads·d]
        var u = KernelTestData.Uniform(9, T * heads * d);       // [T, heads·d]
        var table = new RopeTable(d, T, 10000.0);
        AssertAllEqual(ForEachThreadCount(() => { var y = (float[])g.Clone(); SimdKernels.SwiGlu(y, u); return y; }));
        AssertAllEqual(ForEachThreadCount(() => { var y = (float[])g.Clone(); SimdKernels.Rope(y, T, heads, 0, table); return y; }));
    }

    [Fact]
    public void RmsNormIsIdenticalForAnyThreadCount()
    {
        const int T = 1100, n = 1000;   // big enough to be split
        var x = KernelTestData.Uniform(6, T * n);   // [T, n]
        var w = KernelTestData.Uniform(7, n);       // [n]
        AssertAllEqual(ForEachThreadCount(() => { var y = new float[T * n]; SimdKernels.RmsNorm(x, w, y, T, 1e-6f); return y; }));
    }
}
