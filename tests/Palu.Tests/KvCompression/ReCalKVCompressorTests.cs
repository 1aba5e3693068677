using Palu.Compression;
using Palu.IO;
using Palu.Models;
using Palu.Tests.CommandLine;
using Palu.Text;

namespace Palu.Tests.KvCompression;

/// <summary>ReCalKV end to end: lossless at keep 1, the reordered runtime against an explicitly permuted model, biases, bad input.</summary>
public class ReCalKVCompressorTests
{
    static readonly string Calib = TestPaths.Data("calib/corpus-train-2M.txt");
    const int Kv = 4, Q = 8, Dh = 16, Hidden = 64;

    static PaluOptions Palu(double keep, int group, int seqLen = 128) => new()
    {
        KvKeep = keep, GroupSize = group, CalibrationFile = Calib, CalibrationSamples = 4, CalibrationSeqLen = seqLen,
        Whitening = WhiteningKind.Sqrt, Overwrite = true,
    };

    static ReCalKVOptions Variant(ReCalKVVariant v) => new() { Variant = v, OvcSamples = 4, OvcIterations = 2 };

    static float MaxRelDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max() / a.Max(Math.Abs);

    [Theory]
    [InlineData(ReCalKVVariant.Full)]
    [InlineData(ReCalKVVariant.ReorderOnly)]
    [InlineData(ReCalKVVariant.CalibrateOnly)]
    [InlineData(ReCalKVVariant.Baseline)]
    public void EveryVariantIsLosslessAtKeepOne(ReCalKVVariant variant)
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("stories260k"), dst = tmp.File("out");   // GQA 8/4: two groups of two KV heads
        var plan = ReCalKVCompressor.Compress(src, dst, Palu(1.0, 2), Variant(variant));
        Assert.Equal("recalkv", plan.Kv!.Method);
        Assert.Single(plan.Modules.First(m => m.Name.EndsWith("v_proj")).Groups!);   // values: one joint group
        using var a = CausalLM.Load(src);
        using var b = CausalLM.Load(dst);
        var tok = Tokenizer.FromDirectory(src);
        int[] ids = tok.Encode("Once upon a time, a little girl found a red ball in the park. She was very happy.", true);
        float rel = MaxRelDiff(LatentAttentionTests.Run(a, ids, false), LatentAttentionTests.Run(b, ids, true));
        Assert.True(rel < 1e-3, $"{variant}: logits rel diff {rel:E2}");
        CompressorTests.AssertSamePerplexity(a, b, tok, "tinystories/valid-slice.txt", 12000, 3, variant.ToString());
    }

    /// <summary>
    /// ReCalKV composes with the quantised latents: <c>--hadamard</c> at 16 bits changes nothing (the rotation is exact),
    /// and <c>--kv-bits 4</c> stores both the HSR key groups and the joint value group packed.
    /// </summary>
    [Fact]
    public void HadamardAndLowBitLatentsComposeWithReCalKV()
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("stories260k");
        var plain = Palu(0.5, 2);
        ReCalKVCompressor.Compress(src, tmp.File("plain"), plain, Variant(ReCalKVVariant.Full));
        var rotated = ReCalKVCompressor.Compress(src, tmp.File("rot"), plain with { Hadamard = true }, Variant(ReCalKVVariant.Full));
        Assert.All(rotated.Modules.Where(m => m.Kind == ModulePlan.KvLatent), m => Assert.All(m.Groups!, g => Assert.NotNull(g.Rotation)));
        var packed = ReCalKVCompressor.Compress(src, tmp.File("q4"), plain with { Hadamard = true, KvBits = 4 }, Variant(ReCalKVVariant.Full));
        Assert.All(packed.Modules.Where(m => m.Kind == ModulePlan.KvLatent), m => Assert.Equal(4, m.Bits));

        var tok = Tokenizer.FromDirectory(src);
        int[] ids = tok.Encode("Once upon a time, a little girl found a red ball in the park. She was very happy.", true);
        using var a = CausalLM.Load(tmp.File("plain"));
        using var b = CausalLM.Load(tmp.File("rot"));
        using var q = CausalLM.Load(tmp.File("q4"));
        float[] la = LatentAttentionTests.Run(a, ids, true), lb = LatentAttentionTests.Run(b, ids, true), lq = LatentAttentionTests.Run(q, ids, true);
        Assert.True(MaxRelDiff(la, lb) < 1e-4, $"Hadamard at 16 bits: logits rel diff {MaxRelDiff(la, lb):E2}");
        float dq = MaxRelDiff(lb, lq);
        Assert.True(dq > 0 && dq < 0.5, $"4-bit latents: logits rel diff {dq:E2} (quantisation must change the logits, a little)");
        using var sa = a.NewSequence(8);
        using var sq = q.NewSequence(8);
        Assert.True(sq.BytesPerToken * 4 < sa.BytesPerToken, $"4-bit cache {sq.BytesPerToken} B/token vs f32 latents {sa.BytesPerToken}");
    }

    /// <summary>
    /// A biased (Qwen2) GQA model whose key heads come in similar pairs (0, 3) and (1, 2): HSR groups them, and the
    /// model compressed with those groups equals the same model with its heads explicitly permuted to [0, 3, 1, 2]
    /// (q/k/v rows, biases, o_proj columns) compressed with consecutive groups. Biases travel with their heads (the
    /// reference keeps them in the original order, §12.4); at keep 1 the reordered model is lossless.
    /// </summary>
    [Fact]
    public void ReorderedRuntimeEqualsExplicitlyPermutedModel()
    {
        using var tmp = TestPaths.Temp();
        string raw = tmp.File("raw"), src = tmp.File("src"), permuted = tmp.File("perm");
        RandomCheckpoint.Write(raw, new RandomModelSpec { Architecture = "Qwen2ForCausalLM", Heads = Q, KvHeads = Kv, HeadDim = Dh, Hidden = Hidden, Vocab = 512 }, seed: 17);
        var noise = new global::Palu.LinearAlgebra.Gaussian(3);
        CheckpointEdit.Rewrite(raw, src, TestPaths.Model("stories260k"), (name, w) =>
        {
            if (!name.EndsWith("k_proj.weight")) return w;
            foreach (var (from, to) in new[] { (0, 3), (1, 2) })   // head `to` = noisy copy of head `from`
                for (int i = 0; i < Dh * Hidden; i++) w[to * Dh * Hidden + i] = w[from * Dh * Hidden + i] + 0.01f * (float)noise.Next();
            return w;
        });
        int[] order = [0, 3, 1, 2];
        CheckpointEdit.Rewrite(src, permuted, src, (name, w) => CheckpointEdit.PermuteHeads(name, w, order, Q / Kv, Dh, Hidden));

        var ids = Enumerable.Range(0, 40).Select(i => (i * 37 + 5) % 512).ToArray();
        using (var a = CausalLM.Load(src))
        using (var b = CausalLM.Load(permuted))
            Assert.True(MaxRelDiff(LatentAttentionTests.Run(a, ids, false), LatentAttentionTests.Run(b, ids, false)) < 1e-5, "the permuted dense model differs");

        var reordered = ReCalKVCompressor.Compress(src, tmp.File("hsr"), Palu(0.5, 2), Variant(ReCalKVVariant.ReorderOnly));
        var groups = reordered.Module("model.layers.0.self_attn.k_proj")!.Groups!.Select(g => g.Heads).ToArray();
        Assert.Equal([[0, 3], [1, 2]], groups);
        Assert.NotNull(reordered.Module("model.layers.0.self_attn.k_proj")!.Groups![0].Bias);
        ReCalKVCompressor.Compress(permuted, tmp.File("ref"), Palu(0.5, 2), Variant(ReCalKVVariant.Baseline));
        using (var a = CausalLM.Load(tmp.File("hsr")))
        using (var b = CausalLM.Load(tmp.File("ref")))
        {
            float rel = MaxRelDiff(LatentAttentionTests.Run(b, ids, false), LatentAttentionTests.Run(a, ids, true));
            Assert.True(rel < 1e-4, $"reordered vs permuted reference: rel diff {rel:E2}");
        }

        ReCalKVCompressor.Compress(src, tmp.File("full"), Palu(1.0, 2), Variant(ReCalKVVariant.Full));
        using var dense = CausalLM.Load(src);
        using var full = CausalLM.Load(tmp.File("full"));
        var pairs = full.Plan!.Module("model.layers.1.self_attn.k_proj")!.Groups!.Select(g => string.Join(",", g.Heads.Order())).Order();
        Assert.Equal(["0,3", "1,2"], pairs);   // groups in either order
        foreach (bool fuse in new[] { false, true })
        {
            using var lm = CausalLM.Load(tmp.File("full"), new LoadOptions { FuseValues = fuse });
            float rel = MaxRelDiff(LatentAttentionTests.Run(dense, ids, false), LatentAttentionTests.Run(lm, ids, false));
            Assert.True(rel < 1e-3, $"biased model at keep 1 (fuse {fuse}): rel diff {rel:E2}");
        }
    }

    /// <summary>Layer-wise propagation and dense activations give different OVC fits; both never raise the error.</summary>
    [Fact]
    public void OvcRecordsErrorsThatDoNotRise()
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("stories260k");
        var before = new List<double[]>();
        foreach (var act in new[] { OvcActivations.Propagated, OvcActivations.Dense })
        {
            var rc = Variant(ReCalKVVariant.Full) with { Activations = act };
            var info = ReCalKVCompressor.Compress(src, tmp.File(act.ToString()), Palu(0.5, 2), rc).Kv!.ReCalKV!;
            Assert.Equal(ReCalKVOptions.Name(act), info.OvcActivations);
            for (int l = 0; l < info.OvcErrorAfter!.Length; l++) Assert.True(info.OvcErrorAfter[l] <= info.OvcErrorBefore![l], $"{act} layer {l}");
            before.Add(info.OvcErrorBefore!);
        }
        Assert.Equal(before[0][0], before[1][0], 9);        // layer 0 sees the same activations either way
        Assert.NotEqual(before[0][^1], before[1][^1]);      // the last layer sees the compressed layers below
    }

    [Fact]
    public void BadInputIsExplainedBeforeAnyWork()
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("stories260k"), dst = tmp.File("out");
        void Fails<T>(PaluOptions o, ReCalKVOptions rc, string expected) where T : Exception
        {
            var e = Assert.Throws<T>(() => ReCalKVCompressor.Compress(src, dst, o, rc));
            Assert.Contains(expected, e.Message);
            Assert.False(Directory.Exists(dst));
        }
        Fails<ArgumentException>(Palu(0.5, 3), Variant(ReCalKVVariant.Full), "--group-size 3 must divide the number of KV heads (4)");
        Fails<ArgumentException>(Palu(0.5, 2, seqLen: 512), Variant(ReCalKVVariant.Full) with { OvcSamples = 100_000 }, "--ovc-samples 100000 is beyond the calibration text");
        Fails<ArgumentException>(Palu(0.5, 2), Variant(ReCalKVVariant.Full) with { FuseValues = true, FuseMemoryLimitBytes = 1000 }, "--fuse-values: the fused o_proj");
        var v = Assert.Throws<ArgumentException>(() => ReCalKVOptions.ParseVariant("fancy"));
        Assert.Contains("full, reorder-only, calibrate-only, baseline", v.Message);

        var r = CliRunner.Run("compress", src, "--out", dst, "--method", "recalkv", "--method-variant", "fancy");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--method-variant 'fancy' is not a ReCalKV variant", r.Stderr);
        Assert.False(Directory.Exists(dst));
    }
}
