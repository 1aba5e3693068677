using Palu.Kernels.Cpu;

namespace Palu.Tests.Kernels;

/// <summary>SimdKernels.Attention against ReferenceKernels.Attention, and decode-equals-prefill.</summary>
public class AttentionKernelTests
{
    const double Tolerance = 1e-5;

    // (T, startPos, H, Hkv, d, maxSeq, window): MHA, GQA, MQA; d from 6 (below one vector) to 128; decode (T = 1)
    // deep into the cache; prefill from 0 and after a prefix; sliding windows shorter and longer than the context;
    // small T (queries four at a time) and large T (blocked GEMM path).
    public static TheoryData<int, int, int, int, int, int, int?> Cases() => new()
    {
        { 1, 0, 1, 1, 8, 4, null },
        { 1, 5, 4, 2, 64, 16, null },
        { 3, 0, 4, 4, 16, 8, null },
        { 4, 7, 8, 2, 128, 16, null },
        { 5, 3, 6, 3, 6, 10, null },
        { 1, 40, 8, 1, 24, 64, null },
        { 6, 10, 4, 1, 32, 20, 4 },
        { 1, 30, 2, 2, 40, 40, 8 },
        { 17, 0, 3, 3, 64, 32, null },
        { 9, 20, 8, 4, 8, 29, 100 },
        { 33, 0, 8, 4, 8, 33, 5 },
        { 1, 511, 4, 2, 128, 512, null },
        { 64, 64, 4, 2, 64, 128, null },
        // prefill through the GEMM path (T·H/Hkv ≥ 32): one and several query blocks, windows, d tails
        { 40, 0, 2, 2, 64, 40, null },
        { 150, 10, 6, 2, 24, 200, null },
        { 130, 0, 4, 4, 128, 130, 50 },
        { 100, 28, 8, 2, 6, 128, 9 },
        { 70, 0, 3, 3, 8, 70, null },
        // decode over ≥ 512 visible keys: split into 256-key segments and merged (last segment partial, windows)
        { 1, 1000, 3, 3, 64, 1001, null },
        { 1, 2047, 6, 2, 6, 2048, null },
        { 1, 1500, 8, 1, 128, 1600, null },
        { 1, 1200, 4, 2, 8, 1300, 600 },
        { 1, 1200, 4, 2, 8, 1300, 300 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference(int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window)
    {
        int seed = T * 7919 + startPos * 31 + H * 7 + d;
        var q = KernelTestData.Uniform(seed, T * H * d, 2f);              // [T, H, d]
        var k = KernelTestData.Uniform(seed + 1, Hkv * maxSeq * d, 2f);   // [Hkv, maxSeq, d]
        var v = KernelTestData.Uniform(seed + 2, Hkv * maxSeq * d);       // [Hkv, maxSeq, d]
        var expected = new float[T * H * d];                               // [T, H, d]
        var actual = new float[T * H * d];                                 // [T, H, d]
        ReferenceKernels.Attention(q, k, v, expected, T, startPos, H, Hkv, d, maxSeq, window);
        SimdKernels.Attention(q, k, v, actual, T, startPos, H, Hkv, d, maxSeq, window);
        KernelTestData.AssertClose(expected, actual, Tolerance, $"Attention T={T} pos={startPos} H={H} Hkv={Hkv} d={d} window={window}");
    }

    [Theory]
    [InlineData(0, 4, 2, 64, null)]
    [InlineData(9, 4, 2, 64, null)]
    [InlineData(20, 6, 2, 8, null)]
    [InlineData(33, 2, 1, 128, 7)]
    [InlineData(70, 3, 3, 64, null)]
    [InlineData(700, 4, 2, 32, null)]
    public void DecodeAtPositionEqualsLastRowOfPrefill(int p, int H, int Hkv, int d, int? window)
    {
        int maxSeq = p + 1;
        var q = KernelTestData.Uniform(p + 1, (p + 1) * H * d);          // [p + 1, H, d]
        var k = KernelTestData.Uniform(p + 2, Hkv * maxSeq * d);          // [Hkv, maxSeq, d]
        var v = KernelTestData.Uniform(p + 3, Hkv * maxSeq * d);          // [Hkv, maxSeq, d]
        var prefill = new float[(p + 1) * H * d];                          // [p + 1, H, d]
        SimdKernels.Attention(q, k, v, prefill, p + 1, 0, H, Hkv, d, maxSeq, window);
        var decode = new float[H * d];                                     // [1, H, d]
        SimdKernels.Attention(q.AsSpan(p * H * d, H * d), k, v, decode, 1, p, H, Hkv, d, maxSeq, window);
        KernelTestData.AssertClose(prefill.AsSpan(p * H * d).ToArray(), decode, 1e-6, $"decode at {p}");
    }
}
