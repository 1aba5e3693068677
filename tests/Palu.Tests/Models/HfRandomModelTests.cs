using Palu.IO;
using Palu.Models;

namespace Palu.Tests.Models;

/// <summary>Families without a trained model: random checkpoints written by transformers, logits from transformers (fp32).</summary>
public class HfRandomModelTests
{
    [Theory]
    [InlineData("llama3-scaled", "LlamaForCausalLM")]
    [InlineData("llama-linear", "LlamaForCausalLM")]
    [InlineData("mistral-window", "MistralForCausalLM")]
    [InlineData("qwen2-bias", "Qwen2ForCausalLM")]
    [InlineData("qwen3-norm", "Qwen3ForCausalLM")]
    public void LogitsMatchTransformers(string name, string arch)
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "hf-random", name);
        using var lm = CausalLM.Load(dir);
        Assert.Equal(arch, lm.Config.Architecture);
        using var golden = SafetensorsFile.Open(Path.Combine(dir, "golden_logits.safetensors"));
        var ids = golden.ReadInt64("input_ids").Select(v => (int)v).ToArray();
        var want = golden.ReadFloat32("logits");
        foreach (bool stepwise in new[] { false, true })
        {
            var got = global::Palu.Tests.KvCompression.LatentAttentionTests.Run(lm, ids, stepwise);
            for (int t = 0; t < ids.Length; t++)
            {
                var w = want.AsSpan(t * lm.Vocab, lm.Vocab);
                var g = got.AsSpan(t * lm.Vocab, lm.Vocab);
                float maxAbs = 0, maxDiff = 0;
                for (int v = 0; v < lm.Vocab; v++) { maxAbs = Math.Max(maxAbs, Math.Abs(w[v])); maxDiff = Math.Max(maxDiff, Math.Abs(g[v] - w[v])); }
                Assert.True(maxDiff / maxAbs <= 1e-4, $"{name} position {t} stepwise={stepwise}: {maxDiff / maxAbs:E2}");
                Assert.Equal(GoldenLogitsTests.ArgMax(w), GoldenLogitsTests.ArgMax(g));
            }
        }
    }
}
