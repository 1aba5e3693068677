using System.Globalization;
using System.Text;
using static System.Net.WebUtility;

namespace Palu.Evaluation;

/// <summary>
/// A grouped bar chart as inline SVG: one group per category, one bar per series, optional ± error bars and a dashed
/// reference mark per category (e.g. chance level). No scripts, no external resources.
/// </summary>
public sealed class SvgBarChart
{
    public required string Title { get; init; }
    public required string YLabel { get; init; }
    public required IReadOnlyList<string> Categories { get; init; }
    /// <summary>Series name, colour, one value (or null) per category, and optional errors.</summary>
    public required IReadOnlyList<(string Name, string Color, double?[] Values, double?[]? Errors)> Series { get; init; }
    public double?[]? Reference { get; init; }
    public string? ReferenceLabel { get; init; }
    /// <summary>How bar values are printed above the bars.</summary>
    public Func<double, string> ValueText { get; init; } = v => v.ToString("G4", CultureInfo.InvariantCulture);

    const int Top = 44, Bottom = 48, Left = 56, Right = 16, PlotHeight = 220, GroupWidth = 96;

    public string Render()
    {
        int groups = Categories.Count, series = Series.Count;
        // wide enough for the bars and for the title (about 8 px per character at 14 px bold)
        int plotWidth = Math.Max(Math.Max(240, groups * GroupWidth), 8 * Title.Length + 16 - Left);
        int width = Left + plotWidth + Right, height = Top + PlotHeight + Bottom;
        double max = 0;
        foreach (var s in Series)
            for (int g = 0; g < groups; g++)
                if (s.Values[g] is double v) max = Math.Max(max, v + (s.Errors?[g] ?? 0));
        if (Reference != null) foreach (var v in Reference) if (v is double x) max = Math.Max(max, x);
        double step = NiceStep(max / 5), top = Math.Max(step, Math.Ceiling(max * 1.08 / step) * step);
        double Y(double v) => Top + PlotHeight * (1 - v / top);

        var sb = new StringBuilder();
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{HtmlEncode(Title)}\">");
        sb.Append($"<text x=\"8\" y=\"18\" class=\"ct\">{HtmlEncode(Title)}</text>");
        // legend
        double lx = Left;
        foreach (var s in Series)
        {
            sb.Append($"<rect x=\"{N(lx)}\" y=\"26\" width=\"10\" height=\"10\" fill=\"{s.Color}\"/><text x=\"{N(lx + 14)}\" y=\"35\" class=\"lg\">{HtmlEncode(s.Name)}</text>");
            lx += 24 + 7 * s.Name.Length;
        }
        if (Reference != null && ReferenceLabel != null)
            sb.Append($"<line x1=\"{N(lx)}\" y1=\"31\" x2=\"{N(lx + 14)}\" y2=\"31\" class=\"ref\"/><text x=\"{N(lx + 18)}\" y=\"35\" class=\"lg\">{HtmlEncode(ReferenceLabel)}</text>");
        // axis and grid
        for (double t = 0; t <= top + step / 2; t += step)
        {
            double y = Y(t);
            sb.Append($"<line x1=\"{Left}\" y1=\"{N(y)}\" x2=\"{Left + plotWidth}\" y2=\"{N(y)}\" class=\"grid\"/>");
            sb.Append($"<text x=\"{Left - 6}\" y=\"{N(y + 4)}\" class=\"tick\" text-anchor=\"end\">{N(t)}</text>");
        }
        sb.Append($"<text transform=\"translate(14 {Top + PlotHeight / 2}) rotate(-90)\" class=\"tick\" text-anchor=\"middle\">{HtmlEncode(YLabel)}</text>");
        var labels = new StringBuilder();   // value labels go on top of bars, error bars and reference marks
        double gw = (double)plotWidth / groups, bw = Math.Min(32, (gw - 16) / Math.Max(1, series));
        for (int g = 0; g < groups; g++)
        {
            double x0 = Left + g * gw + (gw - bw * series) / 2;
            for (int si = 0; si < series; si++)
            {
                var s = Series[si];
                if (s.Values[g] is not double v) continue;
                double x = x0 + si * bw, y = Y(v);
                sb.Append($"<rect x=\"{N(x + 1)}\" y=\"{N(y)}\" width=\"{N(bw - 2)}\" height=\"{N(Top + PlotHeight - y)}\" fill=\"{s.Color}\"><title>{HtmlEncode($"{s.Name}, {Categories[g]}: {ValueText(v)}")}</title></rect>");
                double labelY = y - 4;
                if (s.Errors?[g] is double e && e > 0)
                {
                    double xc = x + bw / 2, y1 = Y(v + e), y2 = Y(Math.Max(0, v - e));
                    sb.Append($"<path d=\"M{N(xc)} {N(y1)}V{N(y2)}M{N(xc - 4)} {N(y1)}H{N(xc + 4)}M{N(xc - 4)} {N(y2)}H{N(xc + 4)}\" class=\"err\"/>");
                    labelY = y1 - 4;
                }
                labels.Append($"<text x=\"{N(x + bw / 2)}\" y=\"{N(labelY)}\" class=\"val\" text-anchor=\"middle\">{HtmlEncode(ValueText(v))}</text>");
            }
            if (Reference?[g] is double r)
                sb.Append($"<line x1=\"{N(x0 - 4)}\" y1=\"{N(Y(r))}\" x2=\"{N(x0 + bw * series + 4)}\" y2=\"{N(Y(r))}\" class=\"ref\"/>");
            // a "dir/file" label goes on two lines
            double cx = Left + g * gw + gw / 2;
            var parts = Categories[g].Split('/', 2);
            sb.Append($"<text x=\"{N(cx)}\" y=\"{Top + PlotHeight + 18}\" class=\"cat\" text-anchor=\"middle\">");
            for (int k = 0; k < parts.Length; k++)
                sb.Append($"<tspan x=\"{N(cx)}\" dy=\"{(k == 0 ? 0 : 14)}\">{HtmlEncode(parts[k] + (k < parts.Length - 1 ? "/" : ""))}</tspan>");
            sb.Append("</text>");
        }
        sb.Append($"<line x1=\"{Left}\" y1=\"{Top + PlotHeight}\" x2=\"{Left + plotWidth}\" y2=\"{Top + PlotHeight}\" class=\"axis\"/>");
        sb.Append(labels).Append("</svg>");
        return sb.ToString();
    }

    /// <summary>1, 2 or 5 × 10^k at least <paramref name="raw"/>.</summary>
    static double NiceStep(double raw)
    {
        if (!(raw > 0)) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw))), f = raw / p;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    }

    static string N(double v) => Math.Round(v, 2).ToString(CultureInfo.InvariantCulture);
}
