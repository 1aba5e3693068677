using System.Text.Json;
using Palu.Cli.Commands;
using Palu.Evaluation;

namespace Palu.Tests.Evaluation;

/// <summary>The suite on a small data directory: the three report files and what they hold.</summary>
public class SuiteTests
{
    /// <summary>A data dir with the first lines of PIQA and ARC-Easy, a hand-written WinoGrande file and no others.</summary>
    static string DataDir(TempDir tmp)
    {
        string data = tmp.File("data");
        void Copy(string rel, int lines)
        {
            string dst = Path.Combine(data, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.WriteAllLines(dst, File.ReadLines(TestPaths.Data(rel)).Take(lines));
        }
        Copy("tasks/piqa/valid.jsonl", 6);
        Copy("tasks/piqa/valid-labels.lst", 6);
        Copy("tasks/arc/ARC-Easy-test.jsonl", 6);
        Directory.CreateDirectory(Path.Combine(data, "tasks/winogrande"));
        File.WriteAllLines(Path.Combine(data, "tasks/winogrande/dev.jsonl"),
        [
            """{"sentence": "The trophy doesn't fit into the suitcase because the _ is too small.", "option1": "trophy", "option2": "suitcase", "answer": "2"}""",
            """{"sentence": "The cat chased the mouse because _ was hungry.", "option1": "the cat", "option2": "the mouse", "answer": "1"}""",
        ]);
        File.WriteAllText(Path.Combine(data, "text.txt"), File.ReadAllText(TestPaths.Data("wikitext-2-raw/wiki.test.raw"))[..6000]);
        return data;
    }

    [Fact]
    public void Suite_writes_json_markdown_and_html()
    {
        using var tmp = TestPaths.Temp();
        string data = DataDir(tmp), tiny = TestPaths.Model("tiny"), outDir = tmp.File("report");
        var report = Suite.Run(tiny, tiny, new SuiteOptions
        {
            DataDir = data, PplFiles = [Path.Combine(data, "text.txt")], Limit = 4, SeqLen = 128, MaxWindows = 3,
        });
        ReportWriter.Write(report, outDir, overwrite: false);
        Assert.Equal(ReportWriter.Files.Order(), Directory.GetFiles(outDir).Select(Path.GetFileName).Order());

        // results.json: every number and setting, readable back
        var back = SuiteReport.FromJson(File.ReadAllText(Path.Combine(outDir, "results.json")));
        Assert.Equal(["piqa", "arc-easy", "winogrande"], back.Model.Tasks.Select(t => t.Task));
        Assert.Equal([4, 4, 2], back.Model.Tasks.Select(t => t.N));
        Assert.Equal(128, back.Settings.SeqLen);
        Assert.Equal(3, back.Model.Perplexity[0].Windows);
        Assert.Equal(3 * 127, back.Model.Perplexity[0].Tokens);
        Assert.Equal(6144, back.Model.Info.KvBytesPerToken);     // 4 layers × (K + V) × 3 heads × 64 × 4 B
        Assert.Equal(report.Model.Perplexity[0].Ppl, back.Baseline!.Perplexity[0].Ppl);   // same model twice: same numbers
        Assert.All(back.Model.Tasks, t => Assert.Equal(t.Acc, back.Baseline.Tasks.Single(b => b.Task == t.Task).Acc));
        Assert.Contains(back.Notes, n => n.StartsWith("hellaswag: skipped"));
        Assert.Contains(back.Notes, n => n.StartsWith("openbookqa: skipped"));
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))))
            Assert.Equal(back.Model.Tasks.Average(ModelResults.PaperValue),   // piqa acc, arc-easy acc, winogrande acc
                doc.RootElement.GetProperty("model").GetProperty("paper_average").GetDouble(), 12);

        // results.md: rows = metrics, columns = baseline, model, Δ
        string md = File.ReadAllText(Path.Combine(outDir, "results.md"));
        Assert.Contains("| metric | baseline | model | Δ |", md);
        Assert.Contains("| PPL data/text.txt (seq 128) |", md);
        Assert.Contains("| winogrande acc (n 2) |", md);
        Assert.Contains("| KV cache bytes/token (f32) | 6,144 | 6,144 | +0.0 % |", md);
        Assert.Contains("+0.000 (+0.0 %) |", md);

        // index.html: self-contained, the table and two SVG plots
        string html = File.ReadAllText(Path.Combine(outDir, "index.html"));
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Equal(2, html.Split("<svg ").Length - 1);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotContain("src=", html);
        Assert.Equal(2, html.Split("http").Length - 1);   // only the two SVG xmlns
        Assert.Contains("<td>winogrande acc (n 2)</td>", html);

        // an existing report is not replaced without overwrite
        Assert.Throws<IOException>(() => ReportWriter.Write(report, outDir, overwrite: false));
        ReportWriter.Write(report, outDir, overwrite: true);
    }

    [Fact]
    public void Single_model_report_has_no_baseline_column()
    {
        using var tmp = TestPaths.Temp();
        string data = DataDir(tmp);
        var report = Suite.Run(TestPaths.Model("stories260k"), null, new SuiteOptions
        {
            DataDir = data, PplFiles = [Path.Combine(data, "text.txt")], Limit = 2, MaxWindows = 1,
        });
        Assert.Equal(512, report.Settings.SeqLen);   // min(1024, max_position_embeddings)
        string md = ReportMarkdown.Write(report);
        Assert.Contains("| metric | model |", md);
        Assert.DoesNotContain("baseline", md);
        Assert.Contains("average of 3 of the papers' 6 tasks (without arc-challenge, hellaswag, openbookqa)", md);
    }

    [Fact]
    public void Zeroshot_json_keeps_the_contract_keys_first()
    {
        var r = new ZeroShotResult("piqa", 200, 0.55, 0.5, 0.0353, 0.0354, 0.5, 1.5, BosMode.Auto, 0);
        var json = ZeroShotCommand.Json(r, ZeroShotTask.Piqa, "m", "d", null, 1);
        Assert.Equal(["task", "n", "acc", "acc_norm", "acc_stderr", "seconds"], json.Keys.Take(6));
        Assert.Equal(0.75, json["seconds_per_100"]);
        Assert.Equal("auto", json["bos"]);
    }
}
