using Palu.Cache;
using Palu.Models;
using Palu.Tests.KvCompression;

namespace Palu.Tests.Quantization;

/// <summary>The KIVI baseline cache: exact inside the residual window, quantised outside it, bytes counted as packed.</summary>
public class KiviTests
{
    static readonly int[] Ids = Enumerable.Range(0, 100).Select(i => (i * 53 + 11) % 256).ToArray();

    static double Err(float[] want, float[] got) => want.Zip(got, (a, b) => Math.Abs(a - b)).Max() / want.Max(Math.Abs);

    [Fact]
    public void ExactInsideTheResidualWindowAndCloserAtMoreBits()
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.File("m"), new RandomModelSpec { Heads = 4, KvHeads = 2, HeadDim = 32, Hidden = 64 }, seed: 5);
        using var dense = CausalLM.Load(tmp.File("m"));
        var want = LatentAttentionTests.Run(dense, Ids, stepwise: false);
        CausalLM With(string kind, int residual) => CausalLM.Load(tmp.File("m"), new LoadOptions { Kivi = KiviOptions.Parse(kind, residual) });

        using (var all = With("kivi2", 128))   // 100 tokens: none leaves the window
            Assert.True(want.AsSpan().SequenceEqual(LatentAttentionTests.Run(all, Ids, stepwise: false)), "residual window ≥ length must be exact");
        using var k4 = With("kivi4", 32);
        using var k2 = With("kivi2", 32);
        double e4 = Err(want, LatentAttentionTests.Run(k4, Ids, stepwise: false)), e2 = Err(want, LatentAttentionTests.Run(k2, Ids, stepwise: false));
        Assert.True(e4 > 0 && e4 < e2, $"KIVI-4 error {e4:E2} should be positive and below KIVI-2's {e2:E2}");
        // per layer, K and V: 64 values × b/8 bytes + (64 / 32) × (f16 scale + f16 zero-point)
        Assert.Equal(2 * 2 * (64 * 4 / 8 + 2 * 4), k4.KvBytesPerToken);
        Assert.Equal(2 * 2 * (64 * 2 / 8 + 2 * 4), k2.KvBytesPerToken);
    }

    [Fact]
    public void BadOptionsAreRefused()
    {
        Assert.Contains("kivi2 or kivi4", Assert.Throws<ArgumentException>(() => KiviOptions.Parse("kivi3", 128)).Message);
        Assert.Contains("multiple of 32", Assert.Throws<ArgumentException>(() => KiviOptions.Parse("kivi4", 100)).Message);
    }
}
