using Palu.IO;
using Palu.Kernels.Cpu;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Tests.KvCompression;

public class LatentAttentionTests
{
    static float[] Rand(Random r, int n, float std = 1f) => Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * std)).ToArray();

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
    public unsafe void FastMatchesReference(int H, int Hkv, int dh, int sk, int sv, int T, int startPos, int window, bool bias, bool knorm)
    {
        var r = new Random(H * 1000 + dh + T);
        int S = startPos + T;
        var rope = new RopeTable(dh, 1024, 10000);
        int[] kr = Enumerable.Range(0, Hkv / sk).Select(g => 3 + 2 * g).ToArray();
        int[] vr = Enumerable.Range(0, Hkv / sv).Select(g => 5 + g).ToArray();
        // per group: latents [S, r]; per KV head: B rows [d_h, r^K], bias [d_h]
        var kLat = kr.Select(rk => NativeBuffer.FromFloats(Rand(r, S * rk))).ToArray();
        var vLat = vr.Select(rv => NativeBuffer.FromFloats(Rand(r, S * rv))).ToArray();
        var ups = Enumerable.Range(0, Hkv).Select(h => WeightMatrix.FromFloats(Rand(r, dh * kr[h / sk], 0.3f), dh, kr[h / sk])).ToArray();
        var biases = Enumerable.Range(0, Hkv).Select(_ => NativeBuffer.FromFloats(Rand(r, dh, 0.5f))).ToArray();
        var heads = Enumerable.Range(0, Hkv).Select(h => new LatentHeadView((float*)kLat[h / sk].Pointer, kr[h / sk], ups[h],
            bias ? (float*)biases[h].Pointer : null, (float*)vLat[h / sv].Pointer, vr[h / sv])).ToArray();
        var s = new LatentAttentionShape(H, Hkv, dh, rope, 1e-6f, window > 0 ? window : null);
        var kNorm = knorm ? Rand(r, dh).Select(v => 1 + 0.3f * v).ToArray() : [];
        var q = Rand(r, T * H * dh);
        var zOff = LatentAttentionKernels.ZOffsets(Enumerable.Range(0, Hkv).Select(h => vr[h / sv]).ToArray(), H);
        var zRef = new float[T * zOff[H]];
        var zFast = new float[T * zOff[H]];
        LatentAttentionKernels.Reference(q, heads, kNorm, T, startPos, s, zOff, zRef);
        LatentAttentionKernels.Fast(q, heads, kNorm, T, startPos, s, zOff, zFast);
        float max = zRef.Max(Math.Abs), diff = zRef.Zip(zFast, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff / max < 1e-5, $"rel err {diff / max:E2}");
        foreach (var b in kLat.Concat(vLat).Concat(biases)) b.Dispose();
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
        RandomCheckpoint.Write(tmp.File("dense"), new RandomModelSpec
        {
            Architecture = arch, Heads = heads, KvHeads = kvHeads, HeadDim = 16, Hidden = 48,
            SlidingWindow = arch == "MistralForCausalLM" ? 5 : null,
        }, seed: heads * 7 + kvHeads);
        // groups of consecutive heads, and the same groups with their heads in reverse (explicit head → (group, slot))
        var consecutive = Palu.Compression.PaluPlan.ConsecutiveGroups(kvHeads, groupSize);
        var reversed = consecutive.Reverse().Select(g => g.Reverse().ToArray()).ToArray();
        ExactLatentCheckpoint.Write(tmp.File("dense"), tmp.File("latent"), consecutive);
        ExactLatentCheckpoint.Write(tmp.File("dense"), tmp.File("permuted"), reversed);
        using var dense = CausalLM.Load(tmp.File("dense"));
        int[] ids = [1, 5, 77, 3, 200, 9, 14, 15, 92, 65, 35, 89];
        var want = Run(dense, ids, stepwise: false);
        foreach (var dir in new[] { "latent", "permuted" })
        {
            using var latent = CausalLM.Load(tmp.File(dir), new LoadOptions { FuseValues = fuse });
            Assert.IsType<LatentAttention>(latent.Layers[0].Attention);
            foreach (bool stepwise in new[] { false, true })
            {
                var got = Run(latent, ids, stepwise);
                float max = want.Max(Math.Abs), diff = want.Zip(got, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(diff / max < 1e-5, $"{arch} {dir} stepwise={stepwise}: rel err {diff / max:E2}");
            }
        }
    }

    internal static float[] Run(CausalLM lm, int[] ids, bool stepwise)
    {
        using var seq = lm.NewSequence(ids.Length);
        var hidden = new float[ids.Length * lm.Hidden];
        if (stepwise)
            for (int t = 0; t < ids.Length; t++) lm.Forward(ids.AsSpan(t, 1), seq, hidden.AsSpan(t * lm.Hidden, lm.Hidden));
        else
            lm.Forward(ids, seq, hidden);
        var logits = new float[ids.Length * lm.Vocab];
        lm.Logits(hidden, logits, ids.Length);
        return logits;
    }
}
