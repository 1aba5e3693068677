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
    public static CompressionPlan Compress(string modelDir, string outDir, PaluOptions o, ILinearAlgebra? la = null,
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
        LayerRanks[] ranks;
        if (o.RankAllocation == RankAllocationMethod.Uniform) ranks = RankAllocation.Uniform(c.NumLayers, groups, width, o.KvKeep);
        else (ranks, fisherInfo) = FisherRanks(modelDir, lm, Tok, o, groups, width, progress, ct);
        LatentQuantOptions.CheckRanks(o, ranks);

        // 2. calibration Grams (whitening only)
        var (grams, calib) = o.Decomposition == DecompositionMethod.Whiten ? Calibrate(lm, Tok, o, la, progress, ct) : (null, null);

        // 3. factorise each layer's K and V per group (weights read from the checkpoint)
        using var md = ModelDirectory.Open(modelDir);
        var groupHeads = PaluPlan.ConsecutiveGroups(c.NumKvHeads, o.GroupSize);
        var factors = new List<TensorToWrite>();
        var modules = new List<ModulePlan>();
        var jitter = new double[c.NumLayers];
        for (int l = 0; l < c.NumLayers; l++)
        {
            ct.ThrowIfCancellationRequested();
            Whitening? s = null;
            if (grams != null) { s = LayerWhitening(la, grams, l, d, o); jitter[l] = s.Factor.Jitter; }
            foreach (var (kind, r) in new[] { (LinearKind.K, ranks[l].KRanks), (LinearKind.V, ranks[l].VRanks) })
            {
                string module = LinearKinds.Module(l, kind);
                var w = md.Matrix(module + ".weight", c.KvDim, d).ToFloats();            // [Hkv·d_h, d]
                Models.NonFiniteCheck.Values(w, md.Info(module + ".weight").File, $"tensor {module}.weight (the SVD input)");
                var bias = c.QkvBias ? md.Floats(module + ".bias", c.KvDim) : null;      // [Hkv·d_h]
                var rotations = new string?[groups];
                factors.AddRange(FactorProjection(la, l, kind, w, bias, r, groups, width, d, s, o.FactorDType, o.Hadamard ? rotations : null));
                modules.Add(LatentQuantOptions.Annotate(PaluPlan.LatentModule(l, kind, groupHeads, r, bias != null), o, rotations));
            }
            progress?.Report(new("decomposing", (l + 1.0) / c.NumLayers));
        }

        var plan = new CompressionPlan
        {
            OriginalArchitecture = c.Architecture,
            OriginalModelType = c.Family.ToString().ToLowerInvariant(),
            Kv = KvInfo(o, ranks, width, fisherInfo),
            Calibration = calib,
            WhiteningJitter = grams != null ? jitter : null,
            Seconds = Math.Round(sw.Elapsed.TotalSeconds, 2),
            Modules = modules.ToArray(),
        };
        return Write(md, outDir, factors, modules, plan, o.Overwrite, progress, ct);
    }

    /// <summary>The KV record of palu.json for these options and ranks (method palu).</summary>
    internal static KvCompressionInfo KvInfo(PaluOptions o, LayerRanks[] ranks, int width, FisherAllocationInfo? fisher) => new()
    {
        KvKeep = o.KvKeep,
        GroupSize = o.GroupSize,
        RankAllocation = RankAllocation.Name(o.RankAllocation),
        Decomposition = DecompositionName(o),
        RankMultiple = RankAllocation.Multiple(width),
        RealizedKeep = RankAllocation.RealizedKeep(ranks, width),
        FactorDType = DTypes.Name(o.FactorDType),
        Fisher = fisher,
    };

    /// <summary>Writes the checkpoint (progress stage "writing") and returns its plan.</summary>
    internal static CompressionPlan Write(ModelDirectory md, string outDir, List<TensorToWrite> factors, List<ModulePlan> modules,
        CompressionPlan plan, bool overwrite, IProgress<CompressProgress>? progress, CancellationToken ct = default)
    {
        progress?.Report(new("writing", 0));
        CheckpointWriter.Write(md, outDir, factors, modules.Select(m => m.Name), plan, overwrite, ct);
        progress?.Report(new("writing", 1));
        return plan;
    }

    /// <summary>
    /// fisher / fisher_uniform ranks (§4.3) from the Fisher file given (--fisher), else the cached Fisher file for these
    /// calibration settings, else a Fisher pass now (then cached).
    /// </summary>
    internal static (LayerRanks[], FisherAllocationInfo) FisherRanks(string modelDir, CausalLM lm, Func<Tokenizer> tokenizer, PaluOptions o,
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

    /// <summary>whiten (Cholesky), whiten_sqrt or svd.</summary>
    internal static string DecompositionName(PaluOptions o) =>
        o.Decomposition == DecompositionMethod.Svd ? "svd" : o.Whitening == WhiteningKind.Sqrt ? "whiten_sqrt" : "whiten";

    /// <summary>IProgress that reports on the calling thread.</summary>
    sealed class Progress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }

    /// <summary>
    /// Grams of every layer's k/v_proj input over <see cref="PaluOptions.CalibrationSamples"/> sequences of the
    /// calibration text, on <paramref name="lm"/> as it is (uncompressed for Palu).
    /// </summary>
    internal static (GramCollector, CalibrationInfo) Calibrate(CausalLM lm, Func<Tokenizer> tok, PaluOptions o, ILinearAlgebra la,
        IProgress<CompressProgress>? progress, CancellationToken ct)
    {
        var c = lm.Config;
        if (o.CalibrationFile == null) throw new ArgumentException("whitened decomposition needs calibration text: pass --calib FILE (or --decomposition svd)");
        if (o.CalibrationSeqLen > c.MaxPositionEmbeddings)
            throw new ArgumentException($"--calib-seq-len {o.CalibrationSeqLen} exceeds the model's max_position_embeddings {c.MaxPositionEmbeddings}");
        var samples = CalibrationData.Sample(o.CalibrationFile, tok(), o.CalibrationSamples, o.CalibrationSeqLen, o.Seed);
        var grams = new GramCollector(c.NumLayers, c.HiddenSize, LinearInput.Attention, la);
        var hidden = new float[o.CalibrationSeqLen * c.HiddenSize];
        using var seq = lm.NewSequence(o.CalibrationSeqLen);
        for (int i = 0; i < samples.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            seq.RewindTo(0);
            lm.Forward(samples[i], seq, hidden, grams);
            progress?.Report(new("calibrating", (i + 1.0) / samples.Count));
        }
        return (grams, new CalibrationInfo(Path.GetFileName(o.CalibrationFile), ModelHash.FileSha256(o.CalibrationFile), o.CalibrationSamples,
            o.CalibrationSeqLen, o.Seed, grams.Tokens));
    }

    /// <summary>S of layer <paramref name="l"/>'s Gram (Cholesky or square root, per the options), with a clear error.</summary>
    internal static Whitening LayerWhitening(ILinearAlgebra la, GramCollector grams, int l, int d, PaluOptions o)
    {
        try { return Whitening.Of(la, grams.Gram(l), d, o.Whitening, o.WhiteningEpsilon); }
        catch (LinearAlgebraException e)
        {
            throw new LinearAlgebraException($"layer {l}: the calibration Gram of the k/v_proj input could not be factorised even with the eigenvalue-shift jitter ({e.Message}); use more calibration tokens (--calib-samples) or --decomposition svd");
        }
    }

    internal static void Validate(ModelConfig c, PaluOptions o)
    {
        if (!(o.KvKeep > 0 && o.KvKeep <= 1))
            throw new ArgumentException($"--kv-keep must be in (0, 1] (the fraction of KV rank kept; 0.5 = \"50% compression\"), got {o.KvKeep}");
        if (o.GroupSize < 1 || c.NumKvHeads % o.GroupSize != 0)
        {
            var divisors = Enumerable.Range(1, c.NumKvHeads).Where(s => c.NumKvHeads % s == 0);
            throw new ArgumentException($"--group-size {o.GroupSize} must divide the number of KV heads ({c.NumKvHeads}); choose one of {string.Join(", ", divisors)}");
        }
        if (c.PaluCompressed) throw new ArgumentException("the model is already Palu-compressed; compress the original checkpoint");
        LatentQuantOptions.Validate(o);
    }

    /// <summary>Factors of one K or V projection w [H_kv·d_h, d] (+ bias) per group of <paramref name="width"/> rows.</summary>
    static IEnumerable<TensorToWrite> FactorProjection(ILinearAlgebra la, int layer, LinearKind kv, float[] w, float[]? bias, int[] ranks,
        int groups, int width, int d, Whitening? s, DType dtype, string?[]? rotations)
    {
        int total = ranks.Sum();
        var down = new float[total * d];                // [Σr, d]
        var result = new List<TensorToWrite>();
        for (int g = 0, off = 0; g < groups; off += ranks[g], g++)
        {
            var block = Dense.ToDouble(w.AsSpan(g * width * d, width * d)); // [s·d_h, d]
            var f = LowRankDecomposer.Decompose(la, block, width, d, s, ranks[g]);
            Models.NonFiniteCheck.Values(f.A, $"layer {layer}", $"the {kv} factors of group {g}");
            Models.NonFiniteCheck.Values(f.B, $"layer {layer}", $"the {kv} factors of group {g}");
            if (rotations != null) rotations[g] = LatentRotation.Apply(f.A, f.B, ranks[g], d, width);
            f.A.CopyTo(down, off * d);
            result.Add(TensorToWrite.FromFloats(PaluPlan.UpName(layer, kv, g), f.B, [width, ranks[g]], dtype));
            if (bias != null)
                result.Add(TensorToWrite.FromFloats(PaluPlan.UpBiasName(layer, kv, g), bias[(g * width)..((g + 1) * width)], [width], dtype));
        }
        result.Insert(0, TensorToWrite.FromFloats(PaluPlan.DownName(layer, kv), down, [total, d], dtype));
        return result;
    }
}
