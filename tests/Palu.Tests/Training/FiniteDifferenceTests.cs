using Palu.IO;
using Palu.Models;
using Palu.Training;
using Xunit.Abstractions;

namespace Palu.Tests.Training;

/// <summary>
/// The reference backward (<see cref="ReferenceBackprop{F}"/> in float64) against central finite differences of its own
/// float64 forward, for every entry of every parameter tensor of tiny random models: every op (embedding, RMSNorm,
/// q/k-norm, RoPE, GQA attention with and without a sliding window, SwiGLU, biases, residuals, final norm, tied and
/// untied LM head, cross-entropy).
/// </summary>
public class FiniteDifferenceTests(ITestOutputHelper output)
{
    internal static RandomModelSpec Tiny(string arch, bool tied, bool bias = false, int? window = null) => new()
    {
        Architecture = arch, Hidden = 16, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 4, Ffn = 24, Vocab = 32,
        MaxPositions = 64, TieEmbeddings = tied, AttentionBias = bias, SlidingWindow = window, Std = 0.3f,
    };

    [Theory]
    [InlineData("LlamaForCausalLM", false, true, null, "next_token")]     // untied head, q/k/v/o biases
    [InlineData("Qwen2ForCausalLM", false, false, null, "double_shift")]  // q/k/v biases; an unscored position
    [InlineData("Qwen3ForCausalLM", true, false, null, "next_token")]     // q/k norms, tied head
    [InlineData("MistralForCausalLM", true, false, 4, "next_token")]      // sliding window of 4 over 11 positions
    public void ReferenceGradientsMatchFiniteDifferences(string arch, bool tied, bool bias, int? window, string objective)
    {
        using var tmp = TestPaths.Temp();
        RandomCheckpoint.Write(tmp.Path, Tiny(arch, tied, bias, window), seed: 5);
        using var lm = CausalLM.Load(tmp.Path);
        var p = ModelParameters<double>.From(lm);
        var rng = new Random(11);
        int[] tokens = Enumerable.Range(0, 12).Select(_ => rng.Next(32)).ToArray();
        var (inputs, targets) = LabelObjectives.Split(tokens, LabelObjectives.Parse(objective));
        var grads = p.ZerosLike();
        double loss = ReferenceBackprop<double>.Gradients(p, inputs, targets, grads);
        Assert.True(loss > 1 && loss < 10, $"loss {loss}");
        Assert.Equal(loss, ReferenceBackprop<double>.Loss(p, inputs, targets));

        // Central differences in float64 with step 1e-5 (truncation ~1e-10 relative, round-off ~1e-11 absolute);
        // relative error |fd − g| / (max(|fd|, |g|) + 1e-6): the floor keeps round-off on near-zero entries from counting.
        const double h = 1e-5;
        var failures = new List<string>();
        int tensors = 0;
        double overall = 0;
        foreach (var ((name, w), (_, g)) in p.Tensors().Zip(grads.Tensors()))
        {
            double worst = 0, largest = 0;
            for (int i = 0; i < w.Length; i++)
            {
                double keep = w[i];
                w[i] = keep + h; double up = ReferenceBackprop<double>.Loss(p, inputs, targets);
                w[i] = keep - h; double down = ReferenceBackprop<double>.Loss(p, inputs, targets);
                w[i] = keep;
                double fd = (up - down) / (2 * h);
                worst = Math.Max(worst, Math.Abs(fd - g[i]) / (Math.Max(Math.Abs(fd), Math.Abs(g[i])) + 1e-6));
                largest = Math.Max(largest, Math.Abs(g[i]));
            }
            overall = Math.Max(overall, worst);
            if (worst > 1e-3) failures.Add($"{name}: relative error {worst:E2}");
            Assert.True(largest > 1e-5, $"{name}: gradient is (near) zero everywhere ({largest:E2}): the test would not see a bug");
            tensors++;
        }
        output.WriteLine($"{arch}: {tensors} tensors, worst relative error {overall:E2}");
        Assert.True(failures.Count == 0, string.Join("; ", failures));
        // embeddings, final norm, (head) + per layer 2 norms and 7 linears at least
        Assert.True(tensors >= 2 + 2 * 9, $"only {tensors} tensors checked");
    }

    [Fact]
    public void DoubleShiftPredictsTwoAhead()
    {
        int[] t = [10, 11, 12, 13, 14];
        var (inA, tgA) = LabelObjectives.Split(t, LabelObjective.NextToken);
        var (inB, tgB) = LabelObjectives.Split(t, LabelObjective.DoubleShift);
        Assert.Equal([10, 11, 12, 13], inA);
        Assert.Equal([11, 12, 13, 14], tgA);
        Assert.Equal(inA, inB);
        Assert.Equal([12, 13, 14, -1], tgB);
    }
}
