using Palu.Kernels.Cpu;
using Palu.LinearAlgebra;

namespace Palu.Tests.Quantization;

/// <summary>Packed storage of quantised latents: layout, round trips, reference vs fast dequantisation, packed = simulated.</summary>
public class LatentQuantTests
{
    static readonly int[] Bits = [2, 3, 4, 8];
    static readonly int[] Widths = [1, 5, 7, 63, 64, 65, 127, 128, 129, 192, 203];

    [Fact]
    public void PackUnpackRoundTripsEveryWidthAndBitWidth()
    {
        foreach (int b in Bits)
            foreach (int w in Widths)
            {
                var r = new Random(b * 1000 + w);
                var codes = Enumerable.Range(0, w).Select(_ => (byte)r.Next(1 << b)).ToArray();
                var l = QuantLayout.Create(w, b, 0);
                Assert.Equal((w * b + 7) / 8, l.CodeBytes);   // dense: only the last byte's padding is wasted
                var packed = new byte[l.CodeBytes];
                LatentQuant.Pack(codes, b, packed);
                for (int i = 0; i < w; i++) Assert.True(codes[i] == LatentQuant.GetCode(packed, w, b, i), $"b={b} w={w} i={i}");
            }
    }

    [Fact]
    public void FastDequantizeEqualsReferenceAndSimulatedBitForBit()
    {
        foreach (int b in Bits)
            foreach (int w in Widths)
                foreach (int group in new[] { 0, 1 }.Concat(w % 16 == 0 ? [16] : []).Concat(w % 32 == 0 ? [32] : []))
                {
                    var l = QuantLayout.Create(w, b, group);
                    const int n = 5;
                    var x = new Gaussian((ulong)(b * 7919 + w * 31 + group)).Floats(n * w, 1f);
                    x[0] = 40f;                                                        // an outlier channel
                    var rows = new byte[n * l.RowBytes];
                    for (int t = 0; t < n; t++) LatentQuant.QuantizeRow(x.AsSpan(t * w, w), l, rows.AsSpan(t * l.RowBytes, l.RowBytes));
                    var reference = new float[n * w];
                    var fast = new float[n * w];
                    LatentQuant.DequantizeReference(rows, l, n, reference);
                    LatentQuant.Dequantize(rows, l, n, fast);
                    var simulated = (float[])x.Clone();
                    LatentQuant.FakeQuantize(simulated, l);
                    Assert.True(reference.AsSpan().SequenceEqual(fast), $"b={b} w={w} group={group}: fast ≠ reference");
                    Assert.True(reference.AsSpan().SequenceEqual(simulated), $"b={b} w={w} group={group}: packed ≠ simulated");
                }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void ErrorIsAtMostHalfAStep(int b)
    {
        const int w = 96, n = 20;
        var l = QuantLayout.Create(w, b, 32);
        var x = new Gaussian((ulong)b).Floats(n * w, 2f);
        var q = (float[])x.Clone();
        LatentQuant.FakeQuantize(q, l);
        for (int t = 0; t < n; t++)
            for (int g = 0; g < 3; g++)
            {
                var v = x.AsSpan(t * w + g * 32, 32);
                float step = (v.ToArray().Max() - v.ToArray().Min()) / l.MaxCode;
                for (int i = 0; i < 32; i++)
                {
                    float e = Math.Abs(q[t * w + g * 32 + i] - v[i]);
                    Assert.True(e <= 0.5f * step * 1.01f + 1e-6f, $"b={b}: error {e} > half step {step / 2}");
                }
            }
    }

    [Fact]
    public void BadLayoutsAreRefused()
    {
        Assert.Contains("2, 3, 4 or 8", Assert.Throws<ArgumentException>(() => QuantLayout.Create(64, 5, 0)).Message);
        Assert.Contains("does not divide the rank 96", Assert.Throws<ArgumentException>(() => QuantLayout.Create(96, 4, 64)).Message);
    }
}

/// <summary>Packed latent attention gives the same bits on any number of threads (decode shares KV heads, with their
/// dequantisation, between threads; prefill splits each kernel).</summary>
public class PackedThreadTests
{
    [Fact]
    public void SameBitsOnOneAndFourThreads()
    {
        var be = Palu.Runtime.Backends.Get("cpu");
        foreach (var c in Palu.Tests.Runtime.PackedOpCases.All().Where(c => c.Op == "PackedLatentAttention"))
        {
            float[] one, four;
            using (Parallelism.Limit(1)) one = c.Run(be);
            using (Parallelism.Limit(4)) four = c.Run(be);
            Assert.True(one.AsSpan().SequenceEqual(four), $"{c.Shape}: 1 and 4 threads differ");
        }
    }
}
