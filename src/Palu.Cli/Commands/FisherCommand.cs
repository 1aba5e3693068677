using System.CommandLine;
using Palu.Training;
using Spectre.Console;

namespace Palu.Cli.Commands;

/// <summary><c>palu fisher --model DIR --calib FILE --out F</c>: Fisher information of every linear weight (cached).</summary>
public static class FisherCommand
{
    public static Command Create()
    {
        var model = new ModelInput("dense (not Palu-compressed)");
        var calib = CalibrationOption();
        var samples = new Option<int>("--samples") { Description = "calibration sequences (Palu: 2048; ReCalKV README: 256)", DefaultValueFactory = _ => 256, HelpName = "N" };
        var seqLen = new Option<int?>("--seq-len") { Description = "tokens per calibration sequence (Palu: 1024) " + CommonOptions.ContextDefault(1024), HelpName = "N" };
        var seed = SeedOption();
        var objective = new Option<string>("--objective") { Description = "next_token (the standard causal-LM loss) | double_shift (the Palu reference's quirk: predict token t+2)", DefaultValueFactory = _ => "next_token" };
        objective.AcceptOnlyFromAmong("next_token", "double_shift");
        var elementwise = new Option<bool>("--elementwise") { Description = "also store F itself [out, in] for every linear (without it: row and column means only)" };
        var output = new Option<string>("--out", "-o") { Description = "output .safetensors file (written atomically)", Required = true, HelpName = "FILE" };
        var cacheDir = CacheDirOption("--cache-dir");
        var noCache = new Option<bool>("--no-cache") { Description = "compute even if the cache holds this Fisher file (the result is still cached)" };
        var json = new Option<bool>("--json") { Description = Cli.JsonHelp };
        var cmd = new Command("fisher", "Fisher information of the q/k/v/o/gate/up/down weights of every layer: " +
            "F = sqrt(mean over calibration samples of (dL/dW)^2), by our backward pass. Cached by model hash and calibration settings; " +
            "palu compress --rank-allocation fisher|fisher_uniform reuses it.")
        { calib, samples, seqLen, seed, objective, elementwise, output, cacheDir, noCache, json };
        model.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string dir = model.Get(p), outPath = p.GetValue(output)!;
            Preflight.Fisher(dir, outPath, DataPaths.FileOrDefault(p.GetValue(calib), DataPaths.CalibrationFile, "--calib"), p.GetValue(cacheDir));
            var settings = new FisherSettings
            {
                CalibrationFile = DataPaths.FileOrDefault(p.GetValue(calib), DataPaths.CalibrationFile, "--calib"), Samples = p.GetValue(samples),
                SeqLen = CommonOptions.SeqLen(p.GetValue(seqLen), 1024, CommonOptions.Config(dir), "--seq-len", min: 3), Seed = p.GetValue(seed),
                Objective = LabelObjectives.Parse(p.GetValue(objective)!),
            };
            var r = Cli.WithProgress("fisher", progress => FisherCache.GetOrCompute(dir, settings, p.GetValue(cacheDir), progress, ct,
                useCache: !p.GetValue(noCache), keepFull: p.GetValue(elementwise)));
            r.Info.Save(outPath);
            var m = r.Info.Metadata;
            if (p.GetValue(json))
                Cli.WriteJson(new Dictionary<string, object?>
                {
                    ["model"] = dir, ["out"] = outPath, ["source"] = r.Source.ToString().ToLowerInvariant(), ["cache_file"] = r.Path,
                    ["samples"] = m.Samples, ["seq_len"] = m.SeqLen, ["seed"] = m.Seed, ["objective"] = LabelObjectives.Name(m.Objective),
                    ["scored_tokens"] = m.Tokens, ["model_sha256"] = m.ModelSha256, ["calibration_sha256"] = m.CalibrationSha256,
                    ["tokens"] = r.Stats?.Tokens, ["seconds"] = r.Stats is { } s1 ? Math.Round(s1.Seconds, 2) : null,
                    ["tokens_per_s"] = r.Stats is { } s2 ? Math.Round(s2.TokensPerSecond, 1) : null,
                    ["peak_rss_mib"] = Math.Round(FisherPass.PeakResidentBytes() / 1048576.0, 1),
                });
            else if (r.Stats is { } st)
                Cli.Info($"[green]wrote[/] {Markup.Escape(outPath)}: {m.Samples} samples × {m.SeqLen} tokens, {st.Tokens:N0} positions forward+backward in {st.Seconds:F1} s " +
                    $"([bold]{st.TokensPerSecond:F0} tokens/s[/]); peak memory {st.PeakBytes / 1048576.0:F0} MiB; cached at {Markup.Escape(r.Path)}");
            else
                Cli.Info($"[green]wrote[/] {Markup.Escape(outPath)}: reused the cached Fisher file {Markup.Escape(r.Path)} ({m.Samples} samples × {m.SeqLen} tokens, seed {m.Seed})");
            return Task.FromResult(0);
        });
        return cmd;
    }

    /// <summary>The calibration text (compress and fisher), defaulting to the shipped one.</summary>
    public static Option<string?> CalibrationOption() => new("--calib")
    {
        Description = "calibration text (UTF-8; sampled at random offsets) " + DataPaths.Help(DataPaths.CalibrationFile),
        HelpName = "FILE",
    };

    public static Option<int> SeedOption() => new("--seed") { Description = "calibration sampling seed", DefaultValueFactory = _ => 3, HelpName = "N" };

    public static Option<string?> CacheDirOption(string name) => new(name)
    {
        Description = "Fisher cache directory [default: $PALU_CACHE_DIR, else $XDG_CACHE_HOME/palu, else ~/.cache/palu; + /fisher]",
        HelpName = "DIR",
    };
}
