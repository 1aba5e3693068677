using System.CommandLine;
using Palu.Evaluation;

namespace Palu.Cli.Commands;

/// <summary><c>palu eval suite</c>: perplexity on several texts + every zero-shot task, model vs baseline, as a report.</summary>
public static class SuiteCommand
{
    public static Command Create()
    {
        var model = new ModelInput("dense or Palu-compressed (e.g. the compressed one)");
        var baseline = new Option<string?>("--baseline", "-b") { Description = "a second model directory (e.g. the original); adds baseline and Δ columns", HelpName = "DIR" };
        var output = new Option<string>("--out", "-o") { Description = "report directory: results.json, results.md, index.html (written atomically)", Required = true, HelpName = "DIR" };
        var dataDir = new Option<string?>("--data-dir")
        {
            Description = "where the task files and default texts live (tasks/piqa/valid.jsonl, tasks/arc/…, wikitext-2-raw/wiki.test.raw, …); " +
                          $"tasks without a file there are skipped with a note [default: ${DataPaths.EnvVar}, else ../shared/data beside the palu checkout; now {DataPaths.Default.Dir}]",
            HelpName = "DIR",
        };
        var ppl = new Option<string[]>("--ppl")
        {
            Description = "a text for perplexity; repeat the option for several (--ppl A --ppl B) " +
                          $"[default: {string.Join(" and ", Suite.DefaultPplFiles)} under the data directory]",
            AllowMultipleArgumentsPerToken = false,
            HelpName = "FILE",
        };
        var taskFiles = new Option<string[]>("--task-file")
        {
            Description = "NAME=FILE: score task NAME from FILE instead of looking under the data directory (e.g. winogrande=dev.jsonl, " +
                          "which is not shipped); repeat for several",
            AllowMultipleArgumentsPerToken = false,
            HelpName = "NAME=FILE",
        };
        var limit = ZeroShotCommand.LimitOption("score only the first N items of each task");
        var seqLen = new Option<int?>("--seq-len") { Description = "perplexity window length " + CommonOptions.ContextDefault(1024), HelpName = "N" };
        var maxWindows = new Option<int?>("--max-windows") { Description = "perplexity over the first N windows of each text only", HelpName = "N" };
        var protocol = EvalCommand.ProtocolOption(full: false);
        var bos = ZeroShotCommand.BosOption();
        var normLength = ZeroShotCommand.NormLengthOption();
        var workers = ZeroShotCommand.WorkersOption();
        var run = new RunOptions();
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a non-empty --out directory" };
        var json = new Option<bool>("--json") { Description = "print results.json on stdout (instead of the Markdown table)" };
        var cmd = new Command("suite", "Perplexity on every given text and accuracy on every zero-shot task found under the data directory, " +
                                       "for a model and optionally its baseline; writes results.json, results.md (rows = metrics; " +
                                       "columns = baseline, model, Δ; the average of the papers' six tasks) and a self-contained index.html with SVG plots.")
            { baseline, output, dataDir, ppl, taskFiles, limit, seqLen, maxWindows, protocol, bos, normLength, workers, overwrite, json };
        model.AddTo(cmd);
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string outDir = p.GetValue(output)!, dir = model.Get(p);
            if (p.GetValue(maxWindows) is int w && w < 1) throw new ArgumentException($"--max-windows must be ≥ 1, got {w}");
            string data = p.GetValue(dataDir) ?? DataPaths.Default.Dir;
            if (!Directory.Exists(data))
                throw new ArgumentException(p.GetValue(dataDir) is null
                    ? $"the data directory {data} does not exist ({DataPaths.Default.How}): pass --data-dir DIR or set ${DataPaths.EnvVar}"
                    : $"--data-dir {data} does not exist");
            IO.OutputTarget.CheckNotSameOrParent(outDir, "--out", data);
            IO.OutputTarget.CheckDirectory(outDir, "--out", p.GetValue(overwrite), [dir, p.GetValue(baseline), .. p.GetValue(ppl) ?? []]);
            var config = CommonOptions.Config(dir);
            int? L = p.GetValue(seqLen) is int given ? CommonOptions.SeqLen(given, 1024, config, "--seq-len") : null;
            var options = new SuiteOptions
            {
                DataDir = data, PplFiles = p.GetValue(ppl) ?? [], TaskFiles = ParseTaskFiles(p.GetValue(taskFiles) ?? []),
                Limit = p.GetValue(limit), SeqLen = L, MaxWindows = p.GetValue(maxWindows),
                Protocol = EvalCommand.ParseProtocol(p.GetValue(protocol)!),
                Bos = ZeroShotCommand.ParseBos(p.GetValue(bos)!), NormLength = ZeroShotCommand.ParseNormLength(p.GetValue(normLength)!),
                Workers = p.GetValue(workers), Load = run.Load(p),
            };
            // one progress bar per step on a terminal, timestamped lines per step otherwise
            var report = CliProgress.Steps(step => Suite.Run(dir, p.GetValue(baseline), options, label => step(label), ct));
            ReportWriter.Write(report, outDir, p.GetValue(overwrite));
            if (p.GetValue(json)) Console.Out.WriteLine(report.ToJson());
            else Console.Out.Write(ReportMarkdown.Write(report));
            Console.Error.WriteLine($"wrote {Path.GetFullPath(outDir)}: {string.Join(", ", ReportWriter.Files)}");
            return Task.FromResult(0);
        });
        return cmd;
    }

    /// <summary>"winogrande=dev.jsonl" pairs → task name → file (unknown names and duplicates are errors).</summary>
    public static Dictionary<string, string> ParseTaskFiles(IEnumerable<string> pairs)
    {
        var result = new Dictionary<string, string>();
        foreach (var pair in pairs)
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0 || eq == pair.Length - 1)
                throw new ArgumentException($"--task-file expects NAME=FILE (e.g. winogrande=dev.jsonl), got '{pair}'");
            string name = pair[..eq], file = pair[(eq + 1)..];
            if (!ZeroShotTask.Names.Contains(name))
                throw new ArgumentException($"--task-file: unknown task '{name}'; known: {string.Join(", ", ZeroShotTask.Names)}");
            if (!result.TryAdd(name, file)) throw new ArgumentException($"--task-file: task '{name}' given twice");
        }
        return result;
    }
}
