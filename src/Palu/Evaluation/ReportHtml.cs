using System.Text;
using static System.Net.WebUtility;

namespace Palu.Evaluation;

/// <summary>index.html: one self-contained page (inline CSS, inline SVG, no scripts, nothing fetched).</summary>
public static class ReportHtml
{
    const string BaselineColor = "#9aa5b1", ModelColor = "#2b6cb0";

    const string Css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2933;margin:24px auto;max-width:1100px;padding:0 16px}
        h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px}
        .meta{color:#52606d;margin:0 0 4px}.meta code{font-size:12px}
        table{border-collapse:collapse;margin:8px 0}th,td{padding:5px 12px;border-bottom:1px solid #e4e7eb;text-align:right}
        th{background:#f5f7fa;font-weight:600}td:first-child,th:first-child{text-align:left}
        td.better{color:#1e7b34}td.worse{color:#b42318}
        .charts{display:flex;flex-wrap:wrap;gap:24px}.chart{border:1px solid #e4e7eb;border-radius:6px;padding:8px}
        svg .ct{font-size:14px;font-weight:600;fill:#1f2933}svg .lg,svg .cat{font-size:12px;fill:#323f4b}
        svg .tick{font-size:11px;fill:#616e7c}svg .val{font-size:10px;fill:#323f4b;paint-order:stroke;stroke:#fff;stroke-width:3px}
        svg .grid{stroke:#e4e7eb}svg .axis{stroke:#7b8794}svg .err{stroke:#1f2933;fill:none}
        svg .ref{stroke:#d64545;stroke-width:1.5;stroke-dasharray:4 3}
        ul.notes{color:#52606d}.small{color:#616e7c;font-size:12px}
        """;

    public static string Write(SuiteReport r)
    {
        var sb = new StringBuilder();
        var s = r.Settings;
        bool hasBase = r.Baseline is not null;
        string title = $"Evaluation: {r.Model.Info.Name}" + (hasBase ? $" vs {r.Baseline!.Info.Name}" : "");
        sb.Append($"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{HtmlEncode(title)}</title><style>{Css}</style></head><body>\n");
        sb.Append($"<h1>{HtmlEncode(title)}</h1>\n");
        if (hasBase) sb.Append(ModelLine("baseline", r.Baseline!.Info));
        sb.Append(ModelLine("model", r.Model.Info));
        sb.Append($"<p class=\"meta\">Perplexity: protocol {HtmlEncode(s.Protocol)}, seq-len {s.SeqLen}{(s.MaxWindows is int w ? $", first {w} windows" : "")}. " +
                  $"Zero-shot: lm-evaluation-harness 0.4 scoring, BOS {HtmlEncode(s.Bos)}, acc_norm per {ReportTable.NormUnit(s)}{(s.Limit is int l ? $", first {l} items per task" : "")}. " +
                  $"{HtmlEncode(r.Tool)}, {r.Created:yyyy-MM-dd HH:mm} UTC.</p>\n");

        sb.Append("<h2>Summary</h2>\n<table><thead><tr><th>metric</th>");
        sb.Append(hasBase ? "<th>baseline</th><th>model</th><th>Δ</th>" : "<th>model</th>");
        sb.Append("</tr></thead><tbody>\n");
        foreach (var row in ReportTable.Rows(r))
        {
            string cls = row.Verdict > 0 ? " class=\"better\"" : row.Verdict < 0 ? " class=\"worse\"" : "";
            sb.Append($"<tr><td>{HtmlEncode(row.Metric)}</td>");
            if (hasBase) sb.Append($"<td>{HtmlEncode(row.BaselineText)}</td>");
            sb.Append($"<td>{HtmlEncode(row.ModelText)}</td>");
            if (hasBase) sb.Append($"<td{cls}>{HtmlEncode(row.DeltaText)}</td>");
            sb.Append("</tr>\n");
        }
        sb.Append($"</tbody></table>\n<p class=\"small\">{HtmlEncode(ReportTable.Legend(hasBase))}</p>\n");

        sb.Append("<h2>Plots</h2>\n<div class=\"charts\">\n");
        if (r.Model.Perplexity.Count > 0) sb.Append($"<div class=\"chart\">{PplChart(r)}</div>\n");
        if (r.Model.Tasks.Count > 0) sb.Append($"<div class=\"chart\">{AccuracyChart(r)}</div>\n");
        sb.Append("</div>\n");

        if (r.Model.Tasks.Count > 0)
        {
            sb.Append("<h2>Tasks in detail</h2>\n<table><thead><tr><th>task</th><th>run</th><th>n</th><th>acc</th><th>acc_norm</th><th>chance</th><th>s / 100 items</th></tr></thead><tbody>\n");
            foreach (var (task, role, t) in ReportTable.Details(r))
                sb.Append($"<tr><td>{HtmlEncode(task)}</td><td>{role}</td><td>{t.N}</td><td>{ReportTable.Pct(t.Acc)}</td><td>{ReportTable.Pct(t.AccNorm)}</td>" +
                          $"<td>{ReportTable.Pct(t.Chance)}</td><td>{ReportTable.F(t.Seconds * 100 / t.N, "F2")}</td></tr>\n");
            sb.Append("</tbody></table>\n");
        }
        if (r.Notes.Count > 0)
        {
            sb.Append("<h2>Notes</h2>\n<ul class=\"notes\">\n");
            foreach (var n in r.Notes) sb.Append($"<li>{HtmlEncode(n)}</li>\n");
            sb.Append("</ul>\n");
        }
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    static string ModelLine(string role, ModelInfo m) =>
        $"<p class=\"meta\"><b>{role}</b> {HtmlEncode(m.Name)} <code>{HtmlEncode(m.Path)}</code>: {m.Layers} layers, hidden {m.Hidden}, " +
        $"{m.Heads}/{m.KvHeads} heads × {m.HeadDim}, vocab {m.Vocab}; KV cache {m.KvBytesPerToken:N0} B/token" +
        (m.PaluCompressed ? " (Palu latents)" : "") + "</p>\n";

    static string PplChart(SuiteReport r)
    {
        var names = r.Model.Perplexity.Select(p => p.Name).ToArray();
        var series = new List<(string, string, double?[], double?[]?)>();
        if (r.Baseline is { } b)
            series.Add(("baseline", BaselineColor, names.Select(n => b.Perplexity.FirstOrDefault(p => p.Name == n)?.Ppl).ToArray(), null));
        series.Add(("model", ModelColor, r.Model.Perplexity.Select(p => (double?)p.Ppl).ToArray(), null));
        return new SvgBarChart
        {
            Title = "Perplexity per text (lower is better)", YLabel = "perplexity", Categories = names, Series = series,
            ValueText = v => ReportTable.F(v, v < 100 ? "F2" : "F1"),
        }.Render();
    }

    static string AccuracyChart(SuiteReport r)
    {
        var tasks = r.Model.Tasks;
        var series = new List<(string, string, double?[], double?[]?)>();
        double? Value(ZeroShotResult? t) => t is null ? null : 100 * ModelResults.PaperValue(t);
        double? Err(ZeroShotResult? t) => t is null ? null : 100 * ModelResults.PaperStderr(t);
        if (r.Baseline is { } b)
        {
            var bt = tasks.Select(t => b.Tasks.FirstOrDefault(x => x.Task == t.Task)).ToArray();
            series.Add(("baseline", BaselineColor, bt.Select(Value).ToArray(), bt.Select(Err).ToArray()));
        }
        series.Add(("model", ModelColor, tasks.Select(t => Value(t)).ToArray(), tasks.Select(t => Err(t)).ToArray()));
        return new SvgBarChart
        {
            Title = "Zero-shot accuracy per task (papers' metric, ± 1 s.e.)", YLabel = "accuracy (%)",
            Categories = tasks.Select(t => t.Task).ToArray(), Series = series,
            Reference = tasks.Select(t => (double?)(100 * t.Chance)).ToArray(), ReferenceLabel = "chance",
            ValueText = v => ReportTable.F(v, "F1"),
        }.Render();
    }
}
