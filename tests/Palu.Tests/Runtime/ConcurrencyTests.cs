using Palu.Compression;
using Palu.Generation;
using Palu.Models;
using Palu.Text;

namespace Palu.Tests.Runtime;

/// <summary>
/// One loaded model, many sequences: 8 sequences advanced concurrently (on 8 threads, and through the batched step)
/// give exactly what each gives alone — the same greedy tokens and the same logits, bit for bit — on a dense model and
/// on a Palu-compressed one.
/// </summary>
public class ConcurrencyTests
{
    const int Sequences = 8, Steps = 12;

    static readonly string[] Prompts =
    [
        "The keeper climbed the steps", "Once upon a time", "In the beginning the", "A short note on",
        "The committee reported that the new bridge", "Water boils at", "She opened the door and", "Why do cats",
    ];

    /// <summary>Greedy tokens and the logits of every step of one sequence: prefill, then <see cref="Steps"/> decodes.</summary>
    sealed record Trace(int[] Tokens, float[][] Logits);

    static int[][] Encode(string dir)
    {
        var tok = Tokenizer.FromDirectory(dir);
        return Prompts.Select(p => tok.Encode(p, addSpecialTokens: true)).ToArray();
    }

    static Trace Alone(CausalLM lm, int[] prompt)
    {
        using var seq = lm.NewSequence(prompt.Length + Steps + 1);
        var hidden = new float[prompt.Length * lm.Hidden];
        lm.Forward(prompt, seq, hidden);
        var logits = new float[lm.Vocab];
        lm.Logits(hidden.AsSpan((prompt.Length - 1) * lm.Hidden, lm.Hidden), logits, 1);
        var tokens = new List<int>();
        var all = new List<float[]> { logits.ToArray() };
        var h1 = new float[lm.Hidden];
        for (int s = 0; s < Steps; s++)
        {
            int next = Sampler.ArgMax(logits);
            tokens.Add(next);
            lm.Forward([next], seq, h1);
            lm.Logits(h1, logits, 1);
            all.Add(logits.ToArray());
        }
        return new Trace(tokens.ToArray(), all.ToArray());
    }

    /// <summary>Each sequence prefilled on its own, then all decoded together, one batched step per token.</summary>
    static Trace[] Batched(CausalLM lm, int[][] prompts)
    {
        int B = prompts.Length, d = lm.Hidden, V = lm.Vocab;
        var seqs = prompts.Select(p => lm.NewSequence(p.Length + Steps + 1)).ToArray();
        using var ws = lm.NewWorkspace();
        var logits = new float[B * V];                       // [B, V]
        var traces = prompts.Select(_ => (Tokens: new List<int>(), Logits: new List<float[]>())).ToArray();
        for (int b = 0; b < B; b++)
        {
            var hidden = new float[prompts[b].Length * d];
            lm.Forward(prompts[b], seqs[b], hidden);
            lm.Logits(hidden.AsSpan((prompts[b].Length - 1) * d, d), logits.AsSpan(b * V, V), 1);
            traces[b].Logits.Add(logits.AsSpan(b * V, V).ToArray());
        }
        var h = new float[B * d];                            // [B, d]
        var next = new int[B];
        for (int s = 0; s < Steps; s++)
        {
            for (int b = 0; b < B; b++) { next[b] = Sampler.ArgMax(logits.AsSpan(b * V, V)); traces[b].Tokens.Add(next[b]); }
            lm.DecodeBatch(next, seqs, h, ws);
            lm.Logits(h, logits, B);
            for (int b = 0; b < B; b++) traces[b].Logits.Add(logits.AsSpan(b * V, V).ToArray());
        }
        foreach (var sq in seqs) sq.Dispose();
        return traces.Select(t => new Trace(t.Tokens.ToArray(), t.Logits.ToArray())).ToArray();
    }

    static void AssertSame(Trace want, Trace got, string what)
    {
        Assert.Equal(want.Tokens, got.Tokens);
        for (int s = 0; s < want.Logits.Length; s++)
            Assert.True(want.Logits[s].AsSpan().SequenceEqual(got.Logits[s]), $"{what}: logits of step {s} differ");
    }

    static void Check(string dir)
    {
        using var lm = CausalLM.Load(dir);
        var prompts = Encode(dir);
        var alone = prompts.Select(p => Alone(lm, p)).ToArray();
        Assert.True(alone.Select(t => string.Join(",", t.Tokens)).Distinct().Count() > 1, "prompts should lead to different continuations");

        // 8 threads, each with its own sequence on the shared model, started together
        var threaded = new Trace[Sequences];
        using (var start = new Barrier(Sequences))
            Task.WaitAll(Enumerable.Range(0, Sequences).Select(i => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                threaded[i] = Alone(lm, prompts[i]);
            }, TaskCreationOptions.LongRunning)).ToArray());
        for (int i = 0; i < Sequences; i++) AssertSame(alone[i], threaded[i], $"thread {i}");

        // the batched decode step
        var batched = Batched(lm, prompts);
        for (int i = 0; i < Sequences; i++) AssertSame(alone[i], batched[i], $"batched sequence {i}");
    }

    [Fact]
    public void DenseModelSequencesAreIndependent() => Check(TestPaths.Model("tiny"));

    [Fact]
    public void PaluModelSequencesAreIndependent()
    {
        using var tmp = TestPaths.Temp();
        PaluCompressor.Compress(TestPaths.Model("tiny"), tmp.File("palu"), new PaluOptions
        {
            KvKeep = 0.5, GroupSize = 1, CalibrationFile = TestPaths.Data("calib/corpus-train-2M.txt"), CalibrationSamples = 4, CalibrationSeqLen = 128,
        });
        Check(tmp.File("palu"));
    }

    /// <summary>All prompts prefilled in one ragged step (rows of different sequences through the same linears): the
    /// same continuations as alone; the logits agree to f32 rounding (longer row blocks take the GEMM path).</summary>
    [Fact]
    public void RaggedPrefillStepMatchesSeparatePrefills()
    {
        using var lm = CausalLM.Load(TestPaths.Model("stories260k"));
        var prompts = Encode(TestPaths.Model("stories260k"));
        var seqs = prompts.Select(p => lm.NewSequence(p.Length + 1)).ToArray();
        using var ws = lm.NewWorkspace();
        int rows = prompts.Sum(p => p.Length), d = lm.Hidden, V = lm.Vocab;
        var hidden = new float[rows * d];
        lm.Forward(prompts.Select((p, i) => new SequenceStep(seqs[i], p)).ToArray(), hidden, ws);
        for (int i = 0, row = 0; i < prompts.Length; row += prompts[i].Length, i++)
        {
            Assert.Equal(prompts[i].Length, seqs[i].Length);
            var got = new float[V];
            lm.Logits(hidden.AsSpan((row + prompts[i].Length - 1) * d, d), got, 1);
            var want = Alone(lm, prompts[i]).Logits[0];
            float max = want.Max(Math.Abs), diff = want.Zip(got, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff / max < 1e-5, $"prompt {i}: rel err {diff / max:E2}");
            Assert.Equal(Sampler.ArgMax(want), Sampler.ArgMax(got));
            seqs[i].Dispose();
        }
    }

    [Fact]
    public void BatchedStepRejectsASequenceTwiceAndForeignSequences()
    {
        using var lm = CausalLM.Load(TestPaths.Model("tiny"));
        using var other = CausalLM.Load(TestPaths.Model("stories260k"));
        using var s = lm.NewSequence(8);
        using var t = other.NewSequence(8);
        using var ws = lm.NewWorkspace();
        var h = new float[2 * lm.Hidden];
        Assert.Throws<ArgumentException>(() => lm.DecodeBatch([1, 2], [s, s], h, ws));
        Assert.Throws<ArgumentException>(() => lm.DecodeBatch([1], [t], h, ws));
        Assert.Equal(0, s.Length);
        // more rows than one step of this backend holds (its prefill chunk: 512 on the CPU)
        using var a = lm.NewSequence(300);
        using var b = lm.NewSequence(300);
        var ids = Enumerable.Repeat(1, 257).ToArray();
        var e = Assert.Throws<ArgumentException>(() => lm.Forward([new SequenceStep(a, ids), new SequenceStep(b, ids)], new float[514 * lm.Hidden], ws));
        Assert.Contains($"at most {lm.Backend.PrefillChunk} rows on the {lm.Backend.Name} backend, got 514", e.Message);
        Assert.Equal(0, a.Length);
    }
}
