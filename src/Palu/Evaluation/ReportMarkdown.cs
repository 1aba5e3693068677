using System.Text;

namespace Palu.Evaluation;

/// <summary>results.md: the comparison table (rows = metrics; columns = baseline, model, Δ) and the details.</summary>
public static class ReportMarkdown
{
    public static string Write(SuiteReport r)
    {
        var sb = new StringBuilder();
        var s = r.Settings;
        bool hasBase = r.Baseline is not null;
        sb.AppendLine($"# Evaluation: {r.Model.Info.Name}" + (hasBase ? $" vs {r.Baseline!.Info.Name}" : ""));
        sb.AppendLine();
        if (hasBase) sb.AppendLine($"- baseline: `{r.Baseline!.Info.Path}`");
        sb.AppendLine($"- model: `{r.Model.Info.Path}`" + (r.Model.Info.PaluCompressed ? " (Palu latent KV cache)" : ""));
        sb.AppendLine($"- perplexity: protocol {s.Protocol}, seq-len {s.SeqLen}" + (s.MaxWindows is int w ? $", first {w} windows" : "")
                      + "; zero-shot: lm-evaluation-harness 0.4 scoring, BOS " + s.Bos + ", acc_norm per " + ReportTable.NormUnit(s) + (s.Limit is int l ? $", first {l} items per task" : ""));
        sb.AppendLine($"- {r.Tool}, {r.Created:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine();
        sb.AppendLine(hasBase ? "| metric | baseline | model | Δ |" : "| metric | model |");
        sb.AppendLine(hasBase ? "|---|---:|---:|---:|" : "|---|---:|");
        foreach (var row in ReportTable.Rows(r))
            sb.AppendLine(hasBase ? $"| {row.Metric} | {row.BaselineText} | {row.ModelText} | {row.DeltaText} |" : $"| {row.Metric} | {row.ModelText} |");
        sb.AppendLine();
        sb.AppendLine(ReportTable.Legend(hasBase));
        if (r.Model.Tasks.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("| task | run | n | acc | acc_norm | chance | s / 100 items |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|");
            foreach (var (task, role, t) in ReportTable.Details(r))
                sb.AppendLine($"| {task} | {role} | {t.N} | {ReportTable.Pct(t.Acc)} | {ReportTable.Pct(t.AccNorm)} | " +
                              $"{ReportTable.Pct(t.Chance)} | {ReportTable.F(t.Seconds * 100 / t.N, "F2")} |");
        }
        if (r.Notes.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Notes:");
            foreach (var n in r.Notes) sb.AppendLine($"- {n}");
        }
        return sb.ToString();
    }
}
