using Palu.IO;
using Palu.Models;
using Palu.Text;

namespace Palu.Evaluation;

/// <summary>What <c>palu eval suite</c> runs; null SeqLen = min(1024, max_position_embeddings of the models).</summary>
public sealed record SuiteOptions
{
    public required string DataDir { get; init; }
    /// <summary>Texts for perplexity; empty = WikiText-2 test and the TinyStories slice under <see cref="DataDir"/>.</summary>
    public IReadOnlyList<string> PplFiles { get; init; } = [];
    /// <summary>Task name → file, used instead of looking under <see cref="DataDir"/> (e.g. WinoGrande, not shipped).</summary>
    public IReadOnlyDictionary<string, string> TaskFiles { get; init; } = new Dictionary<string, string>();
    public int? Limit { get; init; }
    public int? SeqLen { get; init; }
    public int? MaxWindows { get; init; }
    public PerplexityProtocol Protocol { get; init; } = PerplexityProtocol.BosWindows;
    public BosMode Bos { get; init; } = BosMode.Auto;
    public AccNormLength NormLength { get; init; } = AccNormLength.Bytes;
    public int Workers { get; init; } = 1;
    /// <summary>How both models are loaded (backend, fused values, KV dtype).</summary>
    public LoadOptions Load { get; init; } = new();
}

/// <summary>
/// The before/after evaluation: perplexity on every text and every zero-shot task whose file exists under the data
/// directory, for a model and optionally its baseline (same texts, tasks and settings for both).
/// </summary>
public static class Suite
{
    public static readonly string[] DefaultPplFiles = ["wikitext-2-raw/wiki.test.raw", "tinystories/valid-slice.txt"];

    /// <summary>Progress of one step: its label and its fraction done.</summary>
    public delegate IProgress<double> StepProgress(string label);

    public static SuiteReport Run(string modelDir, string? baselineDir, SuiteOptions o, StepProgress? step = null, CancellationToken ct = default)
    {
        ZeroShot.CheckLimit(o.Limit);
        ZeroShot.CheckWorkers(o.Workers);
        var notes = new List<string>();
        var texts = PplTexts(o, notes);
        var tasks = new List<(ZeroShotTask Task, string File, List<McItem> Items)>();
        foreach (var name in o.TaskFiles.Keys) ZeroShotTask.Get(name);   // unknown names are an error before any work
        foreach (var t in ZeroShotTask.All)
        {
            if ((o.TaskFiles.TryGetValue(t.Name, out var given) ? given : t.FindFile(o.DataDir)) is not string f)
            {
                notes.Add($"{t.Name}: skipped, no file under {o.DataDir} (looked for {string.Join(", ", t.DefaultFiles)})");
                continue;
            }
            tasks.Add((t, Path.GetFullPath(f), ZeroShot.Limit(t.Load(f), o.Limit)));
        }
        if (texts.Count == 0 && tasks.Count == 0)
            throw new ArgumentException($"nothing to evaluate: no perplexity text and no task file under {Path.GetFullPath(o.DataDir)}; " +
                "give the data directory (--data-dir DIR), texts (--ppl FILE) or task files (--task-file NAME=FILE)");
        if (o.Limit is int lim) notes.Add($"tasks limited to their first {lim} items (--limit)");

        int seqLen = o.SeqLen ?? Math.Min(1024, MaxPositions(modelDir, baselineDir));
        if (o.MaxWindows is int mw) notes.Add($"perplexity over the first {mw} windows of each text only (--max-windows)");
        var settings = new SuiteSettings(Path.GetFullPath(o.DataDir), o.Limit, seqLen, o.MaxWindows,
            Perplexity.ProtocolName(o.Protocol), ZeroShot.BosName(o.Bos), o.Workers, o.Load.FuseValues)
        { AccNormLength = ZeroShot.NormLengthName(o.NormLength) };

        var baseline = baselineDir is null ? null : RunModel(baselineDir, "baseline", o, seqLen, texts, tasks, step, ct);
        var model = RunModel(modelDir, "model", o, seqLen, texts, tasks, step, ct);
        if (baseline is not null && baseline.Info.Vocab != model.Info.Vocab)
            notes.Add($"the baseline's vocabulary ({baseline.Info.Vocab}) differs from the model's ({model.Info.Vocab}): perplexities are not comparable");
        return new SuiteReport($"palu {typeof(Suite).Assembly.GetName().Version?.ToString(3)}", DateTimeOffset.UtcNow, settings, model, baseline, notes);
    }

    static List<(string Name, string File, string Text)> PplTexts(SuiteOptions o, List<string> notes)
    {
        var result = new List<(string, string, string)>();
        if (o.PplFiles.Count > 0)
        {
            foreach (var f in o.PplFiles)
            {
                if (!File.Exists(f)) throw new ModelFormatException(f, "perplexity text not found (--ppl)");
                result.Add((Label(f), Path.GetFullPath(f), Text.TextInput.Read(f, "--ppl")));
            }
        }
        else
        {
            foreach (var rel in DefaultPplFiles)
            {
                string f = Path.Combine(o.DataDir, rel);
                if (File.Exists(f)) result.Add((Label(f), Path.GetFullPath(f), Text.TextInput.Read(f, "--ppl")));
                else notes.Add($"perplexity on {rel}: skipped, not found under {o.DataDir}");
            }
        }
        return result;
    }

    /// <summary>"parent/file" (e.g. wikitext-2-raw/wiki.test.raw): short and still says which text.</summary>
    static string Label(string file)
    {
        string full = Path.GetFullPath(file);
        return $"{Path.GetFileName(Path.GetDirectoryName(full))}/{Path.GetFileName(full)}";
    }

    static int MaxPositions(string modelDir, string? baselineDir)
    {
        int m = ModelConfig.Load(Path.Combine(modelDir, "config.json")).MaxPositionEmbeddings;
        return baselineDir is null ? m : Math.Min(m, ModelConfig.Load(Path.Combine(baselineDir, "config.json")).MaxPositionEmbeddings);
    }

    static ModelResults RunModel(string dir, string role, SuiteOptions o, int seqLen, List<(string Name, string File, string Text)> texts,
        List<(ZeroShotTask Task, string File, List<McItem> Items)> tasks, StepProgress? step, CancellationToken ct)
    {
        using var lm = CausalLM.Load(dir, o.Load);
        {
            Perplexity.CheckSeqLen(lm, seqLen, dir);
            var tok = Tokenizer.FromDirectory(dir);
            var ppl = new List<PplEntry>();
            foreach (var (name, file, text) in texts)
            {
                var r = Perplexity.EvaluateText(lm, tok, text, seqLen, o.Protocol, o.MaxWindows, step?.Invoke($"{role}: ppl {name}"), ct);
                ppl.Add(new PplEntry(name, file, seqLen, r.Windows, r.Tokens, r.Nll, r.Ppl, r.Seconds));
            }
            var results = new List<ZeroShotResult>();
            foreach (var (task, file, items) in tasks)
                results.Add(ZeroShot.Evaluate(task.Name, lm, o.Workers, tok, o.Bos, items, file, step?.Invoke($"{role}: {task.Name} ({items.Count})"), ct, o.NormLength));
            return new ModelResults(ModelInfo.Of(lm), ppl, results);
        }
    }
}
