using System.CommandLine;
using Palu.Evaluation;
using Palu.Models;
using Palu.Text;

namespace Palu.Cli.Commands;

/// <summary><c>palu eval zeroshot</c>: one multiple-choice task, lm-evaluation-harness 0.4 scoring.</summary>
public static class ZeroShotCommand
{
    public const string BosHelp =
        "auto: prepend BOS to every context when the tokenizer (or config.json) has one — the models here " +
        "were trained with BOS first; always: the same, an error without BOS; never: no BOS, lm-eval's default " +
        "add_bos_token=False (what the Palu paper ran)";

    public const string ScoringHelp =
        "Scoring as lm-evaluation-harness 0.4 (0-shot): each choice's continuation log-likelihood summed over its tokens; " +
        "acc = argmax of the sums, acc_norm = argmax of sum / length of the choice text (UTF-8 bytes by default, " +
        "--acc-norm-length chars for lm-eval's len() in code points; the same on ASCII text); " +
        "acc_stderr = sqrt(acc (1 − acc) / (n − 1)). Tokens: whole = encode(context + continuation), " +
        "continuation = whole minus the first len(encode(context)) ids (trailing context spaces moved to the continuation); " +
        "inputs longer than max_position_embeddings are cut from the left.";

    public static Option<string> BosOption()
    {
        var o = new Option<string>("--bos") { Description = BosHelp, DefaultValueFactory = _ => "auto" };
        o.AcceptOnlyFromAmong("auto", "always", "never");
        return o;
    }

    public static Option<string> NormLengthOption()
    {
        var o = new Option<string>("--acc-norm-length")
        {
            Description = "what acc_norm divides by: bytes (UTF-8 length of the choice) | chars (code points, as lm-eval's Python len())",
            DefaultValueFactory = _ => "bytes",
        };
        o.AcceptOnlyFromAmong("bytes", "chars");
        return o;
    }

    public static AccNormLength ParseNormLength(string s) => s == "chars" ? AccNormLength.Chars : AccNormLength.Bytes;

    public static BosMode ParseBos(string s) => s switch { "always" => BosMode.Always, "never" => BosMode.Never, _ => BosMode.Auto };

    public static Option<int> WorkersOption() => new("--workers")
    {
        Description = "items scored in parallel by threads sharing one loaded model, each with its own sequence and its share of --threads (1 = items in order)",
        HelpName = "N",
        DefaultValueFactory = _ => 1,
    };

    public static Option<int> BatchRowsOption() => new("--batch-rows")
    {
        Description = "score several items per forward step: every choice of every item runs as its own sequence (the shared prefix " +
                      "recomputed), as many whole items per step as fit in N rows (at most a batched step's limit: 512 on the CPU, 4096 on CUDA); for --device cuda, " +
                      "where one step of many rows costs about what one of a few rows does. 0 = one item at a time, its choices sharing their prefix",
        HelpName = "N",
        DefaultValueFactory = _ => 0,
    };

    public static Command Create()
    {
        var model = new ModelInput("dense or Palu-compressed");
        var task = new Option<string>("--task") { Description = "the task to score: " + string.Join(" | ", ZeroShotTask.Names), Required = true, HelpName = "NAME" };
        task.AcceptOnlyFromAmong(ZeroShotTask.Names.ToArray());
        var data = new Option<string?>("--data", "-d")
        {
            Description = "the task's file as published: PIQA valid.jsonl (labels from the sibling valid-labels.lst), ARC " +
                          "ARC-{Easy,Challenge}-test.jsonl, OpenBookQA test.jsonl, HellaSwag hellaswag_val.jsonl or llama.cpp's " +
                          "hellaswag_val_full.txt[.bz2], WinoGrande dev.jsonl, BoolQ dev.jsonl " +
                          $"[default: the task's file under tasks/ of ${DataPaths.EnvVar}, else of ../shared/data beside the palu checkout; now {DataPaths.Default.Dir}]",
            HelpName = "FILE",
        };
        var limit = LimitOption("score only the first N items");
        var bos = BosOption();
        var normLength = NormLengthOption();
        var workers = WorkersOption();
        var batchRows = BatchRowsOption();
        var run = new RunOptions();
        var samples = new Option<string?>("--samples") { Description = "also write one JSON line per item to this file: line, gold, log-likelihoods, predictions", HelpName = "FILE" };
        var json = new Option<bool>("--json") { Description = Cli.JsonHelp };
        var cmd = new Command("zeroshot", "Zero-shot multiple-choice accuracy of a model on one task. " + ScoringHelp)
            { task, data, limit, bos, normLength, workers, batchRows, samples, json };
        model.AddTo(cmd);
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string dir = model.Get(p);
            var t = ZeroShotTask.Get(p.GetValue(task)!);
            string file = p.GetValue(data) ?? DefaultFile(t);
            if (p.GetValue(samples) is string sout) IO.OutputTarget.CheckFile(sout, "--samples", dir, file);
            var items = ZeroShot.Limit(t.Load(file), p.GetValue(limit));
            int n = p.GetValue(workers);
            ZeroShot.CheckWorkers(n);
            using var lm = CausalLM.Load(dir, run.Load(p));
            var tok = Tokenizer.FromDirectory(dir);
            var r = Cli.WithProgress($"{t.Name} ({items.Count} items)",
                progress => ZeroShot.Evaluate(t.Name, lm, n, tok, ParseBos(p.GetValue(bos)!), items, file, progress, ct,
                    ParseNormLength(p.GetValue(normLength)!), p.GetValue(batchRows)));
            if (p.GetValue(samples) is string sp) WriteSamples(sp, items, r);
            if (p.GetValue(json))
            {
                var j = Json(r, t, dir, file, p.GetValue(limit), n);
                if (p.GetValue(batchRows) > 0) j["batch_rows"] = p.GetValue(batchRows);
                Cli.WriteJson(j);
            }
            else Console.Out.WriteLine(Line(r, t));
            return Task.FromResult(0);
        });
        return cmd;
    }

    public static Option<int?> LimitOption(string description) => new("--limit") { Description = description, HelpName = "N" };

    /// <summary>The task's published file under the data directory, or an error that says how to give it.</summary>
    static string DefaultFile(ZeroShotTask t) =>
        t.FindFile(DataPaths.Default.Dir) ?? throw new ArgumentException(
            $"no --data given and no {t.Name} file under {DataPaths.Default.Dir} ({DataPaths.Default.How}; looked for {string.Join(", ", t.DefaultFiles)}): " +
            $"pass --data FILE, or set ${DataPaths.EnvVar} to a folder that holds one of them");

    static void WriteSamples(string path, List<McItem> items, ZeroShotResult r)
    {
        using var w = new StreamWriter(path);
        for (int i = 0; i < items.Count; i++)
        {
            var (pred, predNorm) = ZeroShot.Predict(items[i], r.LogLikelihoods[i], r.NormLength);
            w.WriteLine(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["line"] = items[i].Line, ["gold"] = items[i].Gold, ["loglikelihoods"] = r.LogLikelihoods[i],
                ["pred"] = pred, ["pred_norm"] = predNorm,
                ["lengths"] = items[i].Choices.Select(c => ZeroShot.Length(c.NormText, r.NormLength)).ToArray(),
            }));
        }
    }

    public static Dictionary<string, object?> Json(ZeroShotResult r, ZeroShotTask t, string model, string data, int? limit, int workers) => new()
    {
        ["task"] = r.Task, ["n"] = r.N, ["acc"] = r.Acc, ["acc_norm"] = r.AccNorm, ["acc_stderr"] = r.AccStderr,
        ["seconds"] = Math.Round(r.Seconds, 3),
        ["acc_norm_stderr"] = r.AccNormStderr, ["metric"] = t.MetricName, ["chance"] = Math.Round(r.Chance, 6),
        ["seconds_per_100"] = Math.Round(r.Seconds * 100 / r.N, 3), ["bos"] = ZeroShot.BosName(r.Bos), ["bos_token_id"] = r.BosTokenId, ["limit"] = limit,
        ["acc_norm_length"] = ZeroShot.NormLengthName(r.NormLength),
        ["workers"] = workers, ["model"] = model, ["data"] = data,
    };

    static string Line(ZeroShotResult r, ZeroShotTask t) =>
        $"{r.Task}: acc {r.Acc:F4} ± {r.AccStderr ?? double.NaN:F4}, acc_norm {r.AccNorm:F4} ± {r.AccNormStderr ?? double.NaN:F4} " +
        $"(papers report {t.MetricName}; chance {r.Chance:F4}) over {r.N} items, BOS {(r.BosTokenId is int b ? $"id {b} first" : "none")} ({ZeroShot.BosName(r.Bos)}); {r.Seconds:F1} s ({r.Seconds * 100 / r.N:F2} s / 100 items)";
}
