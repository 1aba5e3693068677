namespace Palu.Evaluation;

/// <summary>
/// One way of answering a multiple-choice item: the request (context, continuation) whose continuation log-likelihood
/// is scored, and <paramref name="NormText"/>, the choice string lm-eval divides by for acc_norm (its doc_to_choice
/// entry, i.e. the continuation without the leading target delimiter " ").
/// </summary>
public sealed record McChoice(string Context, string Continuation, string NormText);

/// <summary>A multiple-choice item: its choices and the index of the correct one. <paramref name="Line"/> is 1-based.</summary>
public sealed record McItem(int Line, McChoice[] Choices, int Gold);

/// <summary>Which summed log-likelihood the papers report per task (lm-eval metric name).</summary>
public enum PaperMetric { Acc, AccNorm }

/// <summary>
/// The zero-shot tasks this harness knows: the CLI name, the file format, the metric the papers report and where the
/// published file usually lives under a data directory (../shared/data).
/// </summary>
public sealed record ZeroShotTask(string Name, string Format, PaperMetric Metric, string[] DefaultFiles)
{
    public static readonly ZeroShotTask Piqa = new("piqa", "piqa", PaperMetric.Acc, ["tasks/piqa/valid.jsonl"]);
    public static readonly ZeroShotTask ArcEasy = new("arc-easy", "arc", PaperMetric.Acc, ["tasks/arc/ARC-Easy-test.jsonl"]);
    public static readonly ZeroShotTask ArcChallenge = new("arc-challenge", "arc", PaperMetric.AccNorm, ["tasks/arc/ARC-Challenge-test.jsonl"]);
    public static readonly ZeroShotTask OpenBookQa = new("openbookqa", "openbookqa", PaperMetric.AccNorm, ["tasks/openbookqa/test.jsonl"]);
    public static readonly ZeroShotTask HellaSwag = new("hellaswag", "hellaswag", PaperMetric.AccNorm,
        ["tasks/hellaswag/hellaswag_val.jsonl", "tasks/hellaswag/valid.jsonl", "tasks/hellaswag/validation.jsonl",
         "tasks/hellaswag/hellaswag_val_full.txt.bz2", "tasks/hellaswag/hellaswag_val_full.txt"]);
    public static readonly ZeroShotTask WinoGrande = new("winogrande", "winogrande", PaperMetric.Acc,
        ["tasks/winogrande/dev.jsonl", "tasks/winogrande/valid.jsonl"]);
    public static readonly ZeroShotTask BoolQ = new("boolq", "boolq", PaperMetric.Acc,
        ["tasks/boolq/dev.jsonl", "tasks/boolq/val.jsonl", "tasks/boolq/valid.jsonl"]);

    /// <summary>All tasks in report order (the six of the papers' table, then BoolQ).</summary>
    public static IReadOnlyList<ZeroShotTask> All { get; } = [Piqa, ArcEasy, ArcChallenge, OpenBookQa, HellaSwag, WinoGrande, BoolQ];

    public static IEnumerable<string> Names => All.Select(t => t.Name);

    /// <summary>The six tasks whose average the papers (Palu, SVD-LLM, ReCalKV) report; BoolQ is reported beside it.</summary>
    public static IReadOnlyList<ZeroShotTask> PapersSix { get; } = [Piqa, ArcEasy, ArcChallenge, HellaSwag, OpenBookQa, WinoGrande];

    /// <summary>True for the tasks of <see cref="PapersSix"/>.</summary>
    public bool InPapersAverage => PapersSix.Contains(this);

    public static ZeroShotTask Get(string name) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"unknown task '{name}'; known: {string.Join(", ", Names)}");

    public string MetricName => Metric == PaperMetric.Acc ? "acc" : "acc_norm";

    /// <summary>The first of <see cref="DefaultFiles"/> that exists under <paramref name="dataDir"/>, or null.</summary>
    public string? FindFile(string dataDir) =>
        DefaultFiles.Select(f => Path.Combine(dataDir, f)).FirstOrDefault(File.Exists);

    /// <summary>Reads the task's items from its published file (see <see cref="TaskReaders"/>).</summary>
    public List<McItem> Load(string path) => TaskReaders.Read(Format, path);
}
