using System.CommandLine;
using Palu.Compression;
using Palu.Compression.Weights;
using Palu.IO;
using Palu.LinearAlgebra;
using Spectre.Console;

namespace Palu.Cli.Commands;

/// <summary>
/// The weight-compression options of <c>palu compress</c> (SVD-LLM, SkipCat) and the run: weights alone, or KV (Palu)
/// and weights in one command and one plan — Palu first into a staging folder, then the weights of that model.
/// </summary>
public sealed class WeightsCompression
{
    readonly Option<double?> _keep = new("--weights-keep")
    {
        Description = "compress the weights: fraction of the compressed linears' weight parameters kept, in (0, 1] (0.8 = \"20% compression\"). " +
                      "Counted: the weight matrices of q/k/v/o_proj and gate/up/down_proj of every layer (k/v left out when --kv-keep compresses them " +
                      "with Palu); not counted: embeddings, LM head, norms, biases, and the int32 channel indices of Skip's identity blocks. " +
                      "1.0 = full rank (exact; more parameters than dense without Skip)",
        HelpName = "RATIO",
    };
    readonly Option<string> _method = new("--weights-method") { Description = "svdllm (whitened truncated SVD of every linear) | skipcat (shared projections for q/k/v and gate/up, plus identity blocks)", DefaultValueFactory = _ => "skipcat" };
    readonly Option<bool> _noCat = new("--no-cat") { Description = "skipcat: factorise every linear alone (Skip only)" };
    readonly Option<bool> _noSkip = new("--no-skip") { Description = "skipcat: no identity blocks (Cat only)" };
    readonly Option<string?> _calib = new("--weights-calib") { Description = "calibration text for the weight Grams " + DataPaths.Help(DataPaths.CalibrationFile), HelpName = "FILE" };
    readonly Option<int> _samples = new("--weights-calib-samples") { Description = "calibration sequences for the weight Grams (--calib-seq-len tokens each)", DefaultValueFactory = _ => 512, HelpName = "N" };
    readonly Option<bool> _sequential = new("--sequential") { Description = "calibrate each layer through the layers already compressed (SVD-LLM's sequential mode) instead of on the dense model" };
    readonly Option<int?> _update = new("--weights-update") { Description = "SVD-LLM's whitening + local update: whiten with the dense model's Grams, then refit each linear's left factor by least squares (A fixed) on the first N calibration sequences run through the layers already compressed (SVD-LLM: 16)", HelpName = "N" };
    readonly Option<string?> _gramCache = new("--weights-gram-cache") { Description = "keep the dense model's calibration Grams in this folder and reuse them (several compressions of one model calibrate once)", HelpName = "DIR" };
    readonly Option<double> _maxCond = new("--max-block-condition") { Description = "skipcat: largest condition number of an identity block accepted after column pivoting", DefaultValueFactory = _ => 1e6, HelpName = "X" };

    public WeightsCompression() => _method.AcceptOnlyFromAmong("svdllm", "skipcat");

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { _keep, _method, _noCat, _noSkip, _calib, _samples, _sequential, _update, _gramCache, _maxCond }) cmd.Options.Add(o);
    }

    /// <summary>Whether --weights-keep was given.</summary>
    public bool Requested(ParseResult p) => p.GetValue(_keep) is not null;

    /// <summary>Compresses the weights of <paramref name="dir"/> into <paramref name="outDir"/>, after Palu when <paramref name="kv"/> is given.</summary>
    public CompressionPlan Run(ParseResult p, string dir, string outDir, PaluOptions? kv, int seqLen, int seed, bool overwrite, CancellationToken ct)
    {
        bool skipcat = p.GetValue(_method) == "skipcat";
        if (!skipcat && (p.GetValue(_noCat) || p.GetValue(_noSkip)))
            throw new ArgumentException("--no-cat and --no-skip switch off parts of SkipCat; with --weights-method svdllm there is nothing to switch off");
        if (skipcat && p.GetValue(_noCat) && p.GetValue(_noSkip))
            throw new ArgumentException("--no-cat with --no-skip leaves plain SVD-LLM: use --weights-method svdllm");
        if (p.GetValue(_update) is int n && (n < 1 || p.GetValue(_sequential)))
            throw new ArgumentException(n < 1 ? $"--weights-update must be ≥ 1 (calibration sequences), got {n}"
                : "--weights-update refits on the inputs that --sequential already whitens with (the refit would change nothing): use one of them");
        var o = new WeightOptions
        {
            Keep = p.GetValue(_keep)!.Value,
            Method = skipcat ? WeightMethod.SkipCat : WeightMethod.SvdLlm,
            Cat = !p.GetValue(_noCat), Skip = !p.GetValue(_noSkip), Sequential = p.GetValue(_sequential), UpdateSamples = p.GetValue(_update),
            CalibrationFile = DataPaths.FileOrDefault(p.GetValue(_calib), DataPaths.CalibrationFile, "--weights-calib"),
            CalibrationSamples = p.GetValue(_samples), CalibrationSeqLen = seqLen, Seed = seed,
            MaxBlockCondition = p.GetValue(_maxCond), Overwrite = overwrite, GramCacheDir = p.GetValue(_gramCache),
        };
        if (!(o.Keep > 0 && o.Keep <= 1))
            throw new ArgumentException($"--weights-keep must be in (0, 1] (the fraction of the compressed linears' parameters kept; 0.8 = \"20% compression\"), got {o.Keep}");
        var la = LinearAlgebraProvider.Default;
        string source = dir, stage = outDir.TrimEnd('/') + ".kv-stage";
        try
        {
            if (kv != null)
            {
                Cli.WithProgress("compress KV (Palu)", progress =>
                    PaluCompressor.Compress(dir, stage, kv with { Overwrite = true }, la, new Cli.SyncProgress<CompressProgress>(s => progress.Report(Stage(s), s.Stage)), ct));
                source = stage;
            }
            var plan = Cli.WithProgress($"compress weights ({o.MethodName})", progress =>
                WeightCompressor.Compress(source, outDir, o, la, new Cli.SyncProgress<CompressProgress>(s => progress.Report(Stage(s), s.Stage)), ct));
            var w = plan.Weights!;
            Cli.Info($"[green]wrote[/] {Markup.Escape(outDir)}: weights {w.Method}{(skipcat ? $" (cat {(w.Cat ? "on" : "off")}, skip {(w.Skip ? "on" : "off")})" : "")}, keep {w.WeightsKeep} requested, " +
                $"[bold]{w.RealizedKeep:P2}[/] of {w.ParametersDense:N0} linear parameters kept ({w.ParametersStored:N0}); " +
                (plan.Kv is { } k ? $"KV: Palu keep {k.KvKeep} (realised {k.RealizedKeep:P2}); " : "") +
                (w.MaxBlockCondition is double c ? $"largest identity-block condition {c:G3}; " : "") + $"{plan.Seconds:F1} s");
            return plan;
        }
        finally { if (kv != null && Directory.Exists(stage)) Directory.Delete(stage, recursive: true); }
    }

    static double Stage(CompressProgress c) => c.Stage switch
    {
        "fisher" => 0.3 * c.Fraction,
        "calibrating" => 0.7 * c.Fraction,
        "decomposing" => 0.7 + 0.25 * c.Fraction,
        _ => 0.95 + 0.05 * c.Fraction,
    };
}
