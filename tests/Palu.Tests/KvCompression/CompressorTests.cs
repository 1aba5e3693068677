using Palu.Compression;
using Palu.Evaluation;
using Palu.IO;
using Palu.LinearAlgebra;
using Palu.Models;
using Palu.Text;

namespace Palu.Tests.KvCompression;

public class CompressorTests
{
    static readonly string Calib = TestPaths.Data("calib/corpus-train-2M.txt");

    static PaluOptions Small(double keep, int group, int seqLen = 256) => new()
    {
        KvKeep = keep, GroupSize = group, CalibrationFile = Calib, CalibrationSamples = 6, CalibrationSeqLen = seqLen, Overwrite = true,
    };

    static float MaxRelDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max() / a.Max(Math.Abs);

    [Theory]
    [InlineData("tiny", 1)]      // MHA, M-LRD
    [InlineData("tiny", 3)]      // MHA, J-LRD
    [InlineData("stories260k", 2)]   // GQA 8/4, G-LRD
    public void FullRankEqualsOriginal(string model, int group)
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model(model), dst = tmp.File("out");
        var m = PaluCompressor.Compress(src, dst, Small(1.0, group));
        Assert.Equal(1.0, m.Kv!.RealizedKeep);
        using var a = CausalLM.Load(src);
        using var b = CausalLM.Load(dst);
        Assert.IsType<LatentAttention>(b.Layers[0].Attention);
        int[] ids = new Tokenizer[] { Tokenizer.FromDirectory(src) }[0].Encode("The keeper climbed the one hundred and twelve steps, trimmed the wick and lit the lamp.", true);
        foreach (bool fuse in new[] { false, true })
        {
            using var bf = CausalLM.Load(dst, new LoadOptions { FuseValues = fuse });
            float rel = MaxRelDiff(LatentAttentionTests.Run(a, ids, false), LatentAttentionTests.Run(bf, ids, false));
            Assert.True(rel < 1e-3, $"{model} s={group} fuse={fuse}: logits rel diff {rel:E2}");
        }
        // perplexity on the first windows of WikiText-2 within 0.1 %
        AssertSamePerplexity(a, b, Tokenizer.FromDirectory(src), "wikitext-2-raw/wiki.test.raw", 20000, 4, model);
    }

    /// <summary>Perplexities of <paramref name="a"/> and <paramref name="b"/> within 0.1 % on the first <paramref name="windows"/>
    /// 256-token windows of the first <paramref name="chars"/> characters of a shared data file.</summary>
    internal static void AssertSamePerplexity(CausalLM a, CausalLM b, Tokenizer tok, string data, int chars, int windows, string what)
    {
        var stream = tok.Encode(File.ReadAllText(TestPaths.Data(data))[..chars]);
        var w = Perplexity.Windows(stream, 256, PerplexityProtocol.BosWindows, tok.BosTokenId, windows);
        double pa = Perplexity.Evaluate(a, w).Ppl, pb = Perplexity.Evaluate(b, w).Ppl;
        Assert.True(Math.Abs(pb / pa - 1) < 1e-3, $"{what}: ppl {pa} vs {pb}");
    }

    [Fact]
    public void FullRankBiasedGqaModelEqualsOriginal()
    {
        using var tmp = TestPaths.Temp();
        string src = tmp.File("src"), dst = tmp.File("out");
        RandomCheckpoint.Write(src, new RandomModelSpec { Architecture = "Qwen2ForCausalLM", Heads = 8, KvHeads = 4, HeadDim = 16, Hidden = 64 }, seed: 9);
        // Random models ship no tokenizer: plain SVD needs no calibration text.
        PaluCompressor.Compress(src, dst, new PaluOptions { KvKeep = 1.0, GroupSize = 2, Decomposition = DecompositionMethod.Svd });
        using var a = CausalLM.Load(src);
        using var b = CausalLM.Load(dst);
        Assert.True(b.Config.QkvBias);
        int[] ids = Enumerable.Range(0, 30).Select(i => (i * 37 + 5) % 256).ToArray();
        float rel = MaxRelDiff(LatentAttentionTests.Run(a, ids, false), LatentAttentionTests.Run(b, ids, true));
        Assert.True(rel < 1e-3, $"rel diff {rel:E2}");
    }

    [Fact]
    public void LowerKeepLowersCacheAndKeepsQualityOrdered()
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("tiny");
        var tok = Tokenizer.FromDirectory(src);
        var stream = tok.Encode(File.ReadAllText(TestPaths.Data("wikitext-2-raw/wiki.test.raw"))[..30000]);
        var windows = Perplexity.Windows(stream, 512, PerplexityProtocol.BosWindows, tok.BosTokenId, 3);
        double last = 0;
        long lastBytes = long.MaxValue;
        foreach (var keep in new[] { 1.0, 0.7, 0.3 })
        {
            string dst = tmp.File($"k{keep}");
            var m = PaluCompressor.Compress(src, dst, Small(keep, 1));
            using var lm = CausalLM.Load(dst);
            using var cache = lm.NewSequence(16);
            double ppl = Perplexity.Evaluate(lm, windows).Ppl;
            Assert.True(ppl >= last * 0.999, $"keep {keep}: ppl {ppl} < {last} at higher keep");
            Assert.True(cache.BytesPerToken < lastBytes);
            Assert.Equal(Enumerable.Range(0, lm.Config.NumLayers).Select(m.KvRanks).Sum(r => r.K.Sum() + r.V.Sum()) * 4L, cache.BytesPerToken);
            last = ppl; lastBytes = cache.BytesPerToken;
        }
    }

    [Fact]
    public void RanksRoundToMultiplesWithinWidth()
    {
        Assert.Equal(32, RankAllocation.Round(0.5 * 64, 64));
        Assert.Equal(48, RankAllocation.Round(0.7 * 64, 64));     // 44.8 / 8 = 5.6 → 6·8
        Assert.Equal(16, RankAllocation.Round(0.3 * 64, 64));     // 19.2 / 8 = 2.4 → 2·8
        Assert.Equal(8, RankAllocation.Round(0.01 * 64, 64));     // at least one step
        Assert.Equal(256, RankAllocation.Round(0.5 * 512, 512));  // Palu: multiples of 32
        Assert.Equal(352, RankAllocation.Round(0.7 * 512, 512));  // 358.4 / 32 = 11.2 → 11·32
        Assert.Equal(64, RankAllocation.Round(1.0 * 64, 64));
        Assert.Equal(40, RankAllocation.Round(40, 64));           // exact multiple stays
        Assert.Equal(32, RankAllocation.Round(36, 64));           // 4.5 → 4 (half to even)
        Assert.Equal(48, RankAllocation.Round(44, 64));           // 5.5 → 6 (half to even)
    }

    [Theory]
    [InlineData(0.0, 1, "--kv-keep")]
    [InlineData(1.5, 1, "--kv-keep")]
    [InlineData(-0.2, 1, "--kv-keep")]
    [InlineData(0.5, 2, "must divide the number of KV heads (3)")]
    public void BadOptionsAreExplained(double keep, int group, string expected)
    {
        using var tmp = TestPaths.Temp();
        var e = Assert.Throws<ArgumentException>(() => PaluCompressor.Compress(TestPaths.Model("tiny"), tmp.File("o"), Small(keep, group)));
        Assert.Contains(expected, e.Message);
        Assert.False(Directory.Exists(tmp.File("o")));
    }

    [Fact]
    public void ShortCalibrationTextIsExplained()
    {
        using var tmp = TestPaths.Temp();
        File.WriteAllText(tmp.File("short.txt"), "Only a few words of calibration text.");
        var o = Small(0.5, 1) with { CalibrationFile = tmp.File("short.txt") };
        var e = Assert.Throws<ModelFormatException>(() => PaluCompressor.Compress(TestPaths.Model("tiny"), tmp.File("o"), o));
        Assert.Contains("calibration text too short", e.Message);
        Assert.Contains("short.txt", e.Message);
    }

    [Fact]
    public void CholeskyFailureBeyondJitterIsExplained()
    {
        var la = LinearAlgebraProvider.Default;
        // 1e20·[[1, 1], [1, 1]]: rank one; its λ_min is round-off (≈1e4 in magnitude), so the shift −λ_min + ε vanishes
        // against the 1e20 diagonal and Cholesky fails again: the message says why and what to change.
        double[] g = [1e20, 1e20, 1e20, 1e20];
        var e = Assert.Throws<LinearAlgebraException>(() => la.WhiteningFactor(g, 2, 1e-3));
        Assert.Contains("not positive definite even after adding", e.Message);
        Assert.Contains("raise it", e.Message);
        // A NaN in the Gram is named as such, with its position.
        var n = new double[4 * 4];
        for (int i = 0; i < 4; i++) n[i * 4 + i] = 1;
        n[6] = double.NaN;
        var f = Assert.Throws<LinearAlgebraException>(() => la.WhiteningFactor(n, 4, 1e-3));
        Assert.Contains("non-finite entry at (1, 2)", f.Message);
    }

    [Fact]
    public void CancelledRunLeavesNoOutput()
    {
        using var tmp = TestPaths.Temp();
        using var cts = new CancellationTokenSource();
        var progress = new Cli.Cli.SyncProgress<CompressProgress>(p => { if (p.Stage == "calibrating" && p.Fraction > 0.3) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            PaluCompressor.Compress(TestPaths.Model("tiny"), tmp.File("o"), Small(0.5, 1), progress: progress, ct: cts.Token));
        Assert.False(Directory.Exists(tmp.File("o")));
        Assert.Empty(Directory.GetDirectories(tmp.Path));
    }

    [Fact]
    public void CompressedDirectoryWithoutManifestFailsClearly()
    {
        using var tmp = TestPaths.Temp();
        string dst = tmp.File("o");
        PaluCompressor.Compress(TestPaths.Model("tiny"), dst, Small(0.5, 3));
        var cfg = File.ReadAllText(Path.Combine(dst, "config.json"));
        Assert.Contains("\"PaluLlamaForCausalLM\"", cfg);   // other tools see an unknown architecture, not a Llama with missing weights
        File.Delete(Path.Combine(dst, "palu.json"));
        var e = Assert.Throws<ModelFormatException>(() => CausalLM.Load(dst));
        Assert.Contains("palu.json is missing", e.Message);
    }

    [Fact]
    public void ExistingOutputNeedsOverwrite()
    {
        using var tmp = TestPaths.Temp();
        string dst = tmp.File("o");
        Directory.CreateDirectory(dst);
        File.WriteAllText(Path.Combine(dst, "keep.txt"), "x");
        var e = Assert.Throws<IOException>(() => PaluCompressor.Compress(TestPaths.Model("tiny"), dst, Small(0.5, 1) with { Overwrite = false }));
        Assert.Contains("--overwrite", e.Message);
        Assert.True(File.Exists(Path.Combine(dst, "keep.txt")));
    }
}
