using Palu.Cache;
using Palu.IO;
using Palu.Kernels.Cpu;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Tests.KvCompression;

public class LatentAttentionTests
{
    static float[] Rand(Random r, int n, float std = 1f) => Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * std)).ToArray();

    static LatentProjection RandomProjection(Random r, int kvHeads, int groupSize, int dh, int d, int[] ranks, bool bias)
    {
        int total = ranks.Sum();
        var down = new DenseLinear(WeightMatrix.FromFloats(Rand(r, total * d, 0.3f), total, d));
        var up = ranks.Select(rk => Rand(r, groupSize * dh * rk, 0.3f)).ToArray();
        var ub = ranks.Select(_ => bias ? Rand(r, groupSize * dh, 0.5f) : null).ToArray();
        return new LatentProjection(groupSize, dh, down, up, ub);
    }

    // H, Hkv, dh, K group size, V group size, T, startPos, window, bias, knorm
    public static IEnumerable<object[]> KernelCases() =>
    [
        [4, 4, 16, 1, 1, 1, 9, 0, false, false],
        [4, 4, 16, 2, 4, 5, 0, 0, true, false],
        [8, 4, 8, 2, 2, 3, 6, 0, false, true],
        [6, 2, 32, 2, 1, 7, 2, 4, true, true],
        [3, 3, 64, 3, 3, 1, 30, 0, false, false],
        [8, 2, 64, 1, 2, 1, 700, 0, true, false],      // decode split into key segments
        [8, 2, 32, 2, 1, 1, 900, 300, false, true],    // split decode inside a sliding window
        [4, 4, 16, 2, 2, 40, 0, 0, false, false],      // prefill through the GEMM path
        [12, 4, 16, 4, 2, 33, 17, 9, true, true],      // GQA prefill with a window
    ];

    [Theory]
    [MemberData(nameof(KernelCases))]
    public void FastMatchesReference(int H, int Hkv, int dh, int sk, int sv, int T, int startPos, int window, bool bias, bool knorm)
    {
        var r = new Random(H * 1000 + dh + T);
        int d = 24, S = startPos + T;
        var rope = new RopeTable(dh, 1024, 10000);
        int[] kr = Enumerable.Range(0, Hkv / sk).Select(g => 3 + 2 * g).ToArray();
        int[] vr = Enumerable.Range(0, Hkv / sv).Select(g => 5 + g).ToArray();
        var K = RandomProjection(r, Hkv, sk, dh, d, kr, bias);
        var V = RandomProjection(r, Hkv, sv, dh, d, vr, bias);
        using var cache = new LatentLayerCache(kr, vr, S + 8);
        cache.Write(Rand(r, S * kr.Sum()), Rand(r, S * vr.Sum()), 0, S);
        var s = new LatentAttentionShape(H, Hkv, dh, rope, knorm ? Rand(r, dh).Select(v => 1 + 0.3f * v).ToArray() : null, 1e-6f, window > 0 ? window : null);
        var q = Rand(r, T * H * dh);
        int zDim = LatentAttentionKernels.ZOffsets(V, H, Hkv)[H];
        var zRef = new float[T * zDim];
        var zFast = new float[T * zDim];
        LatentAttentionKernels.Reference(q, cache, K, V, T, startPos, s, zRef);
        LatentAttentionKernels.Fast(q, cache, K, V, T, startPos, s, LatentAttentionKernels.ZOffsets(V, H, Hkv), zFast, new LatentScratch());
        float max = zRef.Max(Math.Abs), diff = zRef.Zip(zFast, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff / max < 1e-5, $"rel err {diff / max:E2}");
    }

    /// <summary>A = W (rows of the group), B = I: an exact factorisation, so the latent model must equal the dense one.</summary>
    static LatentProjection Exact(DenseLinear w, int groupSize, int dh)
    {
        int d = w.In, width = groupSize * dh, groups = w.Out / width;
        var up = new float[groups][];
        var bias = new float[]?[groups];
        for (int g = 0; g < groups; g++)
        {
            up[g] = new float[width * width];
            for (int i = 0; i < width; i++) up[g][i * width + i] = 1f;
            bias[g] = w.Bias?.AsSpan(g * width, width).ToArray();
        }
        var down = new DenseLinear(WeightMatrix.FromFloats(w.Weight.ToFloats(), w.Out, d));
        return new LatentProjection(groupSize, dh, down, up, bias);
    }

    public static IEnumerable<object[]> ModelCases() =>
    [
        ["LlamaForCausalLM", 4, 4, 2, false],
        ["LlamaForCausalLM", 8, 4, 4, true],
        ["Qwen2ForCausalLM", 6, 2, 1, false],
        ["Qwen3ForCausalLM", 4, 2, 2, true],
        ["MistralForCausalLM", 4, 2, 2, false],
    ];

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void ExactLatentModelEqualsDense(string arch, int heads, int kvHeads, int groupSize, bool fuse)
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.Path, new RandomModelSpec
        {
            Architecture = arch, Heads = heads, KvHeads = kvHeads, HeadDim = 16, Hidden = 48,
            SlidingWindow = arch == "MistralForCausalLM" ? 5 : null,
        }, seed: heads * 7 + kvHeads);
        using var dense = CausalLM.Load(tmp.Path);
        using var latent = CausalLM.Load(tmp.Path);
        foreach (var layer in latent.Layers)
        {
            var da = (DenseAttention)layer.Attention;
            layer.Attention = new LatentAttention(Exact((DenseLinear)da.K, groupSize, 16), Exact((DenseLinear)da.V, groupSize, 16),
                (DenseLinear)da.O, da.KNorm, latent.AttentionShape, fuse);
        }
        int[] ids = [1, 5, 77, 3, 200, 9, 14, 15, 92, 65, 35, 89];
        var want = Run(dense, ids, stepwise: false);
        foreach (bool stepwise in new[] { false, true })
        {
            var got = Run(latent, ids, stepwise);
            float max = want.Max(Math.Abs), diff = want.Zip(got, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff / max < 1e-5, $"{arch} stepwise={stepwise}: rel err {diff / max:E2}");
        }
    }

    internal static float[] Run(CausalLM lm, int[] ids, bool stepwise)
    {
        using var cache = lm.CreateCache(ids.Length);
        var hidden = new float[ids.Length * lm.Hidden];
        if (stepwise)
            for (int t = 0; t < ids.Length; t++) lm.Forward(ids.AsSpan(t, 1), cache, hidden.AsSpan(t * lm.Hidden, lm.Hidden));
        else
            lm.Forward(ids, cache, hidden);
        var logits = new float[ids.Length * lm.Vocab];
        lm.Logits(hidden, logits, ids.Length);
        return logits;
    }
}
