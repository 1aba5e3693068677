using System.Text.Json;
using System.Text.Json.Serialization;
using Palu.Models;

namespace Palu.Evaluation;

/// <summary>What one evaluated model is: its shape and what its KV cache costs per token.</summary>
public sealed record ModelInfo(string Name, string Path, bool PaluCompressed, int Layers, int Hidden, int Heads, int KvHeads,
    int HeadDim, int Vocab, int MaxPositions, long KvBytesPerToken, long DecodeWeightBytes)
{
    /// <summary>KV bytes/token as the engine caches them (f32 keys and values, or f32 Palu latents).</summary>
    public static ModelInfo Of(CausalLM lm)
    {
        var c = lm.Config;
        string path = System.IO.Path.GetFullPath(lm.Path);
        return new ModelInfo(System.IO.Path.GetFileName(path.TrimEnd('/')), path, c.PaluCompressed, c.NumLayers, c.HiddenSize,
            c.NumHeads, c.NumKvHeads, c.HeadDim, c.VocabSize, c.MaxPositionEmbeddings, lm.KvBytesPerToken, lm.DecodeWeightBytes);
    }
}

/// <summary>Perplexity of one text (<paramref name="Name"/> is its label in the report).</summary>
public sealed record PplEntry(string Name, string File, int SeqLen, int Windows, long Tokens, double Nll, double Ppl, double Seconds);

/// <summary>Everything measured on one model.</summary>
public sealed record ModelResults(ModelInfo Info, List<PplEntry> Perplexity, List<ZeroShotResult> Tasks)
{
    /// <summary>
    /// Unweighted mean, over the tasks of the papers' six (<see cref="ZeroShotTask.PapersSix"/>) that ran, of the metric
    /// the papers report for each; BoolQ is not part of it. Null when none of the six ran.
    /// </summary>
    public double? PaperAverage => PaperTasks.Count == 0 ? null : PaperTasks.Average(t => PaperValue(t));

    /// <summary>The names of the papers' six tasks that ran (what <see cref="PaperAverage"/> averages).</summary>
    public IReadOnlyList<string> PaperAverageTasks => PaperTasks.Select(t => t.Task).ToArray();

    List<ZeroShotResult> PaperTasks => Tasks.Where(t => ZeroShotTask.Get(t.Task).InPapersAverage).ToList();

    public static double PaperValue(ZeroShotResult r) =>
        ZeroShotTask.Get(r.Task).Metric == PaperMetric.Acc ? r.Acc : r.AccNorm;

    /// <summary>The standard error of <see cref="PaperValue"/>.</summary>
    public static double? PaperStderr(ZeroShotResult r) =>
        ZeroShotTask.Get(r.Task).Metric == PaperMetric.Acc ? r.AccStderr : r.AccNormStderr;
}

/// <summary>The settings a suite ran with (all of them go into results.json).</summary>
public sealed record SuiteSettings(string DataDir, int? Limit, int SeqLen, int? MaxWindows, string Protocol, string Bos,
    int Workers, bool FuseValues)
{
    /// <summary>What acc_norm divided by: "bytes" (UTF-8) or "chars" (code points).</summary>
    public string AccNormLength { get; init; } = "bytes";
}

/// <summary>A suite run: the model, the optional baseline, the settings and notes (skipped tasks, …).</summary>
public sealed record SuiteReport(string Tool, DateTimeOffset Created, SuiteSettings Settings, ModelResults Model,
    ModelResults? Baseline, List<string> Notes)
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static SuiteReport FromJson(string json) =>
        JsonSerializer.Deserialize<SuiteReport>(json, JsonOptions) ?? throw new JsonException("empty report");
}
