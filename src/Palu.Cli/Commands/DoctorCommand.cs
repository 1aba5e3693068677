using System.CommandLine;
using Palu.IO;
using Palu.Models;
using Palu.Tensors;
using Palu.Text;
using Spectre.Console;

namespace Palu.Cli.Commands;

/// <summary>
/// <c>palu doctor MODEL [--json]</c>: validates a model directory fully and reports in one table: config.json ranges,
/// safetensors headers and index, every tensor's bytes finite, dtype labels plausible, shapes against config.json,
/// palu.json against the factor tensors, the tokenizer against the vocabulary, and a short forward pass. Exit 0 when
/// every check passes, 1 otherwise. It reads the model and writes nothing.
/// </summary>
public static class DoctorCommand
{
    public sealed record Check(string Name, bool Ok, string Detail);

    public static Command Create()
    {
        var model = new ModelInput("dense or Palu-compressed");
        var json = new Option<bool>("--json") { Description = Cli.JsonHelp };
        var cmd = new Command("doctor", "Validate a model directory fully (config ranges, safetensors headers, every weight finite, dtype labels, " +
            "shapes vs config.json, palu.json vs tensors, tokenizer vs vocabulary, a probe forward pass); one table, exit 1 if anything fails.") { json };
        model.AddTo(cmd);
        cmd.SetAction(p =>
        {
            string dir = model.Get(p);
            var checks = Run(dir);
            bool ok = checks.All(c => c.Ok);
            if (p.GetValue(json))
                Cli.WriteJson(new Dictionary<string, object?>
                {
                    ["model"] = dir, ["ok"] = ok,
                    ["checks"] = checks.Select(c => new Dictionary<string, object> { ["check"] = c.Name, ["ok"] = c.Ok, ["detail"] = c.Detail }).ToList(),
                });
            else Print(dir, checks);
            if (!ok) Console.Error.WriteLine($"error: {dir}: {checks.Count(c => !c.Ok)} check(s) failed: {string.Join("; ", checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Detail}"))}");
            return ok ? 0 : 1;
        });
        return cmd;
    }

    /// <summary>Every check in order; a check whose prerequisite failed is reported as skipped (not ok).</summary>
    public static List<Check> Run(string dir)
    {
        var checks = new List<Check>();
        if (!Directory.Exists(dir))
        {
            checks.Add(new("model directory", false, $"{dir} not found"));
            return checks;
        }
        ModelConfig? config = Try(checks, "config.json", () =>
        {
            var c = ModelConfig.Load(Path.Combine(dir, "config.json"));
            return (c, $"{c.Architecture}{(c.PaluCompressed ? " (Palu-compressed)" : "")}, {c.NumLayers} layers, hidden {c.HiddenSize}, {c.NumHeads}/{c.NumKvHeads} heads, vocab {c.VocabSize}; every field in range");
        });
        ModelDirectory? md = config is null ? Skip<ModelDirectory>(checks, "safetensors headers") : Try(checks, "safetensors headers", () =>
        {
            var m = ModelDirectory.Open(dir);
            long bytes = m.TensorNames.Sum(n => m.Info(n).Length);
            return (m, $"{m.Files.Count} file(s), {m.TensorNames.Count()} tensors, {bytes / 1048576.0:F1} MiB; offsets, lengths and dtypes valid");
        });
        try
        {
            if (md is null)
            {
                foreach (var name in new[] { "weights finite", "dtype labels", "shapes vs config.json" }) Skip<object>(checks, name);
            }
            else
            {
                var scans = WeightCheck.ScanAll(md);
                var bad = scans.Where(s => s.NonFinite > 0).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
                checks.Add(new("weights finite", bad.Count == 0, bad.Count == 0
                    ? $"{scans.Sum(s => s.Elements):N0} values in {scans.Count} float tensors, all finite"
                    : $"{bad.Count} tensor(s) hold NaN/Inf: " + string.Join(", ", bad.Take(5).Select(s => $"{s.Name} ({s.NonFinite:N0}, first {s.FirstBadValue} at {s.FirstBad})"))));
                var sus = scans.Where(s => s.DTypeSuspicion != null).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
                checks.Add(new("dtype labels", sus.Count == 0, sus.Count == 0
                    ? string.Join(", ", scans.GroupBy(s => s.DType).Select(g => $"{g.Count()} {DTypes.Name(g.Key)}")) + "; values plausible for their labels"
                    : $"{sus.Count} tensor(s): {sus[0].Name}: {sus[0].DTypeSuspicion}"));
                Try(checks, "shapes vs config.json" + (config!.PaluCompressed ? " and palu.json" : ""), () =>
                {
                    using var lm = ModelLoader.Load(md, new LoadOptions { CheckWeights = false });
                    string plan = lm.Plan is { } pl ? $"; palu.json: {pl.Modules.Length} compressed modules, every factor tensor present with its shape" : "";
                    return ((object)true, $"every tensor the model uses has the shape config.json implies{plan}");
                });
            }
        }
        finally { md?.Dispose(); }
        var tok = config is null ? Skip<Tokenizer>(checks, "tokenizer") : Try(checks, "tokenizer", () =>
        {
            var t = Tokenizer.FromDirectory(dir);
            const string sample = "Hello, world! 123 — naïve café";
            var ids = t.Encode(sample);
            string back = t.Decode(ids);
            string rt = back == sample ? "round-trips a sample" : "does not round-trip a sample exactly (normalising tokenizers may not)";
            return (t, $"{t.Kind}, {t.VocabSize} ids ≤ vocab_size {config.VocabSize}; BOS {t.BosTokenId?.ToString() ?? "none"}, EOS [{string.Join(", ", t.EosTokenIds)}]; {rt}");
        });
        if (checks.All(c => c.Ok))
            Try(checks, "probe forward", () =>
            {
                using var lm = CausalLM.Load(dir, new LoadOptions { CheckWeights = false });
                int T = Math.Min(8, lm.Config.MaxPositionEmbeddings);
                var ids = tok!.Encode("The quick brown fox jumps over the lazy dog").Take(T).ToArray();
                if (ids.Length == 0) ids = [0];
                var hidden = new float[ids.Length * lm.Hidden];   // [T, d]
                var logits = new float[lm.Vocab];                 // [V]
                using var seq = lm.NewSequence(ids.Length);
                lm.Forward(ids, seq, hidden);
                lm.Logits(hidden.AsSpan((ids.Length - 1) * lm.Hidden, lm.Hidden), logits, 1);
                NonFiniteCheck.Logits(lm, logits, "after the probe sentence");
                return ((object)true, $"{ids.Length} tokens forward, logits finite");
            });
        else Skip<object>(checks, "probe forward");
        return checks;
    }

    static T? Try<T>(List<Check> checks, string name, Func<(T Value, string Detail)> check) where T : class
    {
        try
        {
            var (v, d) = check();
            checks.Add(new(name, true, d));
            return v;
        }
        catch (Exception e) when (e is ModelFormatException or ArgumentException or IOException or InvalidOperationException or NotSupportedException or UnauthorizedAccessException)
        {
            checks.Add(new(name, false, e.Message));
            return null;
        }
    }

    static T? Skip<T>(List<Check> checks, string name) where T : class
    {
        checks.Add(new(name, false, "skipped: an earlier check failed"));
        return null;
    }

    static void Print(string dir, List<Check> checks)
    {
        var t = new Table().Title(Markup.Escape($"palu doctor {dir}")).AddColumn("check").AddColumn("result").AddColumn("detail");
        foreach (var c in checks)
            t.AddRow(Markup.Escape(c.Name), c.Ok ? "[green]ok[/]" : "[red]FAIL[/]", Markup.Escape(c.Detail));
        Cli.Out.Write(t);
    }
}
