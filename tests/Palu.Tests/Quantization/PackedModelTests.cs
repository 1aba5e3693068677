using Palu.Cache;
using Palu.Compression;
using Palu.Kernels.Cpu;
using Palu.Models;
using Palu.Runtime;
using Palu.Tests.KvCompression;

namespace Palu.Tests.Quantization;

/// <summary>End to end: Hadamard fusion is exact; a model with packed latents gives exactly the simulated numbers.</summary>
public class PackedModelTests
{
    static readonly int[] Ids = [1, 5, 77, 3, 200, 9, 14, 15, 92, 65, 35, 89, 120, 7, 66, 250, 31, 8, 140, 2];

    static void Dense(string dir) =>
        RandomCheckpoint.Write(dir, new RandomModelSpec { Heads = 4, KvHeads = 2, HeadDim = 16, Hidden = 64 }, seed: 21);

    static void Compress(string src, string dst, double keep, bool hadamard, int bits = 16, int quantGroup = 0) =>
        PaluCompressor.Compress(src, dst, new PaluOptions
        {
            KvKeep = keep, GroupSize = 2, Decomposition = DecompositionMethod.Svd, Hadamard = hadamard, KvBits = bits,
            QuantGroup = quantGroup, Overwrite = true,
        });

    static double RelDiff(float[] want, float[] got) => want.Zip(got, (a, b) => Math.Abs(a - b)).Max() / want.Max(Math.Abs);

    [Theory]
    [InlineData(0.5)]    // r = 16: fast Walsh–Hadamard transform
    [InlineData(0.75)]   // r = 24: Paley I (q = 11) ⊗ Sylvester 2
    public void HadamardFusionIsExactAtFullPrecision(double keep)
    {
        using var tmp = TestPaths.Temp();
        Dense(tmp.File("dense"));
        Compress(tmp.File("dense"), tmp.File("plain"), keep, hadamard: false);
        Compress(tmp.File("dense"), tmp.File("rotated"), keep, hadamard: true);
        using var plain = CausalLM.Load(tmp.File("plain"));
        using var rotated = CausalLM.Load(tmp.File("rotated"));
        var m = rotated.Plan!.Modules[0];
        Assert.True(m.Hadamard);
        Assert.StartsWith(keep == 0.5 ? "walsh-hadamard 16" : "hadamard Paley I", m.Groups![0].Rotation);
        var a = LatentAttentionTests.Run(plain, Ids, stepwise: false);
        var b = LatentAttentionTests.Run(rotated, Ids, stepwise: false);
        Assert.True(RelDiff(a, b) < 1e-4, $"keep {keep}: rotated logits differ by {RelDiff(a, b):E2}");
    }

    [Theory]
    [InlineData(3, 0, "cpu")]
    [InlineData(2, 8, "cpu")]
    [InlineData(4, 0, "cpu-reference")]
    [InlineData(8, 8, "cpu")]
    public void PackedCacheGivesTheSimulatedNumbers(int bits, int quantGroup, string device)
    {
        using var tmp = TestPaths.Temp();
        Dense(tmp.File("dense"));
        Compress(tmp.File("dense"), tmp.File("q"), 0.75, hadamard: true, bits, quantGroup);
        Compress(tmp.File("dense"), tmp.File("f"), 0.75, hadamard: true);
        var options = new LoadOptions { Backend = Backends.Get(device) };
        using var lm = CausalLM.Load(tmp.File("q"), options);
        using var full = CausalLM.Load(tmp.File("f"), options);
        foreach (bool stepwise in new[] { false, true })
        {
            var packed = LatentAttentionTests.Run(lm, Ids, stepwise);
            var simulated = RunSimulated(lm, Ids, stepwise, bits, quantGroup);
            Assert.True(packed.AsSpan().SequenceEqual(simulated), $"{bits}-bit stepwise={stepwise}: packed ≠ simulated (max diff {RelDiff(simulated, packed):E2})");
            Assert.True(RelDiff(LatentAttentionTests.Run(full, Ids, stepwise), packed) > 1e-6, "quantisation changed nothing");
        }
        // bytes per token as stored: per group ⌈r·b/8⌉ code bytes + 4 bytes (f16 scale + zero-point) per quantisation group
        int r = 24, groups = quantGroup == 0 ? 1 : r / quantGroup;
        long perGroup = (r * bits + 7) / 8 + 4 * groups;
        Assert.Equal(2 /* layers */ * 2 /* K, V */ * perGroup, lm.KvBytesPerToken);
    }

    /// <summary>The test oracle: f32 latent caches whose latents are quantised and dequantised before they are stored.</summary>
    static float[] RunSimulated(CausalLM lm, int[] ids, bool stepwise, int bits, int quantGroup)
    {
        var caches = lm.Layers.Select(l => (LayerCache)new SimulatedLatentCache(lm.Backend, (LatentAttention)l.Attention, ids.Length, bits, quantGroup)).ToArray();
        using var seq = new SequenceState(caches, ids.Length, new Workspace(lm.Backend));
        var hidden = new float[ids.Length * lm.Hidden];
        if (stepwise)
            for (int t = 0; t < ids.Length; t++) lm.Forward(ids.AsSpan(t, 1), seq, hidden.AsSpan(t * lm.Hidden, lm.Hidden));
        else lm.Forward(ids, seq, hidden);
        var logits = new float[ids.Length * lm.Vocab];
        lm.Logits(hidden, logits, ids.Length);
        return logits;
    }

    sealed class SimulatedLatentCache : LayerCache, ILatentKvCache
    {
        readonly LatentLayerCache _inner;
        readonly LatentProjection _k, _v;
        readonly int _bits, _group;

        public SimulatedLatentCache(Backend be, LatentAttention a, int capacity, int bits, int quantGroup)
        {
            int n = a.Shape.KvHeads;
            _k = a.K; _v = a.V; _bits = bits; _group = quantGroup;
            _inner = new LatentLayerCache(be, capacity, a.K.Ranks, a.V.Ranks, Enumerable.Range(0, n).Select(a.K.GroupOf).ToArray(),
                Enumerable.Range(0, n).Select(a.V.GroupOf).ToArray(), Enumerable.Range(0, n).Select(a.K.HeadUp).ToArray(),
                Enumerable.Range(0, n).Select(a.K.HeadBias).ToArray());
        }

        public override long BytesAllocated => _inner.BytesAllocated;
        public override long BytesPerToken => _inner.BytesPerToken;

        public void Append(Backend be, Buf hk, Buf hv, int start, int T) =>
            _inner.Append(be, Fake(be, hk, _k, T), Fake(be, hv, _v, T), start, T);

        Buf Fake(Backend be, Buf h, LatentProjection p, int T)
        {
            var x = new float[h.Length];   // [T, Σr]
            be.Download(h, x);
            for (int t = 0; t < T; t++)
                for (int g = 0; g < p.Groups; g++)
                    LatentQuant.FakeQuantize(x.AsSpan(t * p.TotalRank + p.Offsets[g], p.Ranks[g]), QuantLayout.Create(p.Ranks[g], _bits, _group));
            return be.Load(x);
        }

        public void Attend(Backend be, Buf q, Buf kNorm, float normEps, RopeTable rope, ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall call) =>
            _inner.Attend(be, q, kNorm, normEps, rope, zOffsets, z, call);

        public override void Dispose() => _inner.Dispose();
    }
}
