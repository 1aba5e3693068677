using System.CommandLine;
using Palu.Compression;
using Palu.LinearAlgebra;
using Palu.Tensors;
using Palu.Training;
using Spectre.Console;

namespace Palu.Cli.Commands;

/// <summary><c>palu compress MODEL --out OUT [--kv-keep ρ] …</c>: Palu KV-cache compression.</summary>
public static class CompressCommand
{
    public static Command Create()
    {
        var model = new ModelInput("dense (not Palu-compressed)");
        var output = new Option<string>("--out", "-o") { Description = "output directory (written atomically)", Required = true, HelpName = "DIR" };
        var keep = new Option<double>("--kv-keep") { Description = "fraction of the KV rank kept, in (0, 1]: 0.5 = \"50% compression\", 0.7 = \"Palu-30%\"; ranks are rounded, and a warning says when the result misses it", DefaultValueFactory = _ => 0.5, HelpName = "RATIO" };
        var group = new Option<int?>("--group-size") { Description = "KV heads per decomposition group: 1 = M-LRD, all KV heads = J-LRD, between = G-LRD; must divide the KV heads " + RankGranularity.GroupSizeDefaultHelp, HelpName = "N" };
        var alloc = new Option<string>("--rank-allocation")
        {
            Description = "how the rank budget is spread: uniform (the same rank for every group) | fisher (over all groups of all K/V matrices by " +
                          "Fisher information) | fisher_uniform (each matrix's Fisher share split evenly over its groups; the Palu paper's setting); " +
                          "the fisher ones compute Fisher information once and cache it",
            DefaultValueFactory = _ => "uniform",
        };
        alloc.AcceptOnlyFromAmong("uniform", "fisher", "fisher_uniform");
        var calib = FisherCommand.CalibrationOption();
        var samples = new Option<int>("--calib-samples") { Description = "calibration sequences", DefaultValueFactory = _ => 256, HelpName = "N" };
        var seqLen = new Option<int?>("--calib-seq-len") { Description = "tokens per calibration sequence " + CommonOptions.ContextDefault(2048), HelpName = "N" };
        var seed = FisherCommand.SeedOption();
        var decomposition = new Option<string>("--decomposition") { Description = "whiten (SVD of W·S with S·Sᵀ = XᵀX, needs calibration) | svd (plain SVD, no calibration)", DefaultValueFactory = _ => "whiten" };
        decomposition.AcceptOnlyFromAmong("whiten", "svd");
        var dtype = new Option<string>("--factor-dtype") { Description = "storage of the factors", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "bf16", "f16");
        var fisher = new Option<string?>("--fisher") { Description = "Fisher file from palu fisher, for fisher/fisher_uniform [default: the cached one for these settings, computed if missing]", HelpName = "FILE" };
        var fisherSamples = new Option<int>("--fisher-samples") { Description = "Fisher pass: calibration sequences (Palu: 2048)", DefaultValueFactory = _ => 256, HelpName = "N" };
        var fisherSeqLen = new Option<int?>("--fisher-seq-len") { Description = "Fisher pass: tokens per sequence " + CommonOptions.ContextDefault(1024), HelpName = "N" };
        var fisherObjective = new Option<string>("--fisher-objective") { Description = "Fisher pass: next_token (standard causal-LM loss) | double_shift (the Palu reference's quirk)", DefaultValueFactory = _ => "next_token" };
        fisherObjective.AcceptOnlyFromAmong("next_token", "double_shift");
        var fisherDeficit = new Option<string>("--fisher-deficit") { Description = "rank deficit after flooring: stop (+1 per entry until the budget is met) | pass (Palu: finish the pass, may overshoot by < one pass)", DefaultValueFactory = _ => "stop" };
        fisherDeficit.AcceptOnlyFromAmong("stop", "pass");
        var fisherOrder = new Option<string>("--fisher-order") { Description = "who gets the deficit first, by fractional part: ascending (Palu) | descending (ReCalKV's fisher_uniform)", DefaultValueFactory = _ => "ascending" };
        fisherOrder.AcceptOnlyFromAmong("ascending", "descending");
        var fisherCache = FisherCommand.CacheDirOption("--fisher-cache");
        var overwrite = new Option<bool>("--overwrite") { Description = "replace OUT if it exists" };
        var json = new Option<bool>("--json") { Description = "print palu.json on stdout" };
        var kvBits = new Option<int>("--kv-bits") { Description = "bits per cached latent value: 16 (float latents) | 8 | 4 | 3 | 2 (quantised per token, asymmetric, stored bit-packed with f16 scales and zero-points)", DefaultValueFactory = _ => 16, HelpName = "B" };
        var hadamard = new Option<bool>("--hadamard") { Description = "fuse a Hadamard rotation into each group's factors (A ← M·A, B ← B·Mᵀ): exact at full precision, spreads the latent outliers before quantisation" };
        var quantGroup = new Option<int>("--quant-group") { Description = "latent channels per quantisation scale and zero-point: 0 = each head group's whole latent (default) | 32 | 64 | 128 …; must divide every rank", DefaultValueFactory = _ => 0, HelpName = "N" };
        var weights = new WeightsCompression();
        var cmd = new Command("compress", "Compress the KV cache with Palu (per head group, k_proj and v_proj become whitened-SVD factors) or ReCalKV (--method recalkv), the cache holding the low-rank latents, and/or the weights with SVD-LLM or SkipCat (--weights-keep).")
        { output, keep, group, alloc, calib, samples, seqLen, seed, decomposition, dtype, fisher, fisherSamples, fisherSeqLen, fisherObjective,
          fisherDeficit, fisherOrder, fisherCache, overwrite, json, kvBits, hadamard, quantGroup };
        model.AddTo(cmd);
        var kvMethod = new KvMethodOptions();
        kvMethod.AddTo(cmd);
        weights.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string dir = model.Get(p), outDir = p.GetValue(output)!;
            var c = CommonOptions.Config(dir);
            var recalkv = kvMethod.ReCalKV(p);   // null for --method palu
            var allocation = recalkv != null && KvMethodOptions.Unset(p, alloc) ? RankAllocationMethod.FisherUniform : RankAllocation.Parse(p.GetValue(alloc)!);
            var method = p.GetValue(decomposition) == "svd" ? DecompositionMethod.Svd : DecompositionMethod.Whiten;
            bool usesFisher = allocation != RankAllocationMethod.Uniform;
            bool needsCalib = method == DecompositionMethod.Whiten || (usesFisher && p.GetValue(fisher) is null);
            int groupSize = p.GetValue(group) ?? RankGranularity.DefaultGroupSize(c);
            var o = new PaluOptions
            {
                KvKeep = p.GetValue(keep),
                GroupSize = groupSize,
                RankAllocation = allocation,
                Decomposition = method,
                CalibrationFile = needsCalib ? DataPaths.FileOrDefault(p.GetValue(calib), DataPaths.CalibrationFile, "--calib") : p.GetValue(calib),
                CalibrationSamples = p.GetValue(samples),
                CalibrationSeqLen = CommonOptions.SeqLen(p.GetValue(seqLen), 2048, c, "--calib-seq-len"),
                Seed = p.GetValue(seed),
                FactorDType = p.GetValue(dtype) switch { "bf16" => DType.BF16, "f16" => DType.F16, _ => DType.F32 },
                FisherFile = p.GetValue(fisher),
                FisherSamples = p.GetValue(fisherSamples),
                FisherSeqLen = CommonOptions.SeqLen(p.GetValue(fisherSeqLen), 1024, c, "--fisher-seq-len", min: 3),
                FisherObjective = LabelObjectives.Parse(p.GetValue(fisherObjective)!),
                FisherDeficit = p.GetValue(fisherDeficit) == "pass" ? DeficitMode.PaluPass : DeficitMode.StopAtZero,
                FisherOrder = p.GetValue(fisherOrder) == "descending" || (recalkv != null && KvMethodOptions.Unset(p, fisherOrder)) ? RemainderOrder.Descending : RemainderOrder.Ascending,
                Whitening = kvMethod.WhiteningKind(p),
                FisherCacheDir = p.GetValue(fisherCache),
                Overwrite = p.GetValue(overwrite),
                KvBits = p.GetValue(kvBits),
                Hadamard = p.GetValue(hadamard),
                QuantGroup = p.GetValue(quantGroup),
            };
            Preflight.Compress(dir, outDir, o.Overwrite, o.CalibrationFile, o.FisherFile, o.FisherCacheDir);
            LatentQuantOptions.Validate(o);
            if (o.Hadamard && o.KvBits == 16)
                Cli.Info("--hadamard with --kv-bits 16: the rotation is exact at full precision, so the model's outputs do not change (it only matters for quantised latents)");
            if (weights.Requested(p))   // weights alone, or --kv-keep given too: KV and weights in one model and one plan
            {
                bool kvToo = p.GetResult(keep) is { Implicit: false };
                if (recalkv != null)
                    throw new ArgumentException("--method recalkv cannot be combined with --weights-keep yet: compress the weights with Palu's KV compression (--method palu, the default) or run ReCalKV without --weights-keep");
                var wplan = weights.Run(p, dir, outDir, kvToo ? o : null, o.CalibrationSeqLen, o.Seed, o.Overwrite, ct);
                if (p.GetValue(json)) Console.Out.WriteLine(wplan.ToJson());
                return Task.FromResult(0);
            }
            // uniform ranks are known before any work: say now (not after hours of calibration) when they miss the request
            if (!usesFisher && groupSize >= 1 && c.NumKvHeads % groupSize == 0 && o.KvKeep is > 0 and <= 1)
            {
                int width = groupSize * c.HeadDim;
                var ranks = RankAllocation.Uniform(c.NumLayers, c.NumKvHeads / groupSize, width, o.KvKeep);
                if (RankGranularity.Warning(o.KvKeep, RankAllocation.RealizedKeep(ranks, width), c, groupSize, uniform: true) is string w) Cli.Warn(w);
            }
            var la = LinearAlgebraProvider.Default;
            if (recalkv != null) ReCalKVCompressor.Validate(c, o, recalkv);
            var plan = Cli.WithProgress("compress", progress =>
            {
                var report = new Cli.SyncProgress<CompressProgress>(s => progress.Report(Stage(s, usesFisher), s.Stage));
                return recalkv != null ? ReCalKVCompressor.Compress(dir, outDir, o, recalkv, la, report, ct) : PaluCompressor.Compress(dir, outDir, o, la, report, ct);
            });
            var kv = plan.Kv!;
            if (kv.Fisher is { } f)
            {
                string how = f.Source switch
                {
                    "cache" => $"reused the cached Fisher file {f.Path}",
                    "file" => $"Fisher file {f.Path}",
                    _ => $"computed Fisher information ({f.Samples} samples × {f.SeqLen} tokens) in {f.PassSeconds:F1} s, cached at {f.Path}",
                };
                Cli.Info($"[blue]fisher[/]: {Markup.Escape(how)}; budget: target {f.TargetRank:F1} of {f.FullRank} rank, " +
                    $"{f.AllocatedRank} allocated ({f.Deficit}, {f.RemainderOrder}), {f.RoundedRank} after rounding");
                if (RankGranularity.Warning(o.KvKeep, kv.RealizedKeep, c, groupSize, uniform: false) is string w) Cli.Warn(w);
            }
            if (kv.ReCalKV is { } rk && !p.GetValue(json)) Cli.Info(KvMethodOptions.Summary(rk));
            if (p.GetValue(json)) Console.Out.WriteLine(plan.ToJson());
            else
            {
                var ranks = Enumerable.Range(0, c.NumLayers).Select(plan.KvRanks).ToArray();
                var ks = ranks.SelectMany(r => r.K).ToArray();
                var vs = ranks.SelectMany(r => r.V).ToArray();
                string gs = p.GetValue(group) is null ? $" (default for {c.NumKvHeads} KV heads)" : "";
                string cal = plan.Calibration is { } ci ? $"; calibrated on {ci.Samples} × {ci.SeqLen} tokens of {Markup.Escape(ci.File)}" : "";
                Cli.Info($"[green]wrote[/] {Markup.Escape(outDir)}: kv-keep {o.KvKeep} requested, [bold]{kv.RealizedKeep:P2}[/] of the KV rank kept after rounding to multiples of {kv.RankMultiple} " +
                    $"(compression {1 - kv.RealizedKeep:P2}); K ranks {ks.Min()}–{ks.Max()}, V ranks {vs.Min()}–{vs.Max()} per group of {groupSize} head(s){gs}{cal}; " +
                    $"{plan.Seconds:F1} s; linear algebra: {Markup.Escape(la.Name)}");
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
