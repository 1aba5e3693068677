using Palu.IO;
using Palu.Models;
using Palu.Training;

namespace Palu.Tests.Training;

public class FisherTests
{
    static readonly string Calib = TestPaths.Data("calib/corpus-train-2M.txt");

    static FisherSettings Settings(int seed = 3) => new() { CalibrationFile = Calib, Samples = 3, SeqLen = 96, Seed = seed };

    [Fact]
    public void FisherOfTinyIsDeterministic()
    {
        using var tmp = TestPaths.Temp();
        string dir = TestPaths.Model("tiny");
        var (a, _) = FisherPass.Compute(dir, Settings());
        var (b, _) = FisherPass.Compute(dir, Settings());
        a.Save(tmp.File("a.safetensors"));
        b.Save(tmp.File("b.safetensors"));
        Assert.Equal(File.ReadAllBytes(tmp.File("a.safetensors")), File.ReadAllBytes(tmp.File("b.safetensors")));

        var c = FisherInfo.Load(tmp.File("a.safetensors"));
        Assert.Equal(4, c.Layers);
        Assert.Equal(3, c.Metadata.Samples);
        Assert.Equal(3L * 95, c.Metadata.Tokens);
        Assert.Equal(ModelHash.Compute(dir), c.Metadata.ModelSha256);
        foreach (var k in LinearKinds.All)
        {
            var rows = c.RowMeans(2, k);
            Assert.Equal(a.RowMeans(2, k), rows);
            Assert.All(rows, v => Assert.True(float.IsFinite(v) && v >= 0));
            Assert.True(rows.Max() > 0, $"{k}: all-zero Fisher");
        }
        // another seed draws other samples: other values
        var (d, _) = FisherPass.Compute(dir, Settings(seed: 4));
        Assert.NotEqual(a.RowMeans(0, LinearKind.K), d.RowMeans(0, LinearKind.K));
    }

    [Fact]
    public void FisherIsTheRmsOfPerSampleGradients()
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.Path, FiniteDifferenceTests.Tiny("Qwen2ForCausalLM", tied: false), seed: 1);
        using var lm = CausalLM.Load(tmp.Path);
        var rng = new Random(3);
        var samples = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, 20).Select(_ => rng.Next(32)).ToArray()).ToList();
        var perSample = samples.Select(s =>
        {
            var c = new BackpropTests.Collector();
            var (i, t) = LabelObjectives.Split(s, LabelObjective.NextToken);
            new Backprop(lm).LossAndGradients(i, t, c);
            return c;
        }).ToList();
        var (sums, scored) = FisherPass.Accumulate(lm, samples, LabelObjective.NextToken);
        Assert.Equal(2L * 19, scored);
        var meta = new FisherMetadata
        {
            ModelSha256 = "m", CalibrationFile = "c", CalibrationSha256 = "c", Samples = 2, SeqLen = 20, Seed = 0,
            Objective = LabelObjective.NextToken, Tokens = scored,
        };
        var info = FisherInfo.FromSums(sums, TrainingShape.From(lm), 2, meta, keepFull: true);
        foreach (var k in LinearKinds.All)
        {
            float[] g0 = perSample[0].Grads[(1, k)], g1 = perSample[1].Grads[(1, k)], full = info.Full![1 * 7 + (int)k];
            for (int i = 0; i < g0.Length; i++)
            {
                double want = Math.Sqrt((g0[i] * (double)g0[i] + g1[i] * (double)g1[i]) / 2);
                Assert.True(Math.Abs(full[i] - want) <= 1e-6 * want + 1e-12, $"{k}[{i}]: {full[i]} vs {want}");
            }
            var (m, n) = TrainingShape.From(lm).Dims(k);
            var rows = info.RowMeans(1, k); var cols = info.ColMeans(1, k);
            for (int r = 0; r < m; r++)
                Assert.Equal(Enumerable.Range(0, n).Average(j => (double)full[r * n + j]), rows[r], 5);
            for (int j = 0; j < n; j++)
                Assert.Equal(Enumerable.Range(0, m).Average(r => (double)full[r * n + j]), cols[j], 5);
            // a §4.3 block score from the row means equals the mean over the block's elements
            double block = Enumerable.Range(2 * n, 2 * n).Average(i => (double)full[i]);
            Assert.Equal(block, info.BlockMean(1, k, 2, 4), 5);
        }
    }

    [Fact]
    public void CacheReusesTheFileForTheSameSettingsOnly()
    {
        using var tmp = TestPaths.Temp();
        string dir = TestPaths.Model("tiny");
        var first = FisherCache.GetOrCompute(dir, Settings(), tmp.Path);
        Assert.Equal(FisherSource.Computed, first.Source);
        Assert.NotNull(first.Stats);
        Assert.True(File.Exists(first.Path));
        var second = FisherCache.GetOrCompute(dir, Settings(), tmp.Path);
        Assert.Equal(FisherSource.Cache, second.Source);
        Assert.Equal(first.Path, second.Path);
        Assert.Equal(first.Info.RowMeans(3, LinearKind.V), second.Info.RowMeans(3, LinearKind.V));
        var other = FisherCache.GetOrCompute(dir, Settings(seed: 9), tmp.Path);
        Assert.Equal(FisherSource.Computed, other.Source);
        Assert.NotEqual(first.Path, other.Path);
        Assert.Equal(FisherSource.File, FisherCache.LoadFor(dir, first.Path).Source);
        var ex = Assert.Throws<ArgumentException>(() => FisherCache.LoadFor(TestPaths.Model("stories260k"), first.Path));
        Assert.Contains("different model", ex.Message);
    }
}
