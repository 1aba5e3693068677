using Palu.Evaluation;
using Palu.IO;
using Palu.Models;
using Palu.Tensors;
using Palu.Text;
using Palu.Training;

namespace Palu.Tests.Training;

/// <summary>The fast f32 backward (<see cref="Backprop"/>) against the float64 reference, and its loss against the inference engine.</summary>
public class BackpropTests
{
    /// <summary>Copies every weight gradient handed over.</summary>
    internal sealed class Collector : IWeightGradientSink
    {
        public readonly Dictionary<(int, LinearKind), float[]> Grads = new();
        public void Add(int layer, LinearKind kind, ReadOnlySpan<float> grad) => Grads[(layer, kind)] = grad.ToArray();
    }

    static RandomModelSpec Medium(string arch, bool tied, DType dtype = DType.F32, int? window = null) => new()
    {
        Architecture = arch, Hidden = 64, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Ffn = 96, Vocab = 96,
        MaxPositions = 256, TieEmbeddings = tied, SlidingWindow = window, DType = dtype, Std = 0.15f,
    };

    // 150 tokens: two attention row blocks (128) and two logit blocks; odd sizes exercise the GEMM tails.
    [Theory]
    [InlineData("LlamaForCausalLM", false, DType.F32, null)]
    [InlineData("LlamaForCausalLM", true, DType.BF16, null)]
    [InlineData("Qwen2ForCausalLM", false, DType.F32, null)]
    [InlineData("Qwen2ForCausalLM", true, DType.F16, null)]
    [InlineData("Qwen3ForCausalLM", true, DType.F32, null)]
    [InlineData("MistralForCausalLM", false, DType.F32, 40)]
    public void FastGradientsMatchReference(string arch, bool tied, DType dtype, int? window)
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.Path, Medium(arch, tied, dtype, window), seed: 3);
        using var lm = CausalLM.Load(tmp.Path);
        var rng = new Random(4);
        int[] tokens = Enumerable.Range(0, 151).Select(_ => rng.Next(96)).ToArray();
        var (inputs, targets) = LabelObjectives.Split(tokens, LabelObjective.NextToken);

        var p = ModelParameters<double>.From(lm);
        var g = p.ZerosLike();
        double refLoss = ReferenceBackprop<double>.Gradients(p, inputs, targets, g);
        var fast = new Collector();
        double loss = new Backprop(lm).LossAndGradients(inputs, targets, fast);
        Assert.True(Math.Abs(loss - refLoss) / refLoss < 1e-5, $"loss {loss} vs reference {refLoss}");

        Assert.Equal(2 * 7, fast.Grads.Count);
        foreach (var ((layer, kind), got) in fast.Grads)
        {
            var want = g.Layers[layer].Weight(kind);
            Assert.Equal(want.Length, got.Length);
            double diff = 0, norm = 0;
            for (int i = 0; i < got.Length; i++) { diff += Math.Pow(got[i] - want[i], 2); norm += want[i] * want[i]; }
            double rel = Math.Sqrt(diff / norm);
            Assert.True(norm > 0 && rel < 1e-4, $"layer {layer} {kind}: relative error {rel:E2} (|grad| {Math.Sqrt(norm):E2})");
        }
    }

    [Fact]
    public void RecomputedActivationsGiveIdenticalGradients()
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.Path, Medium("Qwen3ForCausalLM", true), seed: 8);
        using var lm = CausalLM.Load(tmp.Path);
        var rng = new Random(2);
        int[] tokens = Enumerable.Range(0, 140).Select(_ => rng.Next(96)).ToArray();
        var (inputs, targets) = LabelObjectives.Split(tokens, LabelObjective.DoubleShift);
        var a = new Collector(); var b = new Collector();
        double la = new Backprop(lm).LossAndGradients(inputs, targets, a);
        double lb = new Backprop(lm, recompute: true).LossAndGradients(inputs, targets, b);
        Assert.Equal(la, lb);
        foreach (var (key, ga) in a.Grads) Assert.Equal(ga, b.Grads[key]);
    }

    [Fact]
    public void LossEqualsInferenceNllOnTiny()
    {
        string dir = TestPaths.Model("tiny");
        using var lm = CausalLM.Load(dir);
        var tok = Tokenizer.FromDirectory(dir);
        var ids = tok.Encode(File.ReadAllText(TestPaths.Data("wikitext-2-raw/wiki.test.raw"))[..6000], addSpecialTokens: true)[..300];
        var (sum, count) = Perplexity.WindowNll(lm, ids, 1);
        var (inputs, targets) = LabelObjectives.Split(ids, LabelObjective.NextToken);
        var bp = new Backprop(lm);
        double loss = bp.Loss(inputs, targets);
        Assert.Equal(ids.Length - 1, count);
        Assert.True(Math.Abs(loss * count / sum - 1) < 1e-5, $"training loss {loss} vs inference mean NLL {sum / count}");
        // the forward inside LossAndGradients is the same
        Assert.Equal(loss, bp.LossAndGradients(inputs, targets, new Collector()));
    }
}
