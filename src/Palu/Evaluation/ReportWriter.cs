using Palu.IO;

namespace Palu.Evaluation;

/// <summary>Writes a suite's report directory atomically: results.json, results.md, index.html.</summary>
public static class ReportWriter
{
    public static readonly string[] Files = ["results.json", "results.md", "index.html"];

    public static void Write(SuiteReport report, string outDir, bool overwrite)
    {
        using var dir = new AtomicDirectory(outDir, overwrite);
        File.WriteAllText(Path.Combine(dir.Path, "results.json"), report.ToJson() + "\n");
        File.WriteAllText(Path.Combine(dir.Path, "results.md"), ReportMarkdown.Write(report));
        File.WriteAllText(Path.Combine(dir.Path, "index.html"), ReportHtml.Write(report));
        dir.Commit();
    }
}
