using Palu.Compression;
using Palu.Evaluation;
using Palu.IO;
using Palu.Models;
using Palu.Text;

namespace Palu.Tests.Evaluation;

/// <summary>Continuation log-likelihoods from the engine, predictions, acc vs acc_norm, stderr.</summary>
public class ScoringTests
{
    static string Tiny => TestPaths.Model("tiny");

    /// <summary>Σ log softmax over the continuation computed the plain way: one forward of the whole sequence, double math.</summary>
    static double Reference(CausalLM lm, int[] ctx, int[] cont)
    {
        int[] seq = [.. ctx, .. cont];
        int T = seq.Length - 1, V = lm.Vocab;   // the last token is only a target
        using var cache = lm.NewSequence(T);
        var hidden = new float[T * lm.Hidden];
        lm.Forward(seq.AsSpan(0, T), cache, hidden);
        var logits = new float[T * V];
        lm.Logits(hidden, logits, T);
        double sum = 0;
        for (int p = ctx.Length - 1; p < T; p++)
        {
            var row = logits.AsSpan(p * V, V);
            double max = double.NegativeInfinity, z = 0;
            foreach (float x in row) max = Math.Max(max, x);
            foreach (float x in row) z += Math.Exp(x - max);
            sum += row[seq[p + 1]] - max - Math.Log(z);
        }
        return sum;
    }

    [Fact]
    public void Continuation_loglikelihood_matches_transformers_golden_logits()
    {
        // golden prompt 0 of tiny (BOS + text, logits at every position from PyTorch): split it into context and
        // continuation; the scorer's sum must equal Σ log softmax(golden logits) over the continuation positions
        using var golden = SafetensorsFile.Open(Path.Combine(Tiny, "golden", "logits.safetensors"));
        var ids = golden.ReadInt64("input_ids_0").Select(v => (int)v).ToArray();
        var logits = golden.ReadFloat32("logits_0");
        int V = 4096, k = ids.Length / 2;
        double want = 0;
        for (int p = k - 1; p < ids.Length - 1; p++)
        {
            var row = logits.AsSpan(p * V, V);
            double max = double.NegativeInfinity, z = 0;
            foreach (float x in row) max = Math.Max(max, x);
            foreach (float x in row) z += Math.Exp(x - max);
            want += row[ids[p + 1]] - max - Math.Log(z);
        }
        using var lm = CausalLM.Load(Tiny);
        using var scorer = new LoglikelihoodScorer(lm);
        double got = scorer.Score([(ids[..k], ids[k..])])[0];
        Assert.True(Math.Abs(got - want) < 2e-3, $"scorer {got} vs golden {want}");
        Assert.True(want < -1);
    }

    static McItem Item(string question, int gold, params string[] choices)
    {
        string ctx = $"Question: {question}\nAnswer:";
        return new McItem(1, choices.Select(c => new McChoice(ctx, " " + c, c)).ToArray(), gold);
    }

    // " milk" is far likelier in total; per character the long answer wins: acc and acc_norm disagree
    static readonly McItem Cat = Item("What does a cat drink?", 0, "milk", "the water from a bowl in the kitchen");
    static readonly McItem Sun = Item("The sun rises in the", 0, "east", "west side of the sky");

    [Fact]
    public void Hand_checked_item_picks_by_sum_and_by_length()
    {
        using var lm = CausalLM.Load(Tiny);
        var tok = Tokenizer.FromDirectory(Tiny);
        var enc = new RequestEncoder(tok, BosMode.Auto);
        using var scorer = new LoglikelihoodScorer(lm);
        var lls = ZeroShot.ScoreItem(scorer, enc, Cat);
        for (int c = 0; c < 2; c++)
        {
            var (ctx, cont) = enc.Encode(Cat.Choices[c].Context, Cat.Choices[c].Continuation);
            Assert.Equal(0, ctx[0]);   // BOS first (auto)
            Assert.True(Math.Abs(lls[c] - Reference(lm, ctx, cont)) < 1e-4);
        }
        Assert.Equal(-12.3063, lls[0], 3e-3);
        Assert.Equal(-43.8460, lls[1], 3e-3);
        // acc: −12.31 > −43.85 → "milk"; acc_norm: −12.31 / 4 = −3.08 < −43.85 / 36 = −1.22 → the long answer
        Assert.Equal((0, 1), ZeroShot.Predict(Cat, lls));
    }

    [Fact]
    public void Batched_scoring_matches_one_item_at_a_time()
    {
        // HellaSwag: 4 endings of ~20 tokens after a ~70-token context; 300 rows hold 1 item, 512 hold 1–2, 90 none
        // (those items fall back to the shared-prefix path)
        using var lm = CausalLM.Load(Tiny);
        var tok = Tokenizer.FromDirectory(Tiny);
        string file = TestPaths.Data("tasks/hellaswag/hellaswag_val_full.txt.bz2");
        var items = ZeroShot.Limit(ZeroShotTask.HellaSwag.Load(file), 12);
        var one = ZeroShot.Evaluate("hellaswag", lm, 1, tok, BosMode.Auto, items, file);
        foreach (int rows in new[] { 4096, 512, 300, 90 })   // 4096: more than a CPU step holds (512), clamped
            foreach (int workers in new[] { 1, 2 })
            {
                var b = ZeroShot.Evaluate("hellaswag", lm, workers, tok, BosMode.Auto, items, file, batchRows: rows);
                Assert.Equal(one.Acc, b.Acc);
                Assert.Equal(one.AccNorm, b.AccNorm);
                for (int i = 0; i < items.Count; i++)
                    for (int c = 0; c < 4; c++)
                        Assert.True(Math.Abs(one.LogLikelihoods[i][c] - b.LogLikelihoods[i][c]) < 1e-4 * Math.Abs(one.LogLikelihoods[i][c]),
                            $"rows {rows} workers {workers} item {i} choice {c}: {one.LogLikelihoods[i][c]} vs {b.LogLikelihoods[i][c]}");
            }
        // every request's sum is the plain one-forward reference
        var enc = new RequestEncoder(tok, BosMode.Auto, lm.Config.BosTokenId, lm.Config.EosTokenIds[0]);
        var requests = items.Take(3).Select(it => (IReadOnlyList<(int[], int[])>)it.Choices.Select(c => enc.Encode(c.Context, c.Continuation)).ToArray()).ToList();
        using var scorer = new LoglikelihoodScorer(lm);
        var lls = scorer.ScoreBatch(requests, 512);
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 4; c++)
            {
                var (ctx, cont) = requests[i][c];
                Assert.Equal(Reference(lm, ctx, cont), lls[i][c], 1e-3);
            }
        Assert.Throws<ArgumentException>(() => ZeroShot.Evaluate("hellaswag", lm, 1, tok, BosMode.Auto, items, file, batchRows: -1));
    }

    [Fact]
    public void Acc_and_acc_norm_differ_when_byte_lengths_differ()
    {
        using var lm = CausalLM.Load(Tiny);
        var r = ZeroShot.Evaluate("arc-easy", lm, 1, Tokenizer.FromDirectory(Tiny), BosMode.Auto, [Cat, Sun], "fixture");
        Assert.Equal(2, r.N);
        Assert.Equal(1.0, r.Acc);
        Assert.Equal(0.0, r.AccNorm);
        Assert.Equal(0.0, r.AccStderr);
        Assert.Equal(0.5, r.Chance);
        Assert.Equal(0, r.BosTokenId);
    }

    [Fact]
    public void WinoGrande_acc_norm_equals_acc_because_the_continuation_is_shared()
    {
        using var lm = CausalLM.Load(Tiny);
        string file = Path.Combine(TestPaths.RepoRoot, "tests", "Palu.Tests", "Evaluation", "Fixtures", "winogrande-dev.jsonl");
        var items = ZeroShotTask.WinoGrande.Load(file);
        var r = ZeroShot.Evaluate("winogrande", lm, 1, Tokenizer.FromDirectory(Tiny), BosMode.Never, items, file);
        Assert.Equal(4, r.N);
        Assert.Equal(r.Acc, r.AccNorm);
        Assert.Null(r.BosTokenId);
        // both options of an item score the same continuation tokens, after different contexts
        Assert.All(r.LogLikelihoods, lls => Assert.NotEqual(lls[0], lls[1]));
    }

    [Fact]
    public void Predict_ties_go_to_the_first_choice_and_chars_count_code_points()
    {
        var item = new McItem(1, [new("c", " ab", "ab"), new("c", " 😀😀", "😀😀"), new("c", " abcd", "abcd")], 0);
        var chars = AccNormLength.Chars;
        Assert.Equal((0, 0), ZeroShot.Predict(item, [-2.0, -2.0, -4.0], chars));   // −1, −1, −1 per character: first wins
        Assert.Equal((1, 1), ZeroShot.Predict(item, [-3.0, -1.0, -3.0], chars));
        Assert.Equal((0, 2), ZeroShot.Predict(item, [-3.0, -4.0, -4.0], chars));   // −1.5, −2, −1
        Assert.Equal(2, ZeroShot.CodePoints("😀😀"));
    }

    [Fact]
    public void Predict_by_default_divides_by_utf8_bytes()
    {
        // "é" is 1 character but 2 UTF-8 bytes; the emoji pair is 2 characters, 8 bytes
        var item = new McItem(1, [new("c", " éé", "éé"), new("c", " abc", "abc"), new("c", " 😀😀", "😀😀")], 0);
        double[] lls = [-3.0, -3.3, -7.0];
        // bytes: −0.75, −1.1, −0.875 → choice 0; chars: −1.5, −1.1, −3.5 → choice 1
        Assert.Equal((0, 0), ZeroShot.Predict(item, lls));
        Assert.Equal((0, 1), ZeroShot.Predict(item, lls, AccNormLength.Chars));
        Assert.Equal(4, ZeroShot.Length("éé", AccNormLength.Bytes));
        Assert.Equal(8, ZeroShot.Length("😀😀", AccNormLength.Bytes));
        Assert.Equal(2, ZeroShot.Length("😀😀", AccNormLength.Chars));
    }

    [Fact]
    public void Stderr_is_lm_eval_mean_stderr()
    {
        // sample standard deviation / sqrt(n) of 110 ones and 90 zeros
        var x = Enumerable.Repeat(1.0, 110).Concat(Enumerable.Repeat(0.0, 90)).ToArray();
        double mean = x.Average(), sd = Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1));
        Assert.Equal(sd / Math.Sqrt(x.Length), ZeroShot.Stderr(0.55, 200)!.Value, 12);
        Assert.Equal(0.035266394669214, ZeroShot.Stderr(0.55, 200)!.Value, 12);
        Assert.Null(ZeroShot.Stderr(1, 1));
    }

    /// <summary>Real ARC items (shared context) and WinoGrande-style items (shared continuation, different contexts).</summary>
    static List<McItem> MixedItems()
    {
        var items = ZeroShotTask.ArcChallenge.Load(TestPaths.Data("tasks/arc/ARC-Challenge-test.jsonl")).Take(4).ToList();
        items.Add(new McItem(1, [new("The trophy doesn't fit into the suitcase because the trophy", " is too small.", "is too small."),
            new("The trophy doesn't fit into the suitcase because the suitcase", " is too small.", "is too small.")], 1));
        items.Add(new McItem(2, [new("", " a", "a"), new("", " b c", "b c")], 0));   // empty context → prefix token
        return items;
    }

    [Theory]
    [InlineData("tiny", false)]
    [InlineData("stories260k", false)]
    [InlineData("tiny", true)]       // Palu latent cache (rewinds the latents)
    public void Shared_prefix_equals_scoring_each_request_alone(string model, bool palu)
    {
        using var tmp = TestPaths.Temp();
        string dir = TestPaths.Model(model);
        if (palu)
        {
            PaluCompressor.Compress(dir, tmp.File("palu"), new PaluOptions
            {
                KvKeep = 0.5, GroupSize = 1, CalibrationFile = TestPaths.Data("calib/corpus-train-2M.txt"),
                CalibrationSamples = 4, CalibrationSeqLen = 128, Overwrite = true,
            });
            dir = tmp.File("palu");
        }
        using var lm = CausalLM.Load(dir);
        var enc = new RequestEncoder(Tokenizer.FromDirectory(dir), BosMode.Auto);
        using var shared = new LoglikelihoodScorer(lm);
        using var alone = new LoglikelihoodScorer(lm);
        foreach (var item in MixedItems())
        {
            var requests = item.Choices.Select(c => enc.Encode(c.Context, c.Continuation)).ToArray();
            var got = shared.Score(requests);
            for (int c = 0; c < requests.Length; c++)
            {
                double want = alone.ScoreAlone(requests[c].Context, requests[c].Continuation);
                Assert.True(Math.Abs(got[c] - want) <= 1e-4, $"{model} palu={palu} line {item.Line} choice {c}: {got[c]} vs {want}");
                Assert.True(Math.Abs(want - Reference(lm, requests[c].Context, requests[c].Continuation)) <= 1e-4);
            }
        }
    }

    [Fact]
    public void Long_inputs_are_cut_from_the_left_to_max_positions()
    {
        // stories260k: max_position_embeddings 512; the sequence keeps its last 513 tokens, the model sees 512
        using var lm = CausalLM.Load(TestPaths.Model("stories260k"));
        var tok = Tokenizer.FromDirectory(TestPaths.Model("stories260k"));
        var ctx = tok.Encode(string.Concat(Enumerable.Repeat("Once upon a time there was a little dog. ", 60)));
        Assert.True(ctx.Length > 600);
        int[] shortCont = tok.Encode(" He was happy."), longCont = tok.Encode(" He was happy and he played in the park all day.");
        using var scorer = new LoglikelihoodScorer(lm);
        var got = scorer.Score([(ctx, shortCont), (ctx, longCont)]);
        foreach (var (cont, g) in new[] { (shortCont, got[0]), (longCont, got[1]) })
        {
            int keep = 513 - cont.Length;
            double want = Reference(lm, ctx[^keep..], cont);
            Assert.True(Math.Abs(g - want) <= 1e-4, $"{g} vs {want}");
        }
        Assert.Throws<ArgumentException>(() => scorer.Score([(ctx[..2], Enumerable.Repeat(5, 513).ToArray())]));
    }
}
