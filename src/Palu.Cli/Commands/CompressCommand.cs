using System.CommandLine;
using Palu.Compression;
using Palu.LinearAlgebra;
using Palu.Tensors;
using Palu.Training;
using Spectre.Console;

namespace Palu.Cli.Commands;

/// <summary><c>palu compress --model DIR --out OUT --kv-keep ρ …</c>: Palu KV-cache compression.</summary>
public static class CompressCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Hugging Face model directory to compress", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "output directory (written atomically)", Required = true };
        var keep = new Option<double>("--kv-keep") { Description = "fraction of KV-cache rank kept, in (0, 1]: 0.5 = \"50% compression\", 0.7 = \"Palu-30%\"", DefaultValueFactory = _ => 0.5 };
        var group = new Option<int>("--group-size") { Description = "KV heads per decomposition group: 1 = M-LRD, all KV heads = J-LRD, between = G-LRD (Palu default 4); must divide the KV heads", DefaultValueFactory = _ => 4 };
        var alloc = new Option<string>("--rank-allocation") { Description = "uniform | fisher | fisher_uniform (Palu's default; needs Fisher information, computed and cached)", DefaultValueFactory = _ => "uniform" };
        alloc.AcceptOnlyFromAmong("uniform", "fisher", "fisher_uniform");
        var calib = new Option<string?>("--calib") { Description = "calibration text (UTF-8), e.g. ../shared/data/calib/corpus-train-2M.txt" };
        var samples = new Option<int>("--calib-samples") { Description = "calibration sequences", DefaultValueFactory = _ => 256 };
        var seqLen = new Option<int>("--calib-seq-len") { Description = "tokens per calibration sequence", DefaultValueFactory = _ => 2048 };
        var seed = new Option<int>("--seed") { Description = "calibration sampling seed", DefaultValueFactory = _ => 3 };
        var decomposition = new Option<string>("--decomposition") { Description = "whiten (SVD of W·S with S·Sᵀ = XᵀX, the default) | svd (plain SVD, no calibration)", DefaultValueFactory = _ => "whiten" };
        decomposition.AcceptOnlyFromAmong("whiten", "svd");
        var dtype = new Option<string>("--factor-dtype") { Description = "storage of the factors: f32 (default) | bf16 | f16", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "bf16", "f16");
        var fisher = new Option<string?>("--fisher") { Description = "Fisher file from palu fisher for fisher/fisher_uniform (default: the cached one for these settings, computed if missing)" };
        var fisherSamples = new Option<int>("--fisher-samples") { Description = "Fisher pass: calibration sequences from --calib (Palu: 2048)", DefaultValueFactory = _ => 256 };
        var fisherSeqLen = new Option<int>("--fisher-seq-len") { Description = "Fisher pass: tokens per sequence", DefaultValueFactory = _ => 1024 };
        var fisherObjective = new Option<string>("--fisher-objective") { Description = "next_token (default) | double_shift (Palu reference quirk)", DefaultValueFactory = _ => "next_token" };
        fisherObjective.AcceptOnlyFromAmong("next_token", "double_shift");
        var fisherDeficit = new Option<string>("--fisher-deficit") { Description = "deficit after flooring: stop (default: +1 per entry until the budget is met) | pass (Palu: finish the pass, may overshoot by < one pass)", DefaultValueFactory = _ => "stop" };
        fisherDeficit.AcceptOnlyFromAmong("stop", "pass");
        var fisherOrder = new Option<string>("--fisher-order") { Description = "who gets the deficit first, by fractional part: ascending (default, Palu) | descending (ReCalKV fisher_uniform)", DefaultValueFactory = _ => "ascending" };
        fisherOrder.AcceptOnlyFromAmong("ascending", "descending");
        var fisherCache = new Option<string?>("--fisher-cache") { Description = "Fisher cache directory (default $PALU_CACHE_DIR, $XDG_CACHE_HOME/palu or ~/.cache/palu, + /fisher)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace OUT if it exists" };
        var json = new Option<bool>("--json") { Description = "print palu.json on stdout" };
        var cmd = new Command("compress", "Compress the KV cache with Palu: per head group, k_proj and v_proj become whitened-SVD factors; the cache holds the low-rank latents.")
        { model, output, keep, group, alloc, calib, samples, seqLen, seed, decomposition, dtype, fisher, fisherSamples, fisherSeqLen, fisherObjective,
          fisherDeficit, fisherOrder, fisherCache, overwrite, json };
        cmd.SetAction((p, ct) =>
        {
            var o = new PaluOptions
            {
                KvKeep = p.GetValue(keep),
                GroupSize = p.GetValue(group),
                RankAllocation = RankAllocation.Parse(p.GetValue(alloc)!),
                Decomposition = p.GetValue(decomposition) == "svd" ? DecompositionMethod.Svd : DecompositionMethod.Whiten,
                CalibrationFile = p.GetValue(calib),
                CalibrationSamples = p.GetValue(samples),
                CalibrationSeqLen = p.GetValue(seqLen),
                Seed = p.GetValue(seed),
                FactorDType = p.GetValue(dtype) switch { "bf16" => DType.BF16, "f16" => DType.F16, _ => DType.F32 },
                FisherFile = p.GetValue(fisher),
                FisherSamples = p.GetValue(fisherSamples),
                FisherSeqLen = p.GetValue(fisherSeqLen),
                FisherObjective = LabelObjectives.Parse(p.GetValue(fisherObjective)!),
                FisherDeficit = p.GetValue(fisherDeficit) == "pass" ? DeficitMode.PaluPass : DeficitMode.StopAtZero,
                FisherOrder = p.GetValue(fisherOrder) == "descending" ? RemainderOrder.Descending : RemainderOrder.Ascending,
                FisherCacheDir = p.GetValue(fisherCache),
                Overwrite = p.GetValue(overwrite),
            };
            bool usesFisher = o.RankAllocation != RankAllocationMethod.Uniform;
            var la = LinearAlgebraProvider.Default;
            var plan = Cli.WithProgress("compressing", progress =>
                PaluCompressor.Compress(p.GetValue(model)!, p.GetValue(output)!, o, la,
                    new Cli.SyncProgress<CompressProgress>(c => progress.Report(Stage(c, usesFisher))), ct));
            var kv = plan.Kv!;
            if (kv.Fisher is { } f)
            {
                string how = f.Source switch
                {
                    "cache" => $"reused the cached Fisher file {f.Path}",
                    "file" => $"Fisher file {f.Path}",
                    _ => $"computed Fisher information ({f.Samples} samples × {f.SeqLen} tokens) in {f.PassSeconds:F1} s, cached at {f.Path}",
                };
                Cli.Err.MarkupLine($"[blue]fisher[/]: {Markup.Escape(how)}; budget: target {f.TargetRank:F1} of {f.FullRank} rank, " +
                    $"{f.AllocatedRank} allocated ({f.Deficit}, {f.RemainderOrder}), {f.RoundedRank} after rounding");
            }
            if (p.GetValue(json)) Console.Out.WriteLine(plan.ToJson());
            else
            {
                var ranks = Enumerable.Range(0, plan.Modules.Length / 2).Select(plan.KvRanks).ToArray();
                var ks = ranks.SelectMany(r => r.K).ToArray();
                var vs = ranks.SelectMany(r => r.V).ToArray();
                Cli.Err.MarkupLine($"[green]wrote[/] {Markup.Escape(p.GetValue(output)!)}: kv-keep {o.KvKeep} requested, [bold]{kv.RealizedKeep:P2}[/] of KV rank kept after rounding to multiples of {kv.RankMultiple} " +
                    $"(compression {1 - kv.RealizedKeep:P2}); K ranks {ks.Min()}–{ks.Max()}, V ranks {vs.Min()}–{vs.Max()} per group of {o.GroupSize} head(s); {plan.Seconds:F1} s; linear algebra: {Markup.Escape(la.Name)}");
            }
            return Task.FromResult(0);
        });
        return cmd;
    }

    /// <summary>One bar across stages: [Fisher pass 0–50 %,] calibration to 70 %, decomposition 70–95 %, writing the rest.</summary>
    static double Stage(CompressProgress c, bool fisher) => c.Stage switch
    {
        "fisher" => 0.5 * c.Fraction,
        "calibrating" => fisher ? 0.5 + 0.2 * c.Fraction : 0.7 * c.Fraction,
        "decomposing" => 0.7 + 0.25 * c.Fraction,
        _ => 0.95 + 0.05 * c.Fraction,
    };
}
