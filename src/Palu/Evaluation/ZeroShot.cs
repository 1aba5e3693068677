using Palu.IO;
using Palu.Models;
using Palu.Text;

namespace Palu.Evaluation;

/// <summary>
/// Scores of one task. acc_stderr / acc_norm_stderr are lm-eval's mean_stderr of the 0/1 outcomes,
/// sqrt(p(1 − p) / (n − 1)); null when n &lt; 2. <paramref name="BosTokenId"/>: the BOS put before every context, or null.
/// </summary>
public sealed record ZeroShotResult(string Task, int N, double Acc, double AccNorm, double? AccStderr, double? AccNormStderr,
    double Chance, double Seconds, BosMode Bos, int? BosTokenId)
{
    /// <summary>The length unit acc_norm divided by.</summary>
    public AccNormLength NormLength { get; init; } = AccNormLength.Bytes;

    /// <summary>The task file the items came from.</summary>
    public string? Source { get; init; }

    /// <summary>Per item, the summed log-likelihood of each choice (not part of results.json).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<double[]> LogLikelihoods { get; init; } = [];
}

/// <summary>
/// The length acc_norm divides a choice's log-likelihood by. <see cref="Bytes"/>: UTF-8 bytes of the choice text, as
/// our data spec (shared/data/README.md) and the issue ask; <see cref="Chars"/>: Unicode code points, what
/// lm-eval 0.4's process_results computes with Python's len(). The two agree on ASCII text (every shipped task file).
/// </summary>
public enum AccNormLength { Bytes, Chars }

/// <summary>Zero-shot multiple-choice evaluation with lm-evaluation-harness 0.4 scoring.</summary>
public static class ZeroShot
{
    /// <summary>The log-likelihoods of an item's choices (one scorer; the item's requests share their prefix).</summary>
    public static double[] ScoreItem(LoglikelihoodScorer scorer, RequestEncoder encoder, McItem item) =>
        scorer.Score(item.Choices.Select(c => encoder.Encode(c.Context, c.Continuation)).ToArray());

    /// <summary>
    /// Runs <paramref name="items"/> on <paramref name="workers"/> threads sharing one loaded model (each with its own
    /// sequence; items handed out in order; results do not depend on the number of workers) and aggregates acc,
    /// acc_norm and their standard errors. <paramref name="batchRows"/> &gt; 0: each worker scores its items in batched
    /// steps of up to that many rows (<see cref="LoglikelihoodScorer.ScoreBatch"/>: every choice its own sequence);
    /// 0: one item at a time, its choices sharing their prefix.
    /// </summary>
    public static ZeroShotResult Evaluate(string task, CausalLM lm, int workers, Tokenizer tokenizer, BosMode bos,
        IReadOnlyList<McItem> items, string source, IProgress<double>? progress = null, CancellationToken ct = default,
        AccNormLength normLength = AccNormLength.Bytes, int batchRows = 0)
    {
        if (batchRows < 0) throw new ArgumentException($"--batch-rows must be ≥ 0, got {batchRows}");
        CheckWorkers(workers);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var cfg = lm.Config;
        var encoder = new RequestEncoder(tokenizer, bos, cfg.BosTokenId, cfg.EosTokenIds.Count > 0 ? cfg.EosTokenIds[0] : null);
        var lls = new double[items.Count][];
        int next = -1, done = 0;
        int threads = ThreadsPerWorker(workers);
        void Work()
        {
            using var limit = Kernels.Cpu.Parallelism.Limit(threads);
            using var scorer = new LoglikelihoodScorer(lm);
            var pack = new List<(int Index, (int[], int[])[] Requests)>();
            int packRows = 0;
            void Flush()
            {
                var scores = scorer.ScoreBatch(pack.Select(p => (IReadOnlyList<(int[], int[])>)p.Requests).ToList(), batchRows);
                for (int k = 0; k < pack.Count; k++) lls[pack[k].Index] = scores[k];
                progress?.Report((double)Interlocked.Add(ref done, pack.Count) / items.Count);
                pack.Clear();
                packRows = 0;
            }
            for (int i; (i = Interlocked.Increment(ref next)) < items.Count;)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    if (batchRows == 0) lls[i] = ScoreItem(scorer, encoder, items[i]);
                    else
                    {
                        var requests = items[i].Choices.Select(c => encoder.Encode(c.Context, c.Continuation)).ToArray();
                        int rows = scorer.BatchRows(requests);   // checks the requests, so a bad one names its line
                        if (pack.Count > 0 && packRows + rows > batchRows) Flush();
                        pack.Add((i, requests));
                        packRows += rows;
                        continue;
                    }
                }
                catch (ArgumentException e) { throw new ModelFormatException(source, $"line {items[i].Line}: {e.Message}"); }
                progress?.Report((double)Interlocked.Increment(ref done) / items.Count);
            }
            if (pack.Count > 0) Flush();
        }
        if (workers == 1) Work();
        else Task.WaitAll(Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(Work, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray(), ct);

        int correct = 0, correctNorm = 0;
        double chance = 0;
        for (int i = 0; i < items.Count; i++)
        {
            var (pred, predNorm) = Predict(items[i], lls[i], normLength);
            if (pred == items[i].Gold) correct++;
            if (predNorm == items[i].Gold) correctNorm++;
            chance += 1.0 / items[i].Choices.Length;
        }
        int n = items.Count;
        double acc = (double)correct / n, accNorm = (double)correctNorm / n;
        return new ZeroShotResult(task, n, acc, accNorm, Stderr(acc, n), Stderr(accNorm, n), chance / n,
            sw.Elapsed.TotalSeconds, bos, encoder.Bos) { LogLikelihoods = lls, NormLength = normLength, Source = source };
    }

    /// <summary>
    /// lm-eval's predictions: acc = argmax of the log-likelihoods, acc_norm = argmax of log-likelihood / len(choice),
    /// with len the length of the choice string (its doc_to_choice entry, without the leading " ") in UTF-8 bytes
    /// (default) or Unicode code points (Python's len(), lm-eval's process_results). Ties go to the first choice
    /// (numpy argmax).
    /// </summary>
    public static (int Pred, int PredNorm) Predict(McItem item, double[] lls, AccNormLength unit = AccNormLength.Bytes)
    {
        int pred = 0, predNorm = 0;
        double bestNorm = double.NegativeInfinity;
        for (int c = 0; c < lls.Length; c++)
        {
            if (lls[c] > lls[pred]) pred = c;
            int len = Length(item.Choices[c].NormText, unit);
            double norm = len > 0 ? lls[c] / len : double.NegativeInfinity;
            if (c == 0 || norm > bestNorm) { bestNorm = norm; predNorm = c; }
        }
        return (pred, predNorm);
    }

    /// <summary>The BOS mode's name on the command line and in results: auto, always or never.</summary>
    public static string BosName(BosMode m) => m.ToString().ToLowerInvariant();

    /// <summary>The acc_norm length unit's name on the command line and in results: bytes or chars.</summary>
    public static string NormLengthName(AccNormLength u) => u == AccNormLength.Chars ? "chars" : "bytes";

    /// <summary>The length of a choice text in <paramref name="unit"/>.</summary>
    public static int Length(string s, AccNormLength unit) =>
        unit == AccNormLength.Bytes ? System.Text.Encoding.UTF8.GetByteCount(s) : CodePoints(s);

    /// <summary>Python len(): Unicode code points (a surrogate pair counts once).</summary>
    public static int CodePoints(string s)
    {
        int n = 0;
        for (int i = 0; i < s.Length; i++)
            if (!(char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))) n++;
        return n;
    }

    /// <summary>Throws unless <paramref name="limit"/> is null or ≥ 1 (the <c>--limit</c> option).</summary>
    public static void CheckLimit(int? limit)
    {
        if (limit is int n && n < 1) throw new ArgumentException($"--limit must be ≥ 1, got {n}");
    }

    /// <summary>The first <paramref name="limit"/> items (all of them when null or larger than the task).</summary>
    public static List<McItem> Limit(List<McItem> items, int? limit)
    {
        CheckLimit(limit);
        return limit is int k && k < items.Count ? items.GetRange(0, k) : items;
    }

    /// <summary>Throws unless <paramref name="workers"/> (the <c>--workers</c> option) is in [1, 64].</summary>
    public static void CheckWorkers(int workers)
    {
        if (workers < 1 || workers > 64) throw new ArgumentException($"--workers must be in [1, 64], got {workers}");
    }

    /// <summary>Each of <paramref name="workers"/> workers' share of the kernel threads (so they do not fight over the cores).</summary>
    public static int ThreadsPerWorker(int workers) => Math.Max(1, Kernels.Cpu.Parallelism.DefaultThreads / Math.Max(1, workers));

    /// <summary>Standard error of a mean of n 0/1 outcomes with mean p (sample variance, as lm-eval's mean_stderr).</summary>
    public static double? Stderr(double p, int n) => n < 2 ? null : Math.Sqrt(p * (1 - p) / (n - 1));
}
