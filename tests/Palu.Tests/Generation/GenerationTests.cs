using System.Text.Json;
using Palu.Generation;
using Palu.Models;
using Palu.Tests.Models;

namespace Palu.Tests.Generation;

public class GenerationTests
{
    [Theory]
    [MemberData(nameof(GoldenLogitsTests.Models), MemberType = typeof(GoldenLogitsTests))]
    public void GreedyContinuationMatchesGolden(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Model(model), "golden", "prompts.json")));
        var p0 = doc.RootElement.GetProperty("per_prompt")[0];
        var ids = p0.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var want = p0.GetProperty("greedy_continuation_32").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        using var lm = CausalLM.Load(TestPaths.Model(model));
        // The golden continuation runs 32 steps without stopping at EOS.
        using var gen = new Generator(lm, new SamplingOptions(Temperature: 0), maxNewTokens: 32, eosTokenIds: []);
        gen.AppendTokens(ids);
        var top5 = p0.GetProperty("last_position_top5_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var order = Enumerable.Range(0, lm.Vocab).OrderByDescending(i => gen.Logits[i]).Take(5).ToArray();
        Assert.Equal(top5, order);
        var got = new List<int>();
        while (!gen.IsDone) got.Add(gen.GenerateNextToken());
        Assert.Equal(want, got);
        Assert.Equal(FinishReason.Length, gen.FinishReason);
    }

    [Fact]
    public void StopsAtEos()
    {
        using var lm = CausalLM.Load(TestPaths.Model("tiny"));
        // Make every token an EOS: the first sampled token ends generation.
        using var gen = new Generator(lm, new SamplingOptions(), 10, Enumerable.Range(0, lm.Vocab));
        gen.AppendTokens([0, 406, 3081]);
        gen.GenerateNextToken();
        Assert.True(gen.IsDone);
        Assert.Equal(FinishReason.EndOfSequence, gen.FinishReason);
    }
}

public class SamplerTests
{
    static float[] RandomLogits(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 8 - 4)).ToArray();
    }

    [Fact]
    public void GreedyIsArgMax()
    {
        var l = RandomLogits(1000, 1);
        Assert.Equal(Array.IndexOf(l, l.Max()), new Sampler(new SamplingOptions(0)).Next(l));
    }

    [Fact]
    public void TopKOneAndTinyTopPAreGreedy()
    {
        var l = RandomLogits(500, 2);
        int best = Array.IndexOf(l, l.Max());
        for (int s = 0; s < 20; s++)
        {
            Assert.Equal(best, new Sampler(new SamplingOptions(1.5f, TopK: 1, Seed: s)).Next(l));
            Assert.Equal(best, new Sampler(new SamplingOptions(1.0f, TopP: 1e-6f, Seed: s)).Next(l));
        }
    }

    [Fact]
    public void SeededRunsRepeat()
    {
        var l = RandomLogits(300, 3);
        var a = new Sampler(new SamplingOptions(1f, 50, 0.9f, Seed: 7));
        var b = new Sampler(new SamplingOptions(1f, 50, 0.9f, Seed: 7));
        var xa = Enumerable.Range(0, 100).Select(_ => a.Next(l)).ToArray();
        var xb = Enumerable.Range(0, 100).Select(_ => b.Next(l)).ToArray();
        Assert.Equal(xa, xb);
        Assert.True(xa.Distinct().Count() > 5);
    }

    [Fact]
    public void FrequenciesFollowSoftmaxWithTopKAndTopP()
    {
        // 4 candidates with probabilities 0.5, 0.25, 0.15, 0.10 at temperature 1.
        float[] p = [0.5f, 0.25f, 0.15f, 0.10f];
        var logits = p.Select(v => MathF.Log(v)).ToArray();
        var s = new Sampler(new SamplingOptions(1f, Seed: 11));
        var counts = new int[4];
        const int N = 40000;
        for (int i = 0; i < N; i++) counts[s.Next(logits)]++;
        for (int i = 0; i < 4; i++) Assert.InRange(counts[i] / (double)N, p[i] - 0.01, p[i] + 0.01);

        // top-p 0.7 keeps {0.5, 0.25} (cumulative 0.75 ≥ 0.7), renormalised to 2/3, 1/3.
        var t = new Sampler(new SamplingOptions(1f, TopP: 0.7f, Seed: 12));
        counts = new int[4];
        for (int i = 0; i < N; i++) counts[t.Next(logits)]++;
        Assert.Equal(0, counts[2] + counts[3]);
        Assert.InRange(counts[0] / (double)N, 2 / 3.0 - 0.01, 2 / 3.0 + 0.01);

        // top-k 3 at temperature 2: probabilities ∝ sqrt(p) over the first three.
        var u = new Sampler(new SamplingOptions(2f, TopK: 3, Seed: 13));
        counts = new int[4];
        for (int i = 0; i < N; i++) counts[u.Next(logits)]++;
        double z = Math.Sqrt(0.5) + Math.Sqrt(0.25) + Math.Sqrt(0.15);
        Assert.Equal(0, counts[3]);
        Assert.InRange(counts[0] / (double)N, Math.Sqrt(0.5) / z - 0.01, Math.Sqrt(0.5) / z + 0.01);
    }

    [Fact]
    public void RejectsBadOptions()
    {
        Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions(-1f)));
        Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions(1f, TopP: 0f)));
        Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions(1f, TopK: -2)));
    }
}

public class PenaltyTests
{
    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_of_context_tokens()
    {
        // greedy picks token 0 (logit 2); with penalty 2 on tokens {0, 2}: 0 → 1.0, 2 → −3.0; token 1 (1.5) wins
        float[] logits = [2f, 1.5f, -1.5f];
        var s = new Sampler(new SamplingOptions(0) { RepetitionPenalty = 2f });
        Assert.Equal(1, s.Next(logits, [0, 2, 0]));
        Assert.Equal(0, s.Next(logits, [1]));          // only token 1 penalised: 1.5 / 2 = 0.75
        Assert.Equal(0, new Sampler(new SamplingOptions(0)).Next(logits, [0, 0, 0]));   // no penalty: plain argmax
        Assert.Equal([2f, 1.5f, -1.5f], logits);      // the caller's logits are not modified
    }

    [Fact]
    public void Frequency_and_presence_penalties_count_the_sampler_s_own_tokens()
    {
        // logits 3, 2.2, 0: token 0 is picked first; then 3 − 0.5·n − 0.4 falls below 2.2 after one pick
        float[] logits = [3f, 2.2f, 0f];
        var s = new Sampler(new SamplingOptions(0) { FrequencyPenalty = 0.5f, PresencePenalty = 0.4f });
        Assert.Equal(0, s.Next(logits, []));
        Assert.Equal(1, s.Next(logits, []));          // 0: 3 − 0.9 = 2.1 < 2.2
        Assert.Equal(0, s.Next(logits, []));          // 1: 2.2 − 0.9 = 1.3; 0: 2.1
        Assert.Equal(0, s.Next(logits, []));          // 0: 3 − 2·0.5 − 0.4 = 1.6 > 1.3
        Assert.Equal(1, s.Next(logits, []));          // 0: 3 − 1.5 − 0.4 = 1.1 < 1.3
    }

    [Fact]
    public void Penalties_are_validated()
    {
        Assert.Throws<ArgumentException>(() => new SamplingOptions { RepetitionPenalty = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new SamplingOptions { RepetitionPenalty = float.NaN }.Validate());
        Assert.Throws<ArgumentException>(() => new SamplingOptions { FrequencyPenalty = 2.5f }.Validate());
        Assert.Throws<ArgumentException>(() => new SamplingOptions { PresencePenalty = -3f }.Validate());
    }
}

public class StopStringTests
{
    static (string Shown, string? Matched) Run(string[] pieces, params string[] stops)
    {
        var s = new StopStrings(stops);
        var shown = new System.Text.StringBuilder();
        foreach (var p in pieces) shown.Append(s.Push(p));
        if (!s.Stopped) shown.Append(s.Flush());
        return (shown.ToString(), s.Matched);
    }

    [Fact]
    public void A_stop_string_split_over_pieces_is_found_and_not_shown()
    {
        Assert.Equal(("Hello ", "\nUser:"), Run(["Hel", "lo \nU", "ser", ": more"], "\nUser:"));
        Assert.Equal(("ab", "c"), Run(["abcdef"], "c", "de"));            // the earliest occurrence wins
        Assert.Equal(("abcdef", null), Run(["ab", "cd", "ef"], "xyz"));  // no stop: everything, in order
        Assert.Equal(("a.b", null), Run(["a.", "b"], ".."));              // a partial match is released when it fails
    }

    [Fact]
    public void Text_that_may_start_a_stop_string_is_held_back()
    {
        var s = new StopStrings(["END"]);
        Assert.Equal("the ", s.Push("the E"));
        Assert.Equal("", s.Push("N"));
        Assert.Equal("ENx", s.Push("x"));
        Assert.Null(s.Matched);
        Assert.Throws<ArgumentException>(() => new StopStrings([""]));
    }
}
