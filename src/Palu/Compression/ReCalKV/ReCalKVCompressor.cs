using System.Diagnostics;
using Palu.IO;
using Palu.LinearAlgebra;
using Palu.Models;
using Palu.Tensors;
using Palu.Text;

namespace Palu.Compression;

/// <summary>
/// ReCalKV KV-cache compression (ALGORITHMS.md §5), run layer by layer: ranks as Palu allocates them; one whitening
/// factor per layer from the uncompressed model's Grams (symmetric square root by default); keys in groups of s heads,
/// grouped by HSR (CKA of the whitened heads) or consecutively; values as one joint group of rank Σ r^V_g, refitted by
/// OVC on calibration windows whose activations come from the model with the layers below already compressed
/// (or from the dense model). Writes the same checkpoint layout as Palu: the key groups' head lists carry the order.
/// </summary>
public static class ReCalKVCompressor
{
    public static CompressionPlan Compress(string modelDir, string outDir, PaluOptions o, ReCalKVOptions rc, ILinearAlgebra? la = null,
        IProgress<CompressProgress>? progress = null, CancellationToken ct = default)
    {
        la ??= LinearAlgebraProvider.Default;
        var sw = Stopwatch.StartNew();
        using var lm = CausalLM.Load(modelDir);
        var c = lm.Config;
        PaluCompressor.Validate(c, o);
        Validate(c, o, rc);
        int d = c.HiddenSize, dh = c.HeadDim, kvDim = c.KvDim, width = o.GroupSize * dh, groups = c.NumKvHeads / o.GroupSize;
        Tokenizer? tokenizer = null;
        Tokenizer Tok() => tokenizer ??= Tokenizer.FromDirectory(modelDir);

        // 0. OVC windows first: a request the text cannot meet fails before any heavy work
        int ovcSeqLen = rc.OvcSeqLen ?? o.CalibrationSeqLen;
        var ovcData = rc.Calibrate ? CalibrationData.TokenWindows(o.CalibrationFile!, Tok(), rc.OvcSamples, ovcSeqLen, rc.OvcSeed, "--ovc-samples") : null;

        // 1. ranks, 2. whitening Grams on the uncompressed model
        FisherAllocationInfo? fisherInfo = null;
        LayerRanks[] ranks;
        if (o.RankAllocation == RankAllocationMethod.Uniform) ranks = RankAllocation.Uniform(c.NumLayers, groups, width, o.KvKeep);
        else (ranks, fisherInfo) = PaluCompressor.FisherRanks(modelDir, lm, Tok, o, groups, width, progress, ct);
        LatentQuantOptions.CheckRanks(o, ranks);
        var (grams, calib) = PaluCompressor.Calibrate(lm, Tok, o, la, progress, ct);
        GramCollector? denseOvc = null;
        if (ovcData != null && rc.Activations == OvcActivations.Dense)
        {
            denseOvc = new GramCollector(c.NumLayers, d, LinearInput.Attention, la);
            using var seq = lm.NewSequence(ovcSeqLen);
            var hidden = new float[ovcSeqLen * d];
            foreach (var s in ovcData) { ct.ThrowIfCancellationRequested(); seq.RewindTo(0); lm.Forward(s, seq, hidden, denseOvc); }
        }
        var propagated = ovcData != null && rc.Activations == OvcActivations.Propagated ? new PropagatedCalibration(lm, la) : null;

        // 3. layer by layer
        using var md = ModelDirectory.Open(modelDir);
        var factors = new List<TensorToWrite>();
        var modules = new List<ModulePlan>();
        int L = c.NumLayers;
        var (errBefore, errAfter, groupCka, consecutiveCka) = (new double[L], new double[L], new double[L], new double[L]);
        var hsrTime = new Stopwatch();
        var ovcTime = new Stopwatch();
        var consecutive = PaluPlan.ConsecutiveGroups(c.NumKvHeads, o.GroupSize);
        var allHeads = new[] { Enumerable.Range(0, c.NumKvHeads).ToArray() };
        for (int l = 0; l < L; l++)
        {
            ct.ThrowIfCancellationRequested();
            var wh = PaluCompressor.LayerWhitening(la, grams, l, d, o);

            // keys: HSR groups (or consecutive), whitened SVD per group
            var wk = md.Matrix(LinearKinds.Module(l, LinearKind.K) + ".weight", kvDim, d).ToFloats();   // [H_kv·d_h, d]
            var bk = c.QkvBias ? md.Floats(LinearKinds.Module(l, LinearKind.K) + ".bias", kvDim) : null;
            var keyGroups = consecutive;
            hsrTime.Start();   // the CKA matrix is computed for every variant (a cheap diagnostic in palu.json)
            var cka = HeadReordering.CkaMatrix(la, la.MatMul(Dense.ToDouble(wk), wh.Factor.S, kvDim, d, d), c.NumKvHeads, dh, d);
            if (rc.Reorder) keyGroups = HeadReordering.GreedyGroups(cka, c.NumKvHeads, o.GroupSize);
            groupCka[l] = MeanWithin(cka, c.NumKvHeads, keyGroups);
            consecutiveCka[l] = MeanWithin(cka, c.NumKvHeads, consecutive);
            hsrTime.Stop();
            var k = Factorise(la, wk, bk, keyGroups, ranks[l].KRanks, wh, dh, d);

            // values: one joint group, then OVC
            var wv = md.Matrix(LinearKinds.Module(l, LinearKind.V) + ".weight", kvDim, d).ToFloats();   // [H_kv·d_h, d]
            var bv = c.QkvBias ? md.Floats(LinearKinds.Module(l, LinearKind.V) + ".bias", kvDim) : null;
            int rv = ranks[l].VRanks.Sum();
            var v = Factorise(la, wv, bv, allHeads, [rv], wh, dh, d);
            if (ovcData != null)
            {
                ovcTime.Start();
                var g = denseOvc != null ? denseOvc.Gram(l) : propagated!.Gram(l, ovcData, ct);
                var fit = ValueCalibration.Refit(la, Dense.ToDouble(wv), v.Down, v.Up[0], g, kvDim, d, rv, rc.OvcIterations);
                v = v with { Down = fit.A, Up = [fit.B] };
                (errBefore[l], errAfter[l]) = (fit.Before, fit.After);
                ovcTime.Stop();
            }
            propagated?.Replace(l, k, v);
            foreach (var (kind, p) in new[] { (LinearKind.K, k), (LinearKind.V, v) })
            {
                var rotations = new string?[p.Groups.Length];
                var stored = o.Hadamard ? Rotated(p, rotations, d) : p;
                factors.AddRange(Tensors(l, kind, stored, o.FactorDType));
                modules.Add(LatentQuantOptions.Annotate(PaluPlan.LatentModule(l, kind, p.Groups, p.Ranks, c.QkvBias), o, rotations));
            }
            progress?.Report(new("decomposing", (l + 1.0) / L));
        }

        var plan = new CompressionPlan
        {
            OriginalArchitecture = c.Architecture,
            OriginalModelType = c.Family.ToString().ToLowerInvariant(),
            Kv = PaluCompressor.KvInfo(o, ranks, width, fisherInfo) with
            {
                Method = "recalkv",
                FuseValues = rc.FuseValues,
                ReCalKV = new ReCalKVInfo
                {
                    Variant = ReCalKVOptions.Name(rc.Variant), HeadReordering = rc.Reorder, ValueCalibration = rc.Calibrate,
                    OvcSamples = ovcData?.Count ?? 0, OvcSeqLen = ovcData != null ? ovcSeqLen : 0, OvcSeed = rc.OvcSeed,
                    OvcIterations = rc.Calibrate ? rc.OvcIterations : 0,
                    OvcActivations = rc.Calibrate ? ReCalKVOptions.Name(rc.Activations) : null,
                    OvcErrorBefore = rc.Calibrate ? errBefore.Select(Round).ToArray() : null,
                    OvcErrorAfter = rc.Calibrate ? errAfter.Select(Round).ToArray() : null,
                    HsrGroupCka = groupCka.Select(Round).ToArray(), HsrConsecutiveCka = consecutiveCka.Select(Round).ToArray(),
                    HsrSeconds = Math.Round(hsrTime.Elapsed.TotalSeconds, 3), OvcSeconds = Math.Round(ovcTime.Elapsed.TotalSeconds, 3),
                },
            },
            Calibration = calib,
            Seconds = Math.Round(sw.Elapsed.TotalSeconds, 2),
            Modules = modules.ToArray(),
        };
        return PaluCompressor.Write(md, outDir, factors, modules, plan, o.Overwrite, progress, ct);
    }

    static double Round(double x) => Math.Round(x, 6);

    /// <summary>
    /// Whitened SVD of each group's heads (rows gathered in slot order, so the permutation is in the factors and the
    /// head lists, never at run time); bias rows gathered the same way (the reference keeps them in the original order:
    /// wrong for biased models, §12.4).
    /// </summary>
    static PropagatedCalibration.Projection Factorise(ILinearAlgebra la, float[] w, float[]? bias, int[][] groups, int[] ranks,
        Whitening wh, int dh, int d)
    {
        var down = new float[ranks.Sum() * d];                      // [Σr, d]
        var up = new float[groups.Length][];
        var ub = new float[]?[groups.Length];
        for (int g = 0, off = 0; g < groups.Length; off += ranks[g], g++)
        {
            var f = LowRankDecomposer.Decompose(la, HeadReordering.GatherHeads(w, groups[g], dh, d), groups[g].Length * dh, d, wh, ranks[g]);
            f.A.CopyTo(down, off * d);
            up[g] = f.B;                                            // [s_g·d_h, r_g]
            ub[g] = bias is null ? null : HeadReordering.GatherBias(bias, groups[g], dh);
        }
        return new(down, groups, ranks, up, ub);
    }

    /// <summary>A copy of the factors with each group's latent rotated (A_g ← M·A_g, B_g ← B_g·Mᵀ; exact at full
    /// precision, as in Palu's <c>--hadamard</c>); <paramref name="rotations"/> receives each group's rotation.</summary>
    static PropagatedCalibration.Projection Rotated(PropagatedCalibration.Projection p, string?[] rotations, int d)
    {
        var down = (float[])p.Down.Clone();                         // [Σr, d]
        var up = new float[p.Groups.Length][];
        for (int g = 0, off = 0; g < p.Groups.Length; off += p.Ranks[g], g++)
        {
            int r = p.Ranks[g];
            var a = down.AsSpan(off * d, r * d).ToArray();          // [r, d]
            up[g] = (float[])p.Up[g].Clone();                       // [s_g·d_h, r]
            rotations[g] = LatentRotation.Apply(a, up[g], r, d, up[g].Length / r);
            a.CopyTo(down, off * d);
        }
        return p with { Down = down, Up = up };
    }

    static IEnumerable<TensorToWrite> Tensors(int l, LinearKind kind, PropagatedCalibration.Projection p, DType dtype)
    {
        yield return TensorToWrite.FromFloats(PaluPlan.DownName(l, kind), p.Down, [p.Ranks.Sum(), p.Down.Length / p.Ranks.Sum()], dtype);
        for (int g = 0; g < p.Groups.Length; g++)
        {
            yield return TensorToWrite.FromFloats(PaluPlan.UpName(l, kind, g), p.Up[g], [p.Up[g].Length / p.Ranks[g], p.Ranks[g]], dtype);
            if (p.Bias[g] is float[] b) yield return TensorToWrite.FromFloats(PaluPlan.UpBiasName(l, kind, g), b, [b.Length], dtype);
        }
    }

    /// <summary>Mean CKA over the pairs of heads that share a group.</summary>
    public static double MeanWithin(double[] cka, int heads, int[][] groups)
    {
        double sum = 0;
        int n = 0;
        foreach (var g in groups)
            for (int i = 0; i < g.Length; i++)
                for (int j = i + 1; j < g.Length; j++) { sum += cka[g[i] * heads + g[j]]; n++; }
        return n > 0 ? sum / n : 1;
    }

    /// <summary>Checks that need no data: whitening on, iterations ≥ 0, a fused o_proj that fits in memory.</summary>
    public static void Validate(ModelConfig c, PaluOptions o, ReCalKVOptions rc)
    {
        if (o.Decomposition != DecompositionMethod.Whiten)
            throw new ArgumentException("--method recalkv whitens every factorisation (HSR compares whitened heads, OVC starts from whitened SVD): drop --decomposition svd");
        if (o.CalibrationFile == null) throw new ArgumentException("--method recalkv needs calibration text: pass --calib FILE");
        if (rc.OvcIterations < 0) throw new ArgumentException($"--ovc-iterations must be 0 or more, got {rc.OvcIterations}");
        if (rc.Calibrate && rc.OvcSamples < 1) throw new ArgumentException($"--ovc-samples must be positive, got {rc.OvcSamples}");
        if (rc.Calibrate && (rc.OvcSeqLen ?? o.CalibrationSeqLen) > c.MaxPositionEmbeddings)
            throw new ArgumentException($"the OVC sequence length {rc.OvcSeqLen ?? o.CalibrationSeqLen} exceeds the model's max_position_embeddings {c.MaxPositionEmbeddings}; lower --calib-seq-len");
        if (rc.FuseValues)
        {
            long rv = RankAllocation.Round(o.KvKeep * c.KvDim, c.KvDim);
            long bytes = c.NumLayers * (long)c.HiddenSize * c.NumHeads * rv * sizeof(float);
            long limit = rc.FuseMemoryLimitBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;
            if (bytes > limit)
                throw new ArgumentException($"--fuse-values: the fused o_proj W_O·B_V would take about {bytes / (1024.0 * 1024 * 1024):F2} GiB " +
                    $"({c.NumLayers} layers × {c.HiddenSize} × {c.NumHeads} heads × joint value rank ≈ {rv} floats, {c.NumHeads * rv / (double)(c.NumHeads * c.HeadDim):F0}× o_proj), " +
                    $"more than the {limit / (1024.0 * 1024 * 1024):F2} GiB allowed (half the available memory); leave --fuse-values off (values are then rebuilt from the latents) or lower --kv-keep");
        }
    }
}
