using Palu.Compression;
using Palu.Evaluation;
using Palu.IO;
using Palu.Models;
using Palu.Text;
using Palu.Training;

namespace Palu.Tests.Compression;

public class FisherAllocationTests
{
    [Fact]
    public void DeficitGoesByFractionalPartInTheChosenOrder()
    {
        // ideal [0.5, 1, 1.5, 2] → floors [0, 1, 1, 2], deficit 1, fractional parts [0.5, 0, 0.5, 0]
        double[] f = [1, 2, 3, 4];
        int[] caps = [10, 10, 10, 10];
        Assert.Equal([0, 2, 1, 2], FisherAllocation.Distribute(f, caps, 5, DeficitMode.StopAtZero, RemainderOrder.Ascending));
        Assert.Equal([1, 1, 1, 2], FisherAllocation.Distribute(f, caps, 5, DeficitMode.StopAtZero, RemainderOrder.Descending));
    }

    [Fact]
    public void CapsAreRespectedAndTheBudgetIsMet()
    {
        // ideal [10, 1, 1]: the first entry is capped at 4, the other two absorb the rest pass by pass
        Assert.Equal([4, 4, 4], FisherAllocation.Distribute([10, 1, 1], [4, 8, 8], 12, DeficitMode.StopAtZero, RemainderOrder.Ascending));
        // everything capped below the budget: stops instead of looping
        Assert.Equal([2, 2], FisherAllocation.Distribute([1, 1], [2, 2], 7, DeficitMode.PaluPass, RemainderOrder.Ascending));
    }

    [Fact]
    public void PaluPassOvershootsAFractionalBudgetByUpToOnePass()
    {
        // ideal 2.625 each: floors sum to 8, deficit 2.5
        double[] f = [1, 1, 1, 1];
        int[] caps = [100, 100, 100, 100];
        Assert.Equal(11, FisherAllocation.Distribute(f, caps, 10.5, DeficitMode.StopAtZero, RemainderOrder.Ascending).Sum());
        Assert.Equal(12, FisherAllocation.Distribute(f, caps, 10.5, DeficitMode.PaluPass, RemainderOrder.Ascending).Sum());
        // an integral budget is met exactly by both
        Assert.Equal(10, FisherAllocation.Distribute(f, caps, 10, DeficitMode.PaluPass, RemainderOrder.Ascending).Sum());
        Assert.Equal(10, FisherAllocation.Distribute(f, caps, 10, DeficitMode.StopAtZero, RemainderOrder.Ascending).Sum());
    }

    /// <summary>Fisher row means for K and V (the only ones allocation reads): value(layer, kind, row).</summary>
    static FisherInfo Info(int layers, int kvDim, Func<int, LinearKind, int, float> value)
    {
        var rows = new float[layers * 7][];
        for (int l = 0; l < layers; l++)
            foreach (var k in LinearKinds.All)
                rows[l * 7 + (int)k] = k is LinearKind.K or LinearKind.V
                    ? Enumerable.Range(0, kvDim).Select(r => value(l, k, r)).ToArray() : [1f];
        var meta = new FisherMetadata
        {
            ModelSha256 = "m", CalibrationFile = "c", CalibrationSha256 = "c", Samples = 1, SeqLen = 2, Seed = 0,
            Objective = LabelObjective.NextToken, Tokens = 1,
        };
        return new FisherInfo { Metadata = meta, Layers = layers, Rows = rows, Cols = rows };
    }

    [Fact]
    public void FisherUniformSplitsEachModuleEvenlyOverItsGroups()
    {
        // 2 layers, 2 groups of width 64 (full 128 per module); module scores K0 1, V0 3, K1 2, V1 2; keep 0.5 → T = 256
        var scores = new Dictionary<(int, LinearKind), float> { [(0, LinearKind.K)] = 1, [(0, LinearKind.V)] = 3, [(1, LinearKind.K)] = 2, [(1, LinearKind.V)] = 2 };
        var info = Info(2, 128, (l, k, r) => scores[(l, k)] * (r < 64 ? 0.5f : 1.5f));   // within-module spread must not matter
        var a = FisherAllocation.FisherUniform(info, 2, 2, 64, 0.5);
        Assert.Equal(256, a.TargetRank);
        Assert.Equal(256, a.AllocatedRank);
        Assert.Equal([16, 16], a.Ranks[0].KRanks);
        Assert.Equal([48, 48], a.Ranks[0].VRanks);
        Assert.Equal([32, 32], a.Ranks[1].KRanks);
        Assert.Equal([32, 32], a.Ranks[1].VRanks);
        Assert.Equal(0.5, a.RealizedKeep);
    }

    [Fact]
    public void FisherAllocatesPerGroupWithCapsAndRounding()
    {
        // 1 layer, 2 groups of width 64; group scores K: 10, 1; V: 1, 1; keep 0.5 → T = 128.
        // ideal [98.5, 9.8, 9.8, 9.8] → K g0 capped at 64, the deficit goes to the others: [64, 22, 21, 21] → rounded to 8s
        var info = Info(1, 128, (l, k, r) => k == LinearKind.K && r < 64 ? 10f : 1f);
        var a = FisherAllocation.Fisher(info, 1, 2, 64, 0.5);
        Assert.Equal(128, a.AllocatedRank);
        Assert.Equal([64, 24], a.Ranks[0].KRanks);
        Assert.Equal([24, 24], a.Ranks[0].VRanks);
        Assert.Equal(136, a.RoundedRank);
        Assert.Equal(256, a.FullRank);
        // equal scores give the uniform allocation
        var flat = FisherAllocation.Fisher(Info(3, 128, (_, _, _) => 0.3f), 3, 2, 64, 0.5);
        Assert.All(flat.Ranks, l => { Assert.Equal([32, 32], l.KRanks); Assert.Equal([32, 32], l.VRanks); });
    }

    [Theory]
    [InlineData("fisher_uniform", 1)]
    [InlineData("fisher", 3)]
    public void CompressWithFisherComputesThenReusesTheCache(string method, int group)
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("tiny");
        var o = new PaluOptions
        {
            KvKeep = 0.5, GroupSize = group, RankAllocation = RankAllocation.Parse(method),
            CalibrationFile = TestPaths.Data("calib/corpus-train-2M.txt"), CalibrationSamples = 4, CalibrationSeqLen = 128,
            FisherSamples = 3, FisherSeqLen = 96, FisherCacheDir = tmp.File("cache"), Overwrite = true,
        };
        var m1 = PaluCompressor.Compress(src, tmp.File("a"), o);
        var m2 = PaluCompressor.Compress(src, tmp.File("b"), o);
        Assert.Equal(method, m1.Kv!.RankAllocation);
        Assert.Equal("computed", m1.Kv!.Fisher!.Source);
        Assert.Equal("cache", m2.Kv!.Fisher!.Source);
        Assert.Equal(m1.Kv!.Fisher!.Path, m2.Kv!.Fisher.Path);
        Assert.Equal(3, m1.Kv!.Fisher!.Samples);
        Assert.Equal(96, m1.Kv!.Fisher!.SeqLen);
        for (int l = 0; l < 4; l++) { Assert.Equal(m1.KvRanks(l).K, m2.KvRanks(l).K); Assert.Equal(m1.KvRanks(l).V, m2.KvRanks(l).V); }
        // the budget: 4 layers × 2 projections × 192 rows → T = 768; ranks are not all alike
        Assert.Equal(768, m1.Kv!.Fisher!.TargetRank);
        Assert.Equal(768, m1.Kv!.Fisher!.AllocatedRank);
        var all = Enumerable.Range(0, 4).Select(m1.KvRanks).SelectMany(r => r.K.Concat(r.V)).ToArray();
        Assert.True(all.Distinct().Count() > 1, "Fisher allocation came out uniform: " + string.Join(",", all));
        Assert.All(all, r => Assert.True(r % 8 == 0 && r <= group * 64));
        Assert.InRange(m1.Kv.RealizedKeep, 0.45, 0.55);
        Assert.Equal(m1.Kv.RealizedKeep, CompressionPlan.Load(tmp.File("a"), qkvBias: false).Kv!.RealizedKeep);
        Assert.Equal("computed", CompressionPlan.Load(tmp.File("a"), qkvBias: false).Kv!.Fisher!.Source);

        // an explicit file gives the same ranks; the compressed model runs
        var m3 = PaluCompressor.Compress(src, tmp.File("c"), o with { FisherFile = m1.Kv!.Fisher!.Path, FisherCacheDir = tmp.File("unused") });
        Assert.Equal("file", m3.Kv!.Fisher!.Source);
        Assert.Equal(m1.KvRanks(2).V, m3.KvRanks(2).V);
        Assert.False(Directory.Exists(tmp.File("unused")));
        using var lm = CausalLM.Load(tmp.File("c"));
        var tok = Tokenizer.FromDirectory(src);
        var ids = tok.Encode("Once upon a time there was a lighthouse keeper who lived by the sea.", true);
        var (nll, n) = Perplexity.WindowNll(lm, ids, 1);
        Assert.True(double.IsFinite(nll) && nll / n < 10, $"mean NLL {nll / n}");
    }

    [Fact]
    public void FisherAllocationWithoutCalibrationOrFileIsAUserError()
    {
        using var tmp = TestPaths.Temp();
        var ex = Assert.Throws<ArgumentException>(() => PaluCompressor.Compress(TestPaths.Model("tiny"), tmp.File("o"),
            new PaluOptions { RankAllocation = RankAllocationMethod.Fisher, GroupSize = 1, Decomposition = DecompositionMethod.Svd }));
        Assert.Contains("--calib", ex.Message);
    }
}
