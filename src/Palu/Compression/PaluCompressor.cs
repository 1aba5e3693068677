using System.Diagnostics;
using System.Text.Json.Nodes;
using Palu.IO;
using Palu.LinearAlgebra;
using Palu.Models;
using Palu.Tensors;
using Palu.Text;
using Palu.Training;

namespace Palu.Compression;

/// <summary>Stage and fraction done, for progress bars.</summary>
public sealed record CompressProgress(string Stage, double Fraction);

/// <summary>
/// Palu KV-cache compression of an HF checkpoint (ALGORITHMS.md §4): calibrate (Grams of the k/v_proj input per layer
/// on the uncompressed model), allocate ranks, factorise every head group of k_proj and v_proj by whitened SVD, and
/// write a checkpoint whose K/V projections are factors (palu.json says what was done).
/// </summary>
public static class PaluCompressor
{
    public static PaluManifest Compress(string modelDir, string outDir, PaluOptions o, ILinearAlgebra? la = null,
        IProgress<CompressProgress>? progress = null, CancellationToken ct = default)
    {
        la ??= LinearAlgebraProvider.Default;
        var sw = Stopwatch.StartNew();
        using var lm = CausalLM.Load(modelDir);
        var c = lm.Config;
        Validate(c, o);
        int d = c.HiddenSize, dh = c.HeadDim, width = o.GroupSize * dh, groups = c.NumKvHeads / o.GroupSize;
        Tokenizer? tokenizer = null;   // loaded once, when first needed (Fisher pass or whitening)
        Tokenizer Tok() => tokenizer ??= Tokenizer.FromDirectory(modelDir);

        // 1. ranks
        FisherAllocationInfo? fisherInfo = null;
        IO.LayerRanks[] ranks;
        if (o.RankAllocation == RankAllocationMethod.Uniform) ranks = RankAllocation.Uniform(c.NumLayers, groups, width, o.KvKeep);
        else (ranks, fisherInfo) = FisherRanks(modelDir, lm, Tok, o, groups, width, progress, ct);

        // 2. calibration Grams (whitening only)
        CalibrationInfo? calib = null;
        GramCollector? grams = null;
        if (o.Decomposition == DecompositionMethod.Whiten)
        {
            if (o.CalibrationFile == null) throw new ArgumentException("whitened decomposition needs calibration text: pass --calib FILE (or --decomposition svd)");
            var tok = Tok();
            if (o.CalibrationSeqLen > c.MaxPositionEmbeddings)
                throw new ArgumentException($"--calib-seq-len {o.CalibrationSeqLen} exceeds the model's max_position_embeddings {c.MaxPositionEmbeddings}");
            var samples = CalibrationData.Sample(o.CalibrationFile, tok, o.CalibrationSamples, o.CalibrationSeqLen, o.Seed);
            grams = new GramCollector(c.NumLayers, d, LinearInput.Attention, la);
            var hidden = new float[o.CalibrationSeqLen * d];
            using var cache = lm.CreateCache(o.CalibrationSeqLen);
            for (int i = 0; i < samples.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                cache.RewindTo(0);
                lm.Forward(samples[i], cache, hidden, grams);
                progress?.Report(new("calibrating", (i + 1.0) / samples.Count));
            }
            calib = new CalibrationInfo(Path.GetFileName(o.CalibrationFile), ModelHash.FileSha256(o.CalibrationFile), o.CalibrationSamples,
                o.CalibrationSeqLen, o.Seed, grams.Tokens);
        }

        // 3. factorise each layer's K and V per group
        var factors = new List<TensorToWrite>();
        var jitter = new double[c.NumLayers];
        for (int l = 0; l < c.NumLayers; l++)
        {
            ct.ThrowIfCancellationRequested();
            double[]? s = null;
            if (grams != null)
            {
                WhiteningFactorResult wf;
                try { wf = la.WhiteningFactor(grams.Gram(l), d, o.WhiteningEpsilon); }
                catch (LinearAlgebraException e)
                {
                    throw new LinearAlgebraException($"layer {l}: the calibration Gram of the k/v_proj input could not be factorised even with the eigenvalue-shift jitter ({e.Message}); use more calibration tokens (--calib-samples) or --decomposition svd");
                }
                s = wf.S; jitter[l] = wf.Jitter;
            }
            var att = (DenseAttention)lm.Layers[l].Attention;
            factors.AddRange(FactorProjection(la, l, 'k', (DenseLinear)att.K, ranks[l].KRanks, groups, width, d, s, o.FactorDType));
            factors.AddRange(FactorProjection(la, l, 'v', (DenseLinear)att.V, ranks[l].VRanks, groups, width, d, s, o.FactorDType));
            progress?.Report(new("decomposing", (l + 1.0) / c.NumLayers));
        }

        var manifest = new PaluManifest
        {
            OriginalArchitecture = c.Architecture,
            OriginalModelType = c.Family.ToString().ToLowerInvariant(),
            KvKeep = o.KvKeep,
            GroupSize = o.GroupSize,
            RankAllocation = RankAllocation.Name(o.RankAllocation),
            Decomposition = o.Decomposition == DecompositionMethod.Whiten ? "whiten" : "svd",
            RankMultiple = RankAllocation.Multiple(width),
            RealizedKeep = RankAllocation.RealizedKeep(ranks, width),
            FactorDType = DTypes.Name(o.FactorDType),
            Calibration = calib,
            WhiteningJitter = grams != null ? jitter : null,
            Fisher = fisherInfo,
            Layers = ranks,
            Seconds = Math.Round(sw.Elapsed.TotalSeconds, 2),
        };
        progress?.Report(new("writing", 0));
        WriteCheckpoint(modelDir, outDir, lm, factors, manifest, o.Overwrite);
        progress?.Report(new("writing", 1));
        return manifest;
    }

    /// <summary>
    /// fisher / fisher_uniform ranks (§4.3) from the Fisher file given (--fisher), else the cached Fisher file for these
    /// calibration settings, else a Fisher pass now (then cached).
    /// </summary>
    static (IO.LayerRanks[], FisherAllocationInfo) FisherRanks(string modelDir, CausalLM lm, Func<Tokenizer> tokenizer, PaluOptions o,
        int groups, int width, IProgress<CompressProgress>? progress, CancellationToken ct)
    {
        var c = lm.Config;
        FisherResult f;
        if (o.FisherFile != null) f = FisherCache.LoadFor(modelDir, o.FisherFile, loadFull: false);
        else
        {
            if (o.CalibrationFile == null)
                throw new ArgumentException($"--rank-allocation {RankAllocation.Name(o.RankAllocation)} needs Fisher information: pass --calib FILE (computed once, then cached) or --fisher FILE (from palu fisher)");
            var settings = new FisherSettings
            {
                CalibrationFile = o.CalibrationFile, Samples = o.FisherSamples, SeqLen = o.FisherSeqLen, Seed = o.Seed, Objective = o.FisherObjective,
            };
            f = FisherCache.GetOrCompute(lm, tokenizer, settings, o.FisherCacheDir,
                progress == null ? null : new Progress(v => progress.Report(new("fisher", v))), ct, loadFull: false);
        }
        var a = o.RankAllocation == RankAllocationMethod.Fisher
            ? FisherAllocation.Fisher(f.Info, c.NumLayers, groups, width, o.KvKeep, o.FisherDeficit, o.FisherOrder)
            : FisherAllocation.FisherUniform(f.Info, c.NumLayers, groups, width, o.KvKeep, o.FisherDeficit, o.FisherOrder);
        var m = f.Info.Metadata;
        return (a.Ranks, new FisherAllocationInfo
        {
            Source = f.Source.ToString().ToLowerInvariant(), Path = f.Path, ModelSha256 = m.ModelSha256,
            CalibrationFile = m.CalibrationFile, CalibrationSha256 = m.CalibrationSha256, Samples = m.Samples, SeqLen = m.SeqLen,
            Seed = m.Seed, Objective = LabelObjectives.Name(m.Objective), Deficit = FisherAllocation.Name(o.FisherDeficit),
            RemainderOrder = FisherAllocation.Name(o.FisherOrder), TargetRank = a.TargetRank, AllocatedRank = a.AllocatedRank,
            RoundedRank = a.RoundedRank, FullRank = a.FullRank, PassSeconds = f.Stats is { } st ? Math.Round(st.Seconds, 2) : null,
        });
    }

    /// <summary>IProgress that reports on the calling thread.</summary>
    sealed class Progress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }

    static void Validate(ModelConfig c, PaluOptions o)
    {
        if (!(o.KvKeep > 0 && o.KvKeep <= 1))
            throw new ArgumentException($"--kv-keep must be in (0, 1] (the fraction of KV rank kept; 0.5 = \"50% compression\"), got {o.KvKeep}");
        if (o.GroupSize < 1 || c.NumKvHeads % o.GroupSize != 0)
        {
            var divisors = Enumerable.Range(1, c.NumKvHeads).Where(s => c.NumKvHeads % s == 0);
            throw new ArgumentException($"--group-size {o.GroupSize} must divide the number of KV heads ({c.NumKvHeads}); choose one of {string.Join(", ", divisors)}");
        }
        if (c.PaluCompressed) throw new ArgumentException("the model is already Palu-compressed; compress the original checkpoint");
    }

    static IEnumerable<TensorToWrite> FactorProjection(ILinearAlgebra la, int layer, char kv, DenseLinear w, int[] ranks,
        int groups, int width, int d, double[]? s, DType dtype)
    {
        var full = w.Weight.ToFloats();                 // [Hkv·d_h, d]
        int total = ranks.Sum();
        var down = new float[total * d];                // [Σr, d]
        var result = new List<TensorToWrite>();
        for (int g = 0, off = 0; g < groups; off += ranks[g], g++)
        {
            var block = Dense.ToDouble(full.AsSpan(g * width * d, width * d)); // [s·d_h, d]
            var f = LowRankDecomposer.Decompose(la, block, width, d, s, ranks[g]);
            f.A.CopyTo(down, off * d);
            result.Add(TensorToWrite.FromFloats(PaluManifest.UpName(layer, kv, g), f.B, [width, ranks[g]], dtype));
            if (w.Bias != null)
                result.Add(TensorToWrite.FromFloats(PaluManifest.UpBiasName(layer, kv, g), w.Bias[(g * width)..((g + 1) * width)], [width], dtype));
        }
        result.Insert(0, TensorToWrite.FromFloats(PaluManifest.DownName(layer, kv), down, [total, d], dtype));
        return result;
    }

    static void WriteCheckpoint(string modelDir, string outDir, CausalLM lm, List<TensorToWrite> factors, PaluManifest manifest, bool overwrite)
    {
        using var stage = new AtomicDirectory(outDir, overwrite);
        using var md = ModelDirectory.Open(modelDir);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        for (int l = 0; l < lm.Config.NumLayers; l++)
            foreach (var kind in new[] { LinearKind.K, LinearKind.V })
            {
                replaced.Add(LinearKinds.Module(l, kind) + ".weight");
                replaced.Add(LinearKinds.Module(l, kind) + ".bias");
            }
        var tensors = md.TensorNames.Where(n => !replaced.Contains(n)).Select(n =>
        {
            var info = md.Info(n);
            return new TensorToWrite(n, info.DType, info.Shape, () => md.GetBytes(n).ToArray());
        }).Concat(factors).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();

        long bytes = tensors.Sum(t => t.ByteLength);
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["palu"] = PaluManifest.Format };
        if (bytes > MaxShardBytes) SafetensorsWriter.WriteSharded(stage.Path, tensors, MaxShardBytes, meta);
        else SafetensorsWriter.Write(Path.Combine(stage.Path, "model.safetensors"), tensors, meta);

        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.model" })
            if (File.Exists(Path.Combine(modelDir, f))) File.Copy(Path.Combine(modelDir, f), Path.Combine(stage.Path, f));
        File.WriteAllText(Path.Combine(stage.Path, "config.json"), CompressedConfig(Path.Combine(modelDir, "config.json"), manifest));
        File.WriteAllText(Path.Combine(stage.Path, PaluManifest.FileName), manifest.ToJson());
        stage.Commit();
    }

    const long MaxShardBytes = 4L << 30;

    /// <summary>
    /// The source config.json with the architecture renamed (so other tools refuse the factorised weights instead of
    /// silently using random k/v projections) and a "palu" block naming the original.
    /// </summary>
    static string CompressedConfig(string path, PaluManifest m)
    {
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        o["architectures"] = new JsonArray("Palu" + m.OriginalArchitecture);
        o["model_type"] = "palu_" + (o["model_type"]?.GetValue<string>() ?? m.OriginalModelType);
        o["palu"] = new JsonObject
        {
            ["original_architecture"] = m.OriginalArchitecture,
            ["original_model_type"] = m.OriginalModelType,
            ["manifest"] = PaluManifest.FileName,
            ["note"] = "K/V projections are low-rank factors (Palu). Load with Palu.NET (palu); transformers cannot load this directory.",
        };
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
