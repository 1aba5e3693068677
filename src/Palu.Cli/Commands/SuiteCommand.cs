using System.CommandLine;
using Palu.Evaluation;

namespace Palu.Cli.Commands;

/// <summary><c>palu eval suite</c>: perplexity on several texts + every zero-shot task, model vs baseline, as a report.</summary>
public static class SuiteCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "model directory (e.g. the compressed one)", Required = true };
        var baseline = new Option<string?>("--baseline", "-b") { Description = "baseline model directory (e.g. the original); adds baseline and Δ columns" };
        var output = new Option<string>("--out", "-o") { Description = "report directory: results.json, results.md, index.html (written atomically)", Required = true };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "where the task files and default texts live (tasks/piqa/valid.jsonl, tasks/arc/…, wikitext-2-raw/wiki.test.raw, …); " +
                          "tasks without a file there are skipped with a note",
            DefaultValueFactory = _ => "../shared/data",
        };
        var ppl = new Option<string[]>("--ppl")
        {
            Description = "text file for perplexity (repeat for several); default: WikiText-2 test and the TinyStories slice under --data-dir",
            AllowMultipleArgumentsPerToken = false,
        };
        var limit = new Option<int?>("--limit") { Description = "score only the first N items of each task" };
        var seqLen = new Option<int?>("--seq-len") { Description = "perplexity window length (default min(1024, max_position_embeddings))" };
        var maxWindows = new Option<int?>("--max-windows") { Description = "perplexity over the first N windows of each text only" };
        var protocol = EvalCommand.ProtocolOption();
        var bos = ZeroShotCommand.BosOption();
        var normLength = ZeroShotCommand.NormLengthOption();
        var workers = ZeroShotCommand.WorkersOption();
        var run = new RunOptions();
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a non-empty --out directory" };
        var json = new Option<bool>("--json") { Description = "print results.json on stdout (instead of the Markdown table)" };
        var cmd = new Command("suite", "Perplexity on every given text and accuracy on every zero-shot task found under --data-dir, " +
                                       "for a model and optionally its baseline; writes results.json, results.md (rows = metrics; " +
                                       "columns = baseline, model, Δ) and a self-contained index.html with SVG plots.")
            { model, baseline, output, dataDir, ppl, limit, seqLen, maxWindows, protocol, bos, normLength, workers, overwrite, json };
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string outDir = p.GetValue(output)!;
            if (p.GetValue(maxWindows) is int w && w < 1) throw new ArgumentException($"--max-windows must be ≥ 1, got {w}");
            IO.AtomicDirectory.CheckTarget(outDir, p.GetValue(overwrite));
            var options = new SuiteOptions
            {
                DataDir = p.GetValue(dataDir)!, PplFiles = p.GetValue(ppl) ?? [], Limit = p.GetValue(limit), SeqLen = p.GetValue(seqLen),
                MaxWindows = p.GetValue(maxWindows),
                Protocol = EvalCommand.ParseProtocol(p.GetValue(protocol)!),
                Bos = ZeroShotCommand.ParseBos(p.GetValue(bos)!), NormLength = ZeroShotCommand.ParseNormLength(p.GetValue(normLength)!), Workers = p.GetValue(workers), Load = run.Load(p),
            };
            // one progress bar per step on a terminal, one stderr line per step otherwise
            var report = Cli.WithSteps(step => Suite.Run(p.GetValue(model)!, p.GetValue(baseline), options, step.Invoke, ct), echoSteps: true);
            ReportWriter.Write(report, outDir, p.GetValue(overwrite));
            if (p.GetValue(json)) Console.Out.WriteLine(report.ToJson());
            else Console.Out.Write(ReportMarkdown.Write(report));
            Console.Error.WriteLine($"wrote {Path.GetFullPath(outDir)}: {string.Join(", ", ReportWriter.Files)}");
            return Task.FromResult(0);
        });
        return cmd;
    }
}
