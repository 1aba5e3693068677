using System.Globalization;

namespace Palu.Evaluation;

public enum RowKind { Perplexity, Accuracy, Bytes }

/// <summary>One metric of the comparison table: its value on the baseline (if any) and on the model.</summary>
public sealed record ReportRow(string Metric, RowKind Kind, double? Baseline, double? Model, double? BaselineErr = null, double? ModelErr = null)
{
    public bool LowerIsBetter => Kind != RowKind.Accuracy;

    public string BaselineText => Format(Baseline, BaselineErr);
    public string ModelText => Format(Model, ModelErr);

    /// <summary>model − baseline: perplexity also relative, accuracy in percentage points, bytes relative.</summary>
    public string DeltaText
    {
        get
        {
            if (Baseline is not double b || Model is not double m) return "";
            return Kind switch
            {
                RowKind.Perplexity => $"{Signed(m - b, "F3")} ({Signed(100 * (m - b) / b, "F1")} %)",
                RowKind.Accuracy => Signed(100 * (m - b), "F2"),
                _ => b == 0 ? "" : $"{Signed(100 * (m - b) / b, "F1")} %",
            };
        }
    }

    /// <summary>+1 when the model is better than the baseline, −1 worse, 0 same or not comparable.</summary>
    public int Verdict => Baseline is double b && Model is double m && b != m ? ((m < b) == LowerIsBetter ? 1 : -1) : 0;

    string Format(double? v, double? err) => v is not double x ? "–" : Kind switch
    {
        RowKind.Perplexity => x.ToString("F3", CultureInfo.InvariantCulture),
        RowKind.Accuracy => (100 * x).ToString("F2", CultureInfo.InvariantCulture)
                            + (err is double e ? " ± " + (100 * e).ToString("F2", CultureInfo.InvariantCulture) : ""),
        _ => x.ToString("N0", CultureInfo.InvariantCulture),
    };

    static string Signed(double v, string f) => (v >= 0 ? "+" : "−") + Math.Abs(v).ToString(f, CultureInfo.InvariantCulture);
}

/// <summary>The rows shared by results.md and index.html.</summary>
public static class ReportTable
{
    /// <summary>Perplexity per text, each task's paper metric (acc or acc_norm), their average, KV bytes per token.</summary>
    public static List<ReportRow> Rows(SuiteReport r)
    {
        var rows = new List<ReportRow>();
        var b = r.Baseline;
        foreach (var p in r.Model.Perplexity)
        {
            var bp = b?.Perplexity.FirstOrDefault(x => x.Name == p.Name);
            rows.Add(new ReportRow($"PPL {p.Name} (seq {p.SeqLen})", RowKind.Perplexity, bp?.Ppl, p.Ppl));
        }
        foreach (var t in r.Model.Tasks)
        {
            var bt = b?.Tasks.FirstOrDefault(x => x.Task == t.Task);
            bool norm = ZeroShotTask.Get(t.Task).Metric == PaperMetric.AccNorm;
            rows.Add(new ReportRow($"{t.Task} {(norm ? "acc_norm" : "acc")} (n {t.N})", RowKind.Accuracy,
                bt is null ? null : ModelResults.PaperValue(bt), ModelResults.PaperValue(t),
                bt is null ? null : ModelResults.PaperStderr(bt), ModelResults.PaperStderr(t)));
        }
        if (r.Model.PaperAverage is double avg)
            rows.Add(new ReportRow(AverageLabel(r.Model), RowKind.Accuracy, b?.PaperAverage, avg));
        rows.Add(new ReportRow("KV cache bytes/token (f32)", RowKind.Bytes, b?.Info.KvBytesPerToken, r.Model.Info.KvBytesPerToken));
        return rows;
    }

    /// <summary>"average of the papers' 6 tasks", or which of them are missing from the average.</summary>
    public static string AverageLabel(ModelResults m)
    {
        int n = ZeroShotTask.PapersSix.Count;
        var ran = m.PaperAverageTasks;
        if (ran.Count == n) return $"average of the papers' {n} tasks";
        var missing = ZeroShotTask.PapersSix.Select(t => t.Name).Where(t => !ran.Contains(t));
        return $"average of {ran.Count} of the papers' {n} tasks (without {string.Join(", ", missing)})";
    }

    /// <summary>The sentence under the summary table (results.md and index.html).</summary>
    public static string Legend(bool hasBaseline) =>
        "PPL: lower is better. Accuracy in %, ± one standard error; each task shows the metric the papers report " +
        "(acc for PIQA, ARC-e, WinoGrande, BoolQ; acc_norm for ARC-c, OpenBookQA, HellaSwag); the average is over the papers' " +
        "six tasks (PIQA, ARC-e, ARC-c, HellaSwag, OpenBookQA, WinoGrande), without BoolQ." + (hasBaseline ? " Δ = model − baseline." : "");

    /// <summary>Every task's acc and acc_norm on each model, for the details table.</summary>
    public static IEnumerable<(string Task, string Role, ZeroShotResult R)> Details(SuiteReport r)
    {
        foreach (var t in r.Model.Tasks)
        {
            if (r.Baseline?.Tasks.FirstOrDefault(x => x.Task == t.Task) is { } bt) yield return (t.Task, "baseline", bt);
            yield return (t.Task, "model", t);
        }
    }

    /// <summary>What acc_norm divided by, in words: "character" or "UTF-8 byte".</summary>
    public static string NormUnit(SuiteSettings s) => s.AccNormLength == "chars" ? "character" : "UTF-8 byte";

    public static string Pct(double v) => (100 * v).ToString("F2", CultureInfo.InvariantCulture);
    public static string F(double v, string f) => v.ToString(f, CultureInfo.InvariantCulture);
}
