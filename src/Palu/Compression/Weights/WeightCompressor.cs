using System.Diagnostics;
using Palu.IO;
using Palu.LinearAlgebra;
using Palu.Models;
using Palu.Runtime;
using Palu.Tensors;
using Palu.Text;
using Palu.Training;

namespace Palu.Compression.Weights;

/// <summary>
/// Weight compression of an HF checkpoint (dense, or KV-compressed by Palu): SVD-LLM (ALGORITHMS.md §2: whitened
/// truncated SVD of every linear at a uniform keep) or SkipCat (ALGORITHMS-SKIPCAT-FLRC.md §1: the same whitened SVD of
/// q/k/v and of gate/up stacked, so each stack shares one projection (Cat), and an identity block in every projection
/// picked by column-pivoted QR (Skip)). Writes a checkpoint whose compressed linears are lowrank modules in palu.json.
/// </summary>
public static class WeightCompressor
{
    public static CompressionPlan Compress(string modelDir, string outDir, WeightOptions o, ILinearAlgebra? la = null,
        IProgress<CompressProgress>? progress = null, CancellationToken ct = default)
    {
        la ??= LinearAlgebraProvider.Default;
        var sw = Stopwatch.StartNew();
        using var lm = CausalLM.Load(modelDir);
        var c = lm.Config;
        var groups = WeightGroups.For(c, lm.Plan, o.UsesCat);
        var ranks = Validate(lm, o, groups);

        // 1. calibration Grams of every layer's linear inputs (dense model, or layer by layer through the compressed ones)
        if (o.CalibrationSeqLen > c.MaxPositionEmbeddings)
            throw new ArgumentException($"--calib-seq-len {o.CalibrationSeqLen} exceeds the model's max_position_embeddings {c.MaxPositionEmbeddings}");
        var samples = CalibrationData.Sample(o.CalibrationFile, Tokenizer.FromDirectory(modelDir), o.CalibrationSamples, o.CalibrationSeqLen, o.Seed);
        var calib = new CalibrationInfo(Path.GetFileName(o.CalibrationFile), ModelHash.FileSha256(o.CalibrationFile), samples.Count,
            o.CalibrationSeqLen, o.Seed, samples.Sum(s => (long)s.Length));
        WeightCalibration? grams = null;
        if (!o.Sequential)
        {
            grams = new WeightCalibration(c, la);
            string? cached = o.GramCacheDir is null ? null
                : Path.Combine(o.GramCacheDir, $"{ModelHash.Compute(modelDir)[..16]}-{calib.Sha256[..12]}-{samples.Count}x{o.CalibrationSeqLen}-seed{o.Seed}.grams");
            if (cached is null || !grams.TryLoad(cached, c.NumLayers))
            {
                grams.Run(lm, samples, i => progress?.Report(new("calibrating", (double)i / samples.Count)), ct);
                if (cached != null) grams.Save(cached, c.NumLayers);
            }
        }

        // 2. factorise each group, layer by layer
        using var md = ModelDirectory.Open(modelDir);
        var dtype = o.FactorDType ?? md.Info(LinearKinds.Module(0, LinearKind.Q) + ".weight").DType;
        var factors = new List<TensorToWrite>();
        var modules = new List<ModulePlan>();
        long stored = 0;
        double maxCond = 0;
        // the layers below are swapped for their compressed versions as they are done (sequential calibration, update)
        bool throughCompressed = o.Sequential || o.UpdateSamples != null;
        var updateSamples = o.UpdateSamples is int u ? samples.Take(u).ToList() : null;
        for (int l = 0; l < c.NumLayers; l++)
        {
            WeightCalibration? local = null;
            if (o.Sequential)
            {
                grams = new WeightCalibration(c, la, onlyLayer: l);
                grams.Run(lm, samples, i => progress?.Report(new("calibrating", (l + (double)i / samples.Count) / c.NumLayers)), ct);
            }
            else if (updateSamples != null)
            {
                local = new WeightCalibration(c, la, onlyLayer: l);
                local.Run(lm, updateSamples, i => progress?.Report(new("updating", (l + (double)i / updateSamples.Count) / c.NumLayers)), ct);
            }
            var built = new Dictionary<LinearKind, LowRankLinear>();
            foreach (var (g, r) in groups.Zip(ranks).Where(x => x.First.Layer == l))
            {
                ct.ThrowIfCancellationRequested();
                var f = Factorise(la, md, c, g, r, grams!.Gram(l, g.Input), o, local?.Gram(l, g.Input));
                if (f.Condition is double k) maxCond = Math.Max(maxCond, k);
                stored += WeightBudget.Parameters(g.Out, g.In, r, o.UsesSkip);
                factors.AddRange(f.Tensors(dtype));
                modules.AddRange(f.Modules());
                if (throughCompressed) foreach (var (kind, lin) in f.Linears(lm.Backend)) built[kind] = lin;
            }
            if (throughCompressed) lm.Layers[l] = Replace(lm, lm.Layers[l], built);
            if (!throughCompressed) progress?.Report(new("decomposing", (l + 1.0) / c.NumLayers));
        }

        long dense = groups.Sum(g => g.DenseParameters);
        var source = lm.Plan;
        var plan = new CompressionPlan
        {
            OriginalArchitecture = c.Architecture,
            OriginalModelType = source?.OriginalModelType ?? c.Family.ToString().ToLowerInvariant(),
            Kv = source?.Kv,
            Calibration = source?.Calibration,
            WhiteningJitter = source?.WhiteningJitter,
            Weights = new WeightCompressionInfo
            {
                Method = o.MethodName, WeightsKeep = o.Keep, Cat = o.UsesCat, Skip = o.UsesSkip, Sequential = o.Sequential, UpdateSamples = updateSamples?.Count,
                ParametersDense = dense, ParametersStored = stored, RealizedKeep = (double)stored / dense,
                MaxBlockCondition = o.UsesSkip ? maxCond : null, FactorDType = DTypes.Name(dtype), Calibration = calib,
            },
            Seconds = Math.Round(sw.Elapsed.TotalSeconds + (source?.Seconds ?? 0), 2),
            Modules = [.. source?.Modules ?? [], .. modules],
        };
        progress?.Report(new("writing", 0));
        CheckpointWriter.Write(md, outDir, factors, modules.Select(m => m.Name), plan, o.Overwrite);
        progress?.Report(new("writing", 1));
        return plan;
    }

    /// <summary>Every check that needs no calibration: keep range, a model not yet weight-compressed, a rank ≥ 1 for
    /// every group. Returns the groups' ranks.</summary>
    public static int[] Validate(CausalLM lm, WeightOptions o, IReadOnlyList<WeightGroup> groups)
    {
        if (!(o.Keep > 0 && o.Keep <= 1))
            throw new ArgumentException($"--weights-keep must be in (0, 1] (the fraction of the compressed linears' parameters kept; 0.8 = \"20% compression\"), got {o.Keep}");
        if (lm.Plan?.Modules.FirstOrDefault(m => m.Kind == ModulePlan.LowRank) is { } done)
            throw new ArgumentException($"the model at {lm.Path} is already weight-compressed ({done.Name} is low-rank{(lm.Plan.Weights is { } w ? $", {w.Method} keep {w.WeightsKeep}" : "")}); compress the original checkpoint");
        if (!File.Exists(o.CalibrationFile)) throw new ArgumentException($"--weights-calib: file not found: {o.CalibrationFile}");
        var ranks = groups.Select(g => WeightBudget.Rank(g.Out, g.In, o.Keep, o.UsesSkip)).ToArray();
        for (int i = 0; i < ranks.Length; i++)
            if (ranks[i] < 1)
            {
                var g = groups[i];
                double feasible = groups.Max(x => WeightBudget.SmallestKeep(x.Out, x.In, o.UsesSkip));
                throw new ArgumentException($"--weights-keep {o.Keep} leaves {g.Name} [{g.Out}×{g.In}] no rank (one rank costs {WeightBudget.Parameters(g.Out, g.In, 1, o.UsesSkip)} of its {g.DenseParameters} parameters); the smallest feasible keep for this model is {Math.Ceiling(feasible * 1e4) / 1e4}");
            }
        return ranks;
    }

    /// <param name="updateGram">with SVD-LLM's local update: the Gram of the input as the layers already compressed
    /// give it, on which the left factor is refitted; null: no update.</param>
    static GroupFactors Factorise(ILinearAlgebra la, ModelDirectory md, ModelConfig c, WeightGroup g, int r, double[] gram, WeightOptions o,
        double[]? updateGram = null)
    {
        int n = g.In, m = g.Out;
        var w = new double[(long)m * n];                       // [Σ m_i, n] the members stacked
        var bias = new float[g.Members.Length][];
        for (int i = 0, row = 0; i < g.Members.Length; row += g.Outs[i], i++)
        {
            string module = LinearKinds.Module(g.Layer, g.Members[i]);
            var wi = md.Matrix(module + ".weight", g.Outs[i], n).ToFloats();
            for (int j = 0; j < wi.Length; j++) w[(long)row * n + j] = wi[j];
            if (WeightGroups.HasBias(c, g.Members[i])) bias[i] = md.Floats(module + ".bias", g.Outs[i]);
        }
        WhiteningFactorResult s;
        try { s = la.WhiteningFactor(gram, n, o.WhiteningEpsilon); }
        catch (LinearAlgebraException e)
        {
            throw new LinearAlgebraException($"{g.Name}: the calibration Gram of its input could not be factorised even with the eigenvalue-shift jitter ({e.Message}); use more calibration tokens (--weights-calib-samples)");
        }
        var f = LowRankDecomposer.Decompose64(la, w, m, n, s.S, r);
        double[] a = f.A, b = updateGram == null ? f.B : RefitLeft(la, w, m, n, f.A, r, updateGram, g.Name);
        int[]? J = null, rest = null;
        double? cond = null;
        if (o.UsesSkip)
        {
            var k = SkipBlock.Apply(la, a, b, m, r, n);
            if (!(k.Condition <= o.MaxBlockCondition))
                throw new LinearAlgebraException($"{g.Name}: the identity block A_J [{r}×{r}] has condition number {k.Condition:G3} even after column pivoting (limit {o.MaxBlockCondition:G3}); A' = A_J⁻¹·A_J̄ would lose the factorisation in float. Use --no-skip, or a lower --weights-keep");
            (a, b, J, rest, cond) = (k.A, k.B, k.Identity, k.Rest, k.Condition);
        }
        var parts = new float[g.Members.Length][];
        for (int i = 0, row = 0; i < parts.Length; row += g.Outs[i], i++)
            parts[i] = Dense.ToSingle(b.AsSpan(row * r, g.Outs[i] * r));
        return new GroupFactors(g, r, Dense.ToSingle(a), J == null ? n : n - r, parts, bias, J, rest, cond);
    }

    /// <summary>
    /// The left factor that minimises ‖B·A·X − W·X‖_F for a fixed A [r, n], given only G = X·Xᵀ [n, n]:
    /// B = W·G·Aᵀ·(A·G·Aᵀ)⁻¹ [m, r] (SVD-LLM's local update, its least squares written with the Gram). With the
    /// Gram the whitening used, this is the whitened SVD's own left factor; it differs when G comes from other inputs.
    /// </summary>
    internal static double[] RefitLeft(ILinearAlgebra la, double[] w, int m, int n, double[] a, int r, double[] g, string name)
    {
        var ag = la.MatMul(a, g, r, n, n);                             // A·G [r, n]
        var gram = la.MatMul(ag, a, r, r, n, transB: true);            // A·G·Aᵀ [r, r]
        var b = la.MatMul(w, ag, m, r, n, transB: true);               // W·G·Aᵀ = W·(A·G)ᵀ [m, r]
        if (!la.TryCholesky(gram, r))
            throw new LinearAlgebraException($"{name}: A·G·Aᵀ of the local update is not positive definite (the update's calibration inputs do not span the kept directions); use more --weights-update samples");
        la.SolveTriangular(gram, r, lower: true, transpose: true, left: false, b, m);    // X·Lᵀ = W·G·Aᵀ
        la.SolveTriangular(gram, r, lower: true, transpose: false, left: false, b, m);   // B·L = X
        return b;
    }

    /// <summary>Layer <paramref name="layer"/> with its compressed linears swapped in (for sequential calibration).</summary>
    static DecoderLayer Replace(CausalLM lm, DecoderLayer layer, Dictionary<LinearKind, LowRankLinear> built)
    {
        Linear Pick(LinearKind k, Linear old) => built.TryGetValue(k, out var lin) ? lin : old;
        KvAttention attention = layer.Attention switch
        {
            DenseAttention a => new DenseAttention(Pick(LinearKind.K, a.K), Pick(LinearKind.V, a.V), Pick(LinearKind.O, a.O), a.KNorm, lm.AttentionShape),
            LatentAttention a => new LatentAttention(a.K, a.V, Pick(LinearKind.O, a.O), a.KNorm, a.Shape, a.FusedO),
            var other => throw new NotSupportedException($"--sequential: attention kind {other.GetType().Name} cannot take compressed linears"),
        };
        return new DecoderLayer
        {
            InputNorm = layer.InputNorm, Q = Pick(LinearKind.Q, layer.Q), QNorm = layer.QNorm, Attention = attention,
            PostAttentionNorm = layer.PostAttentionNorm, Gate = Pick(LinearKind.Gate, layer.Gate), Up = Pick(LinearKind.Up, layer.Up),
            Down = Pick(LinearKind.Down, layer.Down),
        };
    }
}
