using Palu.Compression;
using Palu.Evaluation;
using Palu.Generation;
using Palu.IO;
using Palu.Models;
using Palu.Runtime;
using Palu.Runtime.Cuda;
using Palu.Tensors;
using Palu.Tests;
using Palu.Tests.Runtime;
using Palu.Text;
using Xunit;

namespace Palu.GpuTests;

/// <summary>
/// The CUDA backend against the CPU: every op of the op table against the reference, golden logits of every shared
/// model and the HF random models, perplexity, greedy continuations, a Palu latent model, batched decode, memory
/// released on dispose, and clear errors. Every test skips (with the reason) where no NVIDIA GPU is present.
/// </summary>
public class CudaTests(ITestOutputHelper output)
{
    static readonly string? Missing = CudaBackend.Unavailable();
    static CudaBackend Gpu => CudaBackend.Instance;

    static void RequireGpu() => Assert.SkipWhen(Missing != null, $"no CUDA GPU: {Missing}");

    static LoadOptions OnGpu => new() { Backend = Gpu };

    /// <summary>Largest NMSE for a GPU op: weights are held in bf16 there (relative rounding 2⁻⁹).</summary>
    const double GpuBound = 1e-4;

    [Fact]
    public void EveryOpMatchesTheReference()
    {
        RequireGpu();
        var reference = Backends.Get("cpu-reference");
        var lines = new List<string> { $"{"op",-24} {"shape",-58} {"NMSE cuda",12}" };
        var failures = new List<string>();
        foreach (var c in OpCases.All())
        {
            double e = OpCases.Nmse(c.Run(Gpu), c.Run(reference));
            lines.Add($"{c.Op,-24} {c.Shape,-58} {e,12:E2}");
            if (!(e <= GpuBound)) failures.Add($"{c.Op} {c.Shape}: NMSE {e:E2} > {GpuBound:E0}");
        }
        foreach (var l in lines) output.WriteLine(l);
        Report("gpu-op-table.txt", lines);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Every one-row GEMV kind (PALU_CUDA_GEMV) on the one-row products of the op table, among them products
    /// of more row groups than the grid has blocks (one block per multiprocessor) and of columns not a multiple of 1024.</summary>
    [Theory]
    [InlineData("split")]
    [InlineData("t4:4")]
    [InlineData("t2:1")]
    [InlineData("t1:2")]
    [InlineData("t4:1")]
    public void EveryOneRowGemvKindMatchesTheReference(string kind)
    {
        RequireGpu();
        var reference = Backends.Get("cpu-reference");
        string was = Gpu.OneRowGemv;
        var failures = new List<string>();
        int n = 0;
        try
        {
            Gpu.OneRowGemv = kind;
            foreach (var c in OpCases.All().Where(c => c.Shape.Contains("T=1 ") || c.Shape.StartsWith("one row")))
            {
                double e = OpCases.Nmse(c.Run(Gpu), c.Run(reference));
                output.WriteLine($"{kind,-8} {c.Op,-24} {c.Shape,-40} {e,10:E2}");
                if (!(e <= GpuBound)) failures.Add($"{kind} {c.Op} {c.Shape}: NMSE {e:E2} > {GpuBound:E0}");
                n++;
            }
        }
        finally { Gpu.OneRowGemv = was; }
        Assert.True(n >= 8, $"only {n} one-row cases found");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Every GEMV kind for 2..8 rows (PALU_CUDA_GEMV8) on the op table's products of that many rows: alone, three
    /// of one x in one launch, with a held-back SwiGLU made as x is read; among them products of more row groups than
    /// the grid has blocks and of columns not a multiple of the 512-column chunk.</summary>
    [Theory]
    [InlineData("grid")]
    [InlineData("q2:3")]
    [InlineData("q2:1")]
    public void EveryFewRowGemvKindMatchesTheReference(string kind)
    {
        RequireGpu();
        var reference = Backends.Get("cpu-reference");
        string was = Gpu.FewRowGemv;
        var failures = new List<string>();
        int n = 0;
        try
        {
            Gpu.FewRowGemv = kind;
            foreach (var c in OpCases.All().Where(c => c.Op.StartsWith("MatMul") || c.Op.StartsWith("SwiGlu → MatMul")))
            {
                if (System.Text.RegularExpressions.Regex.Match(c.Shape, @"T=(\d+)") is not { Success: true } m || int.Parse(m.Groups[1].Value) is < 2 or > 8) continue;
                double e = OpCases.Nmse(c.Run(Gpu), c.Run(reference));
                output.WriteLine($"{kind,-6} {c.Op,-24} {c.Shape,-40} {e,10:E2}");
                if (!(e <= GpuBound)) failures.Add($"{kind} {c.Op} {c.Shape}: NMSE {e:E2} > {GpuBound:E0}");
                n++;
            }
        }
        finally { Gpu.FewRowGemv = was; }
        Assert.True(n >= 8, $"only {n} cases of 2..8 rows found");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>The long-context decode attention (PALU_CUDA_ATTN_CHUNKS = C: a block walks C splits of 128 keys with
    /// an online softmax, attn_long.cu) against the CPU reference: the op table's attention cases over bf16 caches
    /// (those of 2·C splits or more take it: 2,501 and 1,302 positions, a window) and batches of three sequences in one
    /// launch (attn_decodemc; 3,001, 2,101 and 1,501 positions, with and without a window of 900).</summary>
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void AttentionChunksMatchTheReference(int chunks)
    {
        RequireGpu();
        var reference = Backends.Get("cpu-reference");
        int was = Gpu.AttentionChunks;
        var failures = new List<string>();
        var cases = OpCases.All().Where(c => c.Op == "Attention" && c.Shape.EndsWith("BF16 cache")).ToList();
        foreach (int? window in new int?[] { null, 900 })
            cases.Add(new OpCase("Attention, 3 sequences", $"H=8/2 d_h=128 start=3000,2100,1500{(window is int w ? $" window={w}" : "")}", be => BatchedAttention(be, window)));
        try
        {
            Gpu.AttentionChunks = chunks;
            foreach (var c in cases)
            {
                double e = OpCases.Nmse(c.Run(Gpu), c.Run(reference));
                output.WriteLine($"chunks {chunks} {c.Op,-24} {c.Shape,-48} {e,10:E2}");
                if (!(e <= GpuBound)) failures.Add($"chunks {chunks} {c.Op} {c.Shape}: NMSE {e:E2} > {GpuBound:E0}");
            }
        }
        finally { Gpu.AttentionChunks = was; }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>One decode row of each of three sequences attended in one ForEach (the batched kernel on the GPU).</summary>
    static float[] BatchedAttention(Backend be, int? window)
    {
        int H = 8, Hkv = 2, dh = 128;
        int[] starts = [3000, 2100, 1500];
        var rng = new Random(7);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var stores = new List<KvStore>();
        try
        {
            foreach (int st in starts)
                for (int kv = 0; kv < 2; kv++)
                {
                    var s = new KvStore(be, DType.BF16, Hkv, st + 5, dh);
                    stores.Add(s);
                    be.Store(be.Load(Rand((st + 1) * Hkv * dh)), Hkv * dh, 0, s, 0, st + 1);
                }
            int row = H * dh;
            var q = be.Load(Rand(starts.Length * row));              // [B, H·d_h]
            var o = be.Load(new float[starts.Length * row]);         // [B, H·d_h]
            be.ForEach(starts.Length, i => be.Attention(q.Slice(i * row, row), stores[2 * i], stores[2 * i + 1], o.Slice(i * row, row),
                new AttentionCall(1, starts[i], H, Hkv, dh, window)));
            var y = new float[starts.Length * row];
            be.Download(o, y);
            return y;
        }
        finally { foreach (var s in stores) s.Dispose(); }
    }

    static void Report(string file, IEnumerable<string> lines)
    {
        string dir = Environment.GetEnvironmentVariable("PALU_REPORT_DIR") is { Length: > 0 } d ? d : Path.Combine(TestPaths.RepoRoot, "TestResults");
        Directory.CreateDirectory(dir);
        File.WriteAllLines(Path.Combine(dir, file), lines);
    }

    public static TheoryData<string> GoldenModels() => ["tiny", "stories260k"];

    /// <summary>The golden prompts on the GPU: argmax equal to transformers' at ≥ 99 % of positions, counting as equal
    /// a position where the GPU's pick is a near-tie of the golden's (its golden logit within twice the position's
    /// max|Δ| of the top one: bf16 rounding can only decide such ties); the raw agreement and the worst
    /// max|Δ|/max|golden| are printed (bf16 weights and KV cache: around 1e-2 is expected).</summary>
    [Theory]
    [MemberData(nameof(GoldenModels))]
    public void GoldenLogits(string model)
    {
        RequireGpu();
        string dir = TestPaths.Model(model);
        using var lm = CausalLM.Load(dir, OnGpu);
        using var golden = SafetensorsFile.Open(Path.Combine(dir, "golden", "logits.safetensors"));
        int agree = 0, ties = 0, total = 0;
        double worst = 0;
        for (int k = 0; k < 3; k++)
        {
            var ids = golden.ReadInt64($"input_ids_{k}").Select(v => (int)v).ToArray();
            var positions = golden.Tensors.ContainsKey($"positions_{k}")
                ? golden.ReadInt64($"positions_{k}") : Enumerable.Range(0, ids.Length).Select(i => (long)i).ToArray();
            var expected = golden.ReadFloat32($"logits_{k}");
            var logits = Logits(lm, ids);
            for (int i = 0; i < positions.Length; i++)
            {
                var got = logits.AsSpan((int)positions[i] * lm.Vocab, lm.Vocab);
                var want = expected.AsSpan(i * lm.Vocab, lm.Vocab);
                var (a, e) = Compare(got, want);
                agree += a ? 1 : 0; total++; worst = Math.Max(worst, e);
                if (!a && NearTie(got, want)) ties++;
            }
        }
        output.WriteLine($"{model}: argmax equal at {agree}/{total} positions ({ties} more near-ties), worst max|Δ|/max|golden| {worst:E2}");
        Assert.True(agree + ties >= 0.99 * total, $"{model}: argmax equal at {agree}/{total}, {ties} near-ties");
        Assert.True(worst < 0.1, $"{model}: worst relative error {worst:E2}");
    }

    [Theory]
    [InlineData("llama3-scaled")]
    [InlineData("llama-linear")]
    [InlineData("mistral-window")]
    [InlineData("qwen2-bias")]
    [InlineData("qwen3-norm")]
    public void HfRandomModels(string name)
    {
        RequireGpu();
        string dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "hf-random", name);
        using var lm = CausalLM.Load(dir, OnGpu);
        using var golden = SafetensorsFile.Open(Path.Combine(dir, "golden_logits.safetensors"));
        var ids = golden.ReadInt64("input_ids").Select(v => (int)v).ToArray();
        var want = golden.ReadFloat32("logits");
        var got = Logits(lm, ids);
        int agree = 0; double worst = 0;
        for (int t = 0; t < ids.Length; t++)
        {
            var (a, e) = Compare(got.AsSpan(t * lm.Vocab, lm.Vocab), want.AsSpan(t * lm.Vocab, lm.Vocab));
            agree += a ? 1 : 0; worst = Math.Max(worst, e);
        }
        output.WriteLine($"{name}: argmax equal at {agree}/{ids.Length}, worst {worst:E2}");
        Assert.True(agree >= 0.95 * ids.Length, $"{name}: argmax equal at {agree}/{ids.Length}");
        Assert.True(worst < 0.1, $"{name}: worst relative error {worst:E2}");
    }

    /// <summary>logits [T, V]: a prefill of the first half, then one token at a time (both paths on the GPU).</summary>
    static float[] Logits(CausalLM lm, int[] ids)
    {
        using var seq = lm.NewSequence(ids.Length);
        int d = lm.Hidden, split = Math.Max(1, ids.Length / 2);
        var hidden = new float[ids.Length * d];
        lm.Forward(ids.AsSpan(0, split), seq, hidden);
        for (int t = split; t < ids.Length; t++) lm.Forward(ids.AsSpan(t, 1), seq, hidden.AsSpan(t * d, d));
        var logits = new float[ids.Length * lm.Vocab];
        lm.Logits(hidden, logits, ids.Length);
        return logits;
    }

    /// <summary>The GPU's argmax has a golden logit within 2·max|Δ| of the golden's top.</summary>
    static bool NearTie(ReadOnlySpan<float> got, ReadOnlySpan<float> want)
    {
        float maxDiff = 0;
        for (int v = 0; v < want.Length; v++) maxDiff = Math.Max(maxDiff, Math.Abs(got[v] - want[v]));
        return want[Sampler.ArgMax(want)] - want[Sampler.ArgMax(got)] <= 2 * maxDiff;
    }

    static (bool ArgmaxEqual, double RelErr) Compare(ReadOnlySpan<float> got, ReadOnlySpan<float> want)
    {
        float maxAbs = 0, maxDiff = 0;
        for (int v = 0; v < want.Length; v++) { maxAbs = Math.Max(maxAbs, Math.Abs(want[v])); maxDiff = Math.Max(maxDiff, Math.Abs(got[v] - want[v])); }
        return (Sampler.ArgMax(got) == Sampler.ArgMax(want), maxDiff / maxAbs);
    }

    /// <summary>WikiText-2 perplexity (first 40 windows of 1024) on the GPU within 0.5 % of the CPU's: dense, Palu, and
    /// SkipCat weights (keep 0.8: low-rank linears with shared projections and an identity block, gathered inputs).</summary>
    [Fact]
    public void PerplexityMatchesTheCpu()
    {
        RequireGpu();
        string tiny = TestPaths.Model("tiny");
        using var tmp = TestPaths.Temp();
        PaluCompressor.Compress(tiny, tmp.File("palu"), new PaluOptions
        {
            KvKeep = 0.5, GroupSize = 1, CalibrationFile = TestPaths.Data("calib/corpus-train-2M.txt"), CalibrationSamples = 8, CalibrationSeqLen = 256,
        }, ct: TestContext.Current.CancellationToken);
        Palu.Compression.Weights.WeightCompressor.Compress(tiny, tmp.File("skipcat"), new Palu.Compression.Weights.WeightOptions
        {
            Keep = 0.8, Method = Palu.Compression.Weights.WeightMethod.SkipCat, CalibrationFile = TestPaths.Data("calib/corpus-train-2M.txt"),
            CalibrationSamples = 8, CalibrationSeqLen = 256,
        }, ct: TestContext.Current.CancellationToken);
        string text = File.ReadAllText(TestPaths.Data("wikitext-2-raw/wiki.test.raw"));
        foreach (var dir in new[] { tiny, tmp.File("palu"), tmp.File("skipcat") })
        {
            var tok = Tokenizer.FromDirectory(dir);
            double Ppl(LoadOptions? o)
            {
                using var lm = CausalLM.Load(dir, o);
                return Perplexity.EvaluateText(lm, tok, text, 1024, PerplexityProtocol.BosWindows, 40).Ppl;
            }
            double cpu = Ppl(null), gpu = Ppl(OnGpu);
            output.WriteLine($"{Path.GetFileName(dir)}: ppl CPU {cpu:F4}, GPU {gpu:F4} ({(gpu / cpu - 1) * 100:+0.000;-0.000} %)");
            Assert.True(Math.Abs(gpu / cpu - 1) < 0.005, $"{dir}: GPU ppl {gpu} vs CPU {cpu}");
        }
    }

    /// <summary>Greedy continuations of every golden prompt: the GPU's first 16 tokens equal the CPU's.</summary>
    [Theory]
    [MemberData(nameof(GoldenModels))]
    public void GreedyContinuationsMatchTheCpu(string model)
    {
        RequireGpu();
        string dir = TestPaths.Model(model);
        var tok = Tokenizer.FromDirectory(dir);
        using var cpu = CausalLM.Load(dir);
        using var gpu = CausalLM.Load(dir, OnGpu);
        foreach (var prompt in new[] { "Once upon a time", "The history of the city", "In 1885 the" })
        {
            var ids = tok.Encode(prompt, addSpecialTokens: true);
            var a = Greedy(cpu, ids, 16);
            var b = Greedy(gpu, ids, 16);
            Assert.Equal(a, b);
        }
    }

    static int[] Greedy(CausalLM lm, int[] prompt, int n)
    {
        using var gen = new Generator(lm, new SamplingOptions(0, 0, 1, null), n, [], prompt.Length + n);
        gen.AppendTokens(prompt);
        var r = new List<int>();
        while (!gen.IsDone) r.Add(gen.GenerateNextToken());
        return r.ToArray();
    }

    /// <summary>A step of many sequences of several rows (zero-shot packs; 70 sequences, so two launches of 64 and 6)
    /// with the ropes, cache stores and flash attention run as one launch per op across the sequences
    /// (<see cref="CudaBackend.BatchSequences"/>) gives the rows of the unbatched path: bit for bit for sequences of
    /// more than 4 rows (the same kernels' arithmetic), within bf16 rounding for the shorter ones (there flash
    /// attention instead of the split kernel). A second step over the caches the first one wrote agrees the same way.</summary>
    [Fact]
    public void ManySequenceStepsMatchTheUnbatchedPath()
    {
        RequireGpu();
        using var lm = CausalLM.Load(TestPaths.Model("tiny"), OnGpu);
        var rng = new Random(11);
        int B = 70, d = lm.Hidden;
        var first = Enumerable.Range(0, B).Select(b => b % 10 == 0 ? 1 + b % 4 : rng.Next(5, 70)).ToArray();
        var second = Enumerable.Range(0, B).Select(b => b % 3 == 0 ? 1 : rng.Next(2, 9)).ToArray();
        var tokens = first.Select((n, b) => Enumerable.Range(0, n + second[b]).Select(_ => rng.Next(1, lm.Vocab)).ToArray()).ToArray();
        bool was = Gpu.BatchSequences;
        try
        {
            Gpu.BatchSequences = false;
            var (a1, a2) = TwoSteps(lm, tokens, first);
            Gpu.BatchSequences = true;
            var (b1, b2) = TwoSteps(lm, tokens, first);
            foreach (var (plain, batched, lens) in new[] { (a1, b1, first), (a2, b2, second) })
            {
                int row = 0;
                for (int b = 0; b < B; b++)
                {
                    var x = plain.AsSpan(row * d, lens[b] * d).ToArray();
                    var y = batched.AsSpan(row * d, lens[b] * d).ToArray();
                    row += lens[b];
                    if (lens == first && lens[b] > 4) Assert.Equal(x, y);
                    else Assert.True(OpCases.Nmse(y, x) < 1e-3, $"sequence {b} ({lens[b]} rows): NMSE {OpCases.Nmse(y, x):E2}");
                }
            }
        }
        finally { Gpu.BatchSequences = was; }
    }

    /// <summary>Hidden rows of two batched steps: sequence b takes its first first[b] tokens, then the rest.</summary>
    static (float[] First, float[] Second) TwoSteps(CausalLM lm, int[][] tokens, int[] first)
    {
        var seqs = tokens.Select(t => lm.NewSequence(t.Length + 1)).ToArray();
        try
        {
            using var ws = lm.NewWorkspace();
            float[] Step(Func<int, ReadOnlyMemory<int>> part)
            {
                var steps = seqs.Select((s, b) => new SequenceStep(s, part(b))).ToArray();
                var h = new float[steps.Sum(s => s.Tokens.Length) * lm.Hidden];
                lm.Forward(steps, h, ws);
                return h;
            }
            return (Step(b => tokens[b].AsMemory(0, first[b])), Step(b => tokens[b].AsMemory(first[b])));
        }
        finally { foreach (var s in seqs) s.Dispose(); }
    }

    /// <summary>The log-probabilities of targets made on the GPU (logsoftmax_at over logits that stay there) equal the
    /// host log-softmax of the downloaded logits; one row and 300 rows (the GEMV and the cuBLAS product).</summary>
    [Fact]
    public void TargetLogProbsMatchTheHostLogSoftmax()
    {
        RequireGpu();
        using var lm = CausalLM.Load(TestPaths.Model("tiny"), OnGpu);
        var rng = new Random(3);
        int d = lm.Hidden, V = lm.Vocab;
        foreach (int n in new[] { 1, 300 })
        {
            var hidden = Enumerable.Range(0, n * d).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var targets = Enumerable.Range(0, n).Select(_ => rng.Next(V)).ToArray();
            var logits = new float[n * V];
            lm.Logits(hidden, logits, n);
            var lp = new float[n];
            Assert.True(lm.TargetLogProbs(hidden, targets, lp, n));
            for (int r = 0; r < n; r++)
            {
                double want = Perplexity.LogSoftmaxAt(logits.AsSpan(r * V, V), targets[r]);
                Assert.True(Math.Abs(lp[r] - want) <= 1e-4 * Math.Max(1, Math.Abs(want)), $"row {r} of {n}: {lp[r]} against {want}");
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => lm.TargetLogProbs(new float[d], [V], new float[1], 1));
    }

    /// <summary>Batched decode on the GPU: 4 sequences advanced together give each one's tokens alone.</summary>
    [Fact]
    public void BatchedDecodeMatchesSingleSequences()
    {
        RequireGpu();
        string dir = TestPaths.Model("tiny");
        var tok = Tokenizer.FromDirectory(dir);
        using var lm = CausalLM.Load(dir, OnGpu);
        var prompts = new[] { "Once upon a time", "The history of", "A cat sat", "Water is" }.Select(p => tok.Encode(p, true)).ToArray();
        var alone = prompts.Select(p => Greedy(lm, p, 8)).ToArray();
        var seqs = prompts.Select(p => lm.NewSequence(p.Length + 9)).ToArray();
        using var ws = lm.NewWorkspace();
        int d = lm.Hidden, V = lm.Vocab, B = prompts.Length;
        var next = new int[B];
        var logits = new float[B * V];
        for (int b = 0; b < B; b++)
        {
            var h = new float[prompts[b].Length * d];
            lm.Forward(prompts[b], seqs[b], h);
            lm.Logits(h.AsSpan((prompts[b].Length - 1) * d, d), logits.AsSpan(b * V, V), 1);
        }
        var tokens = prompts.Select(_ => new List<int>()).ToArray();
        var hb = new float[B * d];
        for (int s = 0; s < 8; s++)
        {
            for (int b = 0; b < B; b++) { next[b] = Sampler.ArgMax(logits.AsSpan(b * V, V)); tokens[b].Add(next[b]); }
            if (s == 7) break;
            lm.DecodeBatch(next, seqs, hb, ws);
            lm.Logits(hb, logits, B);
        }
        for (int b = 0; b < B; b++) Assert.Equal(alone[b], tokens[b].ToArray());
        foreach (var q in seqs) q.Dispose();
    }

    /// <summary>A model's device memory comes back when it is disposed (load and dispose three times).</summary>
    [Fact]
    public void DisposingAModelReleasesItsDeviceMemory()
    {
        RequireGpu();
        Gpu.TrimScratch();
        long before = Gpu.MemoryInfo().Free;
        for (int i = 0; i < 3; i++)
        {
            using var lm = CausalLM.Load(TestPaths.Model("tiny"), OnGpu);
            using var seq = lm.NewSequence(256);
            lm.Forward([1, 2, 3], seq, new float[3 * lm.Hidden]);
            Assert.True(Gpu.MemoryInfo().Free < before, "a loaded model should hold device memory");
        }
        Gpu.TrimScratch();
        long after = Gpu.MemoryInfo().Free;
        output.WriteLine($"free before {before / 1048576.0:F1} MiB, after 3 load/dispose cycles {after / 1048576.0:F1} MiB");
        Assert.True(before - after < 4 << 20, $"{(before - after) / 1048576.0:F1} MiB not returned");
    }

    /// <summary>Asking for more memory than the card has: a clear message with the sizes, and the backend still works.</summary>
    [Fact]
    public void ExhaustedMemoryIsExplainedAndTheBackendRecovers()
    {
        RequireGpu();
        var e = Assert.Throws<InsufficientMemoryException>(() => Gpu.Allocate(Gpu.TotalMemory * 2));
        Assert.Contains("MiB more were needed", e.Message);
        Assert.Contains("shorter context", e.Message);
        using var lm = CausalLM.Load(TestPaths.Model("stories260k"), OnGpu);
        Assert.Equal(4, Greedy(lm, [1, 403, 407], 4).Length);
    }
}
