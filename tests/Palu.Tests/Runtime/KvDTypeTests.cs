using Palu.IO;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Tests.Runtime;

/// <summary>Dense KV caches stored in bf16 or f16 (<c>--kv-dtype</c>): half the bytes, logits within the dtype's rounding.</summary>
public class KvDTypeTests
{
    /// <summary>Largest max|Δ|/max|logit| against the f32 cache over the golden prompts (bf16 keeps 8 mantissa bits,
    /// f16 11: their relative rounding is 2⁻⁹ and 2⁻¹²; measured worst: bf16 3.1e-2, f16 3.3e-3 on stories260k).</summary>
    [Theory]
    [InlineData("tiny", DType.BF16, 5e-2)]
    [InlineData("tiny", DType.F16, 1e-2)]
    [InlineData("stories260k", DType.BF16, 5e-2)]
    [InlineData("stories260k", DType.F16, 1e-2)]
    public void HalfPrecisionCacheStaysWithinItsRounding(string model, DType dtype, double bound)
    {
        string dir = TestPaths.Model(model);
        using var lm = CausalLM.Load(dir);
        using var golden = SafetensorsFile.Open(Path.Combine(dir, "golden", "logits.safetensors"));
        foreach (int k in new[] { 0, 2 })
        {
            var ids = golden.ReadInt64($"input_ids_{k}").Select(v => (int)v).ToArray();
            var f32 = Logits(lm, ids, DType.F32, out long b32, out long a32);
            var half = Logits(lm, ids, dtype, out long b16, out long a16);
            Assert.Equal(b32, 2 * b16);     // bytes per token halve
            Assert.Equal(a32, 2 * a16);     // and so do the buffers
            int T = ids.Length, V = lm.Vocab, agree = 0;
            double worst = 0;
            for (int t = 0; t < T; t++)
            {
                var x = f32.AsSpan(t * V, V); var y = half.AsSpan(t * V, V);
                float max = 0, diff = 0;
                for (int v = 0; v < V; v++) { max = Math.Max(max, Math.Abs(x[v])); diff = Math.Max(diff, Math.Abs(x[v] - y[v])); }
                worst = Math.Max(worst, diff / max);
                if (Palu.Generation.Sampler.ArgMax(x) == Palu.Generation.Sampler.ArgMax(y)) agree++;
            }
            Assert.True(worst <= bound, $"{model} {DTypes.Name(dtype)} prompt {k}: max rel err {worst:E2} > {bound:E0}");
            Assert.True(worst > 0, "the half-precision cache changed nothing: was it used?");
            Assert.True(agree >= 0.95 * T, $"argmax agrees at {agree}/{T} positions");
        }
    }

    /// <summary>Every position's logits [T, V] with a cache of <paramref name="dtype"/>, token by token after a prefill.</summary>
    static float[] Logits(CausalLM lm, int[] ids, DType dtype, out long bytesPerToken, out long allocated)
    {
        using var seq = lm.NewSequence(ids.Length, dtype);
        int split = ids.Length / 2, d = lm.Hidden;
        var hidden = new float[ids.Length * d];
        lm.Forward(ids.AsSpan(0, split), seq, hidden);                  // prefill half
        for (int t = split; t < ids.Length; t++) lm.Forward(ids.AsSpan(t, 1), seq, hidden.AsSpan(t * d, d));   // decode the rest
        var logits = new float[ids.Length * lm.Vocab];
        lm.Logits(hidden, logits, ids.Length);
        bytesPerToken = seq.BytesPerToken;
        allocated = seq.BytesAllocated;
        return logits;
    }

    [Fact]
    public void LoadOptionSetsTheDefaultAndGenerateReportsTheBytes()
    {
        string tiny = TestPaths.Model("tiny");
        using (var lm = CausalLM.Load(tiny, new LoadOptions { KvDType = DType.BF16 }))
        {
            Assert.Equal(DType.BF16, lm.DefaultKvDType);
            Assert.Equal(4 * 2 * 192 * 2, lm.KvBytesPerToken);      // 4 layers × (K + V) × 192 × 2 B
        }
        long Bytes(string dtype)
        {
            var r = CommandLine.CliRunner.Run("generate", "--model", tiny, "--prompt", "Once upon a time", "--max-tokens", "5", "--kv-dtype", dtype, "--json");
            Assert.Equal(0, r.ExitCode);
            var j = r.Json();
            Assert.Equal(dtype, j.GetProperty("kv_dtype").GetString());
            // the prompt's tokens + the 4 generated tokens that were run (the last one is sampled, not run)
            long tokens = j.GetProperty("prompt_tokens").GetInt64() + j.GetProperty("completion_tokens").GetInt64() - 1;
            Assert.Equal(tokens * j.GetProperty("kv_bytes_per_token").GetInt64(), j.GetProperty("kv_cache_bytes").GetInt64());
            return j.GetProperty("kv_cache_bytes").GetInt64();
        }
        long f32 = Bytes("f32"), bf16 = Bytes("bf16"), f16 = Bytes("f16");
        Assert.Equal(f32, 2 * bf16);
        Assert.Equal(f32, 2 * f16);
    }
}
