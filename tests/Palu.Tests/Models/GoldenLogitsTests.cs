using Palu.IO;
using Palu.Models;

namespace Palu.Tests.Models;

/// <summary>Logits of every golden prompt of every shared model equal transformers' fp32 logits.</summary>
public class GoldenLogitsTests
{
    public static IEnumerable<object[]> Cases() =>
        from m in TestPaths.GoldenModels() from k in new[] { 0, 1, 2 } select new object[] { m, k };

    public static IEnumerable<object[]> Models() => TestPaths.GoldenModels().Select(m => new object[] { m });

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsMatchGolden(string model, int prompt)
    {
        using var lm = CausalLM.Load(TestPaths.Model(model));
        using var golden = SafetensorsFile.Open(Path.Combine(TestPaths.Model(model), "golden", "logits.safetensors"));
        var ids = golden.ReadInt64($"input_ids_{prompt}").Select(v => (int)v).ToArray();
        // positions_K lists the stored positions; without it every position is stored.
        var positions = golden.Tensors.ContainsKey($"positions_{prompt}")
            ? golden.ReadInt64($"positions_{prompt}") : Enumerable.Range(0, ids.Length).Select(i => (long)i).ToArray();
        var expected = golden.ReadFloat32($"logits_{prompt}");   // [P, V]
        int V = lm.Vocab, d = lm.Hidden, T = ids.Length;

        using var cache = lm.NewSequence(T);
        var hidden = new float[T * d];
        lm.Forward(ids, cache, hidden);
        var logits = new float[T * V];
        lm.Logits(hidden, logits, T);

        for (int i = 0; i < positions.Length; i++)
        {
            var got = logits.AsSpan((int)positions[i] * V, V);
            var want = expected.AsSpan(i * V, V);
            float maxAbs = 0, maxDiff = 0;
            for (int v = 0; v < V; v++) { maxAbs = Math.Max(maxAbs, Math.Abs(want[v])); maxDiff = Math.Max(maxDiff, Math.Abs(got[v] - want[v])); }
            Assert.True(maxDiff / maxAbs <= 1e-4, $"{model} prompt {prompt} position {positions[i]}: max|Δ|/max|golden| = {maxDiff / maxAbs:E2}");
            Assert.Equal(ArgMax(want), ArgMax(got));
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void DecodeOneTokenAtATimeEqualsPrefill(string model)
    {
        using var lm = CausalLM.Load(TestPaths.Model(model));
        using var golden = SafetensorsFile.Open(Path.Combine(TestPaths.Model(model), "golden", "logits.safetensors"));
        var ids = golden.ReadInt64("input_ids_0").Select(v => (int)v).ToArray();
        var expected = golden.ReadFloat32("logits_0");   // every position
        int V = lm.Vocab, d = lm.Hidden;
        using var cache = lm.NewSequence(ids.Length);
        var hidden = new float[d];
        var logits = new float[V];
        for (int t = 0; t < ids.Length; t++)
        {
            lm.Forward(ids.AsSpan(t, 1), cache, hidden);
            lm.Logits(hidden, logits, 1);
            var want = expected.AsSpan(t * V, V);
            float maxAbs = 0, maxDiff = 0;
            for (int v = 0; v < V; v++) { maxAbs = Math.Max(maxAbs, Math.Abs(want[v])); maxDiff = Math.Max(maxDiff, Math.Abs(logits[v] - want[v])); }
            Assert.True(maxDiff / maxAbs <= 1e-4, $"{model} decode step {t}: {maxDiff / maxAbs:E2}");
        }
    }

    internal static int ArgMax(ReadOnlySpan<float> a)
    {
        int best = 0;
        for (int i = 1; i < a.Length; i++) if (a[i] > a[best]) best = i;
        return best;
    }
}
