using System.Diagnostics;
using Palu.Models;
using Palu.Text;

namespace Palu.Training;

/// <summary>Calibration settings of a Fisher pass (defaults: ReCalKV's README sample count, Palu's length and seed).</summary>
public sealed record FisherSettings
{
    public required string CalibrationFile { get; init; }
    public int Samples { get; init; } = 256;
    public int SeqLen { get; init; } = 1024;
    public int Seed { get; init; } = 3;
    public LabelObjective Objective { get; init; } = LabelObjective.NextToken;
}

/// <summary>Throughput and memory of one pass. Tokens = model input positions run forward and backward.</summary>
public sealed record FisherRunStats(double Seconds, long Tokens, long PeakBytes)
{
    public double TokensPerSecond => Tokens / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// The Fisher pass (ALGORITHMS.md §1.5): for every calibration sample (batch 1), forward and backward of the mean
/// token cross-entropy, then F_W += (∂L/∂W)² in f32 for the seven linears of every layer; finally F = sqrt(F / n).
/// </summary>
public static class FisherPass
{
    /// <summary>
    /// Loads the model and tokenizer from <paramref name="modelDir"/>, draws the samples (§1.1) and runs the pass.
    /// Stats.Seconds covers the pass only (not loading, tokenizing or hashing).
    /// </summary>
    public static (FisherInfo Info, FisherRunStats Stats) Compute(string modelDir, FisherSettings s, bool keepFull = false,
        IProgress<double>? progress = null, CancellationToken ct = default, string? modelSha256 = null, string? calibrationSha256 = null)
    {
        CheckCalibrationFile(s);
        using var lm = CausalLM.Load(modelDir);
        Validate(lm, s);
        return Run(lm, Tokenizer.FromDirectory(modelDir), s, keepFull, progress, ct, modelSha256, calibrationSha256);
    }

    /// <summary>
    /// The same pass on a model and tokenizer already loaded (the model hash, unless given, from <see cref="CausalLM.Path"/>).
    /// The model is only read: nothing (cache, observer, weights) is left changed on it.
    /// </summary>
    public static (FisherInfo Info, FisherRunStats Stats) Compute(CausalLM lm, Tokenizer tok, FisherSettings s, bool keepFull = false,
        IProgress<double>? progress = null, CancellationToken ct = default, string? modelSha256 = null, string? calibrationSha256 = null)
    {
        CheckCalibrationFile(s);
        Validate(lm, s);
        return Run(lm, tok, s, keepFull, progress, ct, modelSha256, calibrationSha256);
    }

    static void CheckCalibrationFile(FisherSettings s)
    {
        if (!File.Exists(s.CalibrationFile)) throw new IO.ModelFormatException(s.CalibrationFile, "calibration text not found");
    }

    static void Validate(CausalLM lm, FisherSettings s)
    {
        if (s.SeqLen - 1 > lm.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"Fisher seq-len {s.SeqLen} exceeds the model's max_position_embeddings {lm.Config.MaxPositionEmbeddings} + 1");
        if (s.SeqLen < 3) throw new ArgumentException($"Fisher seq-len must be at least 3, got {s.SeqLen}");
        if (s.Samples <= 0) throw new ArgumentException($"--samples (Fisher calibration sequences) must be positive, got {s.Samples}");
    }

    static (FisherInfo Info, FisherRunStats Stats) Run(CausalLM lm, Tokenizer tok, FisherSettings s, bool keepFull,
        IProgress<double>? progress, CancellationToken ct, string? modelSha256, string? calibrationSha256)
    {
        var samples = CalibrationData.Sample(s.CalibrationFile, tok, s.Samples, s.SeqLen, s.Seed);
        string modelHash = modelSha256 ?? ModelHash.Compute(lm.Path), calibHash = calibrationSha256 ?? ModelHash.FileSha256(s.CalibrationFile);
        var sw = Stopwatch.StartNew();
        var (sums, scored) = Accumulate(lm, samples, s.Objective, progress, ct);
        var meta = new FisherMetadata
        {
            ModelSha256 = modelHash, CalibrationFile = Path.GetFileName(s.CalibrationFile), CalibrationSha256 = calibHash,
            Samples = s.Samples, SeqLen = s.SeqLen, Seed = s.Seed, Objective = s.Objective, Tokens = scored,
        };
        var info = FisherInfo.FromSums(sums, TrainingShape.From(lm), samples.Count, meta, keepFull);
        long tokens = samples.Sum(x => (long)x.Length - 1);
        return (info, new FisherRunStats(sw.Elapsed.TotalSeconds, tokens, PeakResidentBytes()));
    }

    /// <summary>Σ_samples (∂L/∂W)² per linear ([layer·7 + kind][out·in]) and the number of scored tokens.</summary>
    public static (float[][] Sums, long Scored) Accumulate(CausalLM lm, IReadOnlyList<int[]> samples, LabelObjective objective,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var bp = new Backprop(lm);
        var acc = new Accumulator(bp.Shape);
        long scored = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var (inputs, targets) = LabelObjectives.Split(samples[i], objective);
            bp.LossAndGradients(inputs, targets, acc);
            scored += targets.Count(y => y >= 0);
            progress?.Report((i + 1.0) / samples.Count);
        }
        return (acc.Sums, scored);
    }

    sealed class Accumulator(TrainingShape s) : IWeightGradientSink
    {
        public readonly float[][] Sums = Enumerable.Range(0, s.Layers * LinearKinds.All.Length).Select(i =>
        {
            var (m, n) = s.Dims(LinearKinds.All[i % LinearKinds.All.Length]);
            return new float[m * n];
        }).ToArray();

        public void Add(int layer, LinearKind kind, ReadOnlySpan<float> grad) =>
            BackpropOps.AddSquares(Sums[layer * LinearKinds.All.Length + (int)kind], grad);
    }

    /// <summary>Peak resident memory of this process (VmHWM from /proc/self/status; the current working set elsewhere).</summary>
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.WorkingSet;
    }
}
