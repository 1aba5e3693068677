using Palu.Compression.Weights;
using Palu.IO;
using Palu.LinearAlgebra;
using Palu.Models;
using Palu.Runtime;
using Palu.Tensors;
using Palu.Tests.KvCompression;

namespace Palu.Tests.Compression;

/// <summary>SVD-LLM and SkipCat weight compression: exactness at keep 1, Skip as an exact re-parameterisation, the
/// budget, the shared projection, the combined KV + weights model, and the bad-input messages.</summary>
public class WeightCompressionTests
{
    static readonly string Calib = TestPaths.Data("calib/corpus-train-2M.txt");
    static readonly int[] Ids = Enumerable.Range(0, 40).Select(i => (i * 37 + 5) % 500 + 3).ToArray();

    static WeightOptions Options(double keep, WeightMethod method, bool cat = true, bool skip = true) => new()
    {
        Keep = keep, Method = method, Cat = cat, Skip = skip, CalibrationFile = Calib, CalibrationSamples = 4, CalibrationSeqLen = 128,
        FactorDType = DType.F32, Overwrite = true,
    };

    static float MaxRelDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max() / a.Max(Math.Abs);

    [Theory]
    [InlineData(WeightMethod.SvdLlm, true, true)]
    [InlineData(WeightMethod.SkipCat, true, false)]   // Cat only
    [InlineData(WeightMethod.SkipCat, false, true)]   // Skip only
    [InlineData(WeightMethod.SkipCat, true, true)]    // Cat + Skip
    public void KeepOneIsExact(WeightMethod method, bool cat, bool skip)
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("stories260k"), dst = tmp.File("out");   // GQA 8/4: the q/k/v stack is d_q + 2·d_kv rows
        var plan = WeightCompressor.Compress(src, dst, Options(1.0, method, cat, skip));
        using var a = CausalLM.Load(src);
        using var b = CausalLM.Load(dst);
        Assert.All(LinearKinds.All, k => Assert.IsType<LowRankLinear>(b.Layers[1].LinearOf(k)));
        Assert.Equal(method == WeightMethod.SkipCat && skip, plan.Modules.All(m => m.Identity != null));
        Assert.Equal(method == WeightMethod.SkipCat && cat, plan.Modules.Any(m => m.Shared != null));
        foreach (bool stepwise in new[] { false, true })
        {
            float rel = MaxRelDiff(LatentAttentionTests.Run(a, Ids, stepwise), LatentAttentionTests.Run(b, Ids, stepwise));
            Assert.True(rel < 1e-3, $"{method} cat={cat} skip={skip} stepwise={stepwise}: logits rel diff {rel:E2}");
        }
    }

    [Theory]
    [InlineData(24, 10, 30)]
    [InlineData(48, 30, 30)]   // full rank of a square matrix: A' is empty
    [InlineData(40, 7, 64)]
    public void SkipIsAnExactReparameterisation(int m, int r, int n)
    {
        var g = new Gaussian(5);
        var a = Dense.ToDouble(g.Floats(r * n, 1f));     // [r, n]
        var b = Dense.ToDouble(g.Floats(m * r, 1f));     // [m, r]
        var la = LinearAlgebraProvider.Default;
        var k = SkipBlock.Apply(la, a, b, m, r, n);
        Assert.Equal(Enumerable.Range(0, n), k.Identity.Concat(k.Rest).Order());
        // B'·[I at J | A' at J̄] equals B·A
        var full = new double[r * n];
        for (int i = 0; i < r; i++)
        {
            full[i * n + k.Identity[i]] = 1;
            for (int j = 0; j < n - r; j++) full[i * n + k.Rest[j]] = k.A[i * (n - r) + j];
        }
        var w = new double[m * n];
        var w2 = new double[m * n];
        la.Gemm(false, false, m, n, r, 1.0, b, a, 0.0, w);
        la.Gemm(false, false, m, n, r, 1.0, k.B, full, 0.0, w2);
        double scale = w.Max(Math.Abs), err = w.Zip(w2, (x, y) => Math.Abs(x - y)).Max() / scale;
        Assert.True(err < 1e-10, $"reconstruction rel err {err:E2}");
        Assert.True(k.Condition >= 1 && k.Condition < 1e6, $"cond {k.Condition}");

        // the run-time kind with the identity block equals the plain factors on the SIMD backend, decode and prefill rows
        var be = Backends.Default;
        using var ws = new Workspace(be);
        var plain = new LowRankLinear(be.Load(WeightMatrix.FromFloats(Dense.ToSingle(a), r, n)), be.Load(WeightMatrix.FromFloats(Dense.ToSingle(b), m, r)), default);
        var skip = new LowRankLinear(be.Load(WeightMatrix.FromFloats(Dense.ToSingle(k.A), r, n - r)), be.Load(WeightMatrix.FromFloats(Dense.ToSingle(k.B), m, r)),
            default, be.Load(k.Identity), be.Load(k.Rest), n);
        Assert.Equal((long)r * (m + n - r), skip.Parameters);
        foreach (int T in new[] { 1, 5 })
        {
            var x = g.Floats(T * n, 1f);
            var y1 = Run(be, plain, x, T, m, ws);
            var y2 = Run(be, skip, x, T, m, ws);
            float rel = MaxRelDiff(y1, y2);
            Assert.True(rel < 1e-4, $"T={T}: identity-block linear vs plain factors rel diff {rel:E2}");
        }
    }

    static float[] Run(Backend be, Linear lin, float[] x, int T, int m, Workspace ws)
    {
        using var xb = be.Allocate(x.Length * sizeof(float));
        using var yb = be.Allocate(T * m * sizeof(float));
        var xv = new Buf(xb, 0, x.Length);
        var yv = new Buf(yb, 0, T * m);
        be.Upload(x, xv);
        lin.Forward(be, xv, yv, T, ws);
        var y = new float[T * m];
        be.Download(yv, y);
        return y;
    }

    [Theory]
    [InlineData(576, 192, 0.8, false, 115)]     // tiny's q/k/v stacked: ⌊0.8·576·192/768⌋
    [InlineData(576, 192, 0.8, true, 141)]      // smaller root of r² − 768 r + 0.8·576·192
    [InlineData(192, 512, 0.6, true, 97)]
    [InlineData(192, 512, 1.0, false, 192)]     // keep 1: full rank
    public void RankFromTheBudget(int m, int n, double keep, bool skip, int expected)
    {
        int r = WeightBudget.Rank(m, n, keep, skip);
        Assert.Equal(expected, r);
        if (keep < 1)
        {
            double budget = keep * m * n;
            Assert.True(WeightBudget.Parameters(m, n, r, skip) <= budget && WeightBudget.Parameters(m, n, r + 1, skip) > budget);
        }
    }

    [Theory]
    [InlineData(WeightMethod.SvdLlm, 0.7)]
    [InlineData(WeightMethod.SkipCat, 0.8)]
    public void ParametersMeetTheBudgetWithinOneRankStep(WeightMethod method, double keep)
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("tiny"), dst = tmp.File("out");
        var plan = WeightCompressor.Compress(src, dst, Options(keep, method));
        using var lm = CausalLM.Load(dst);
        var groups = WeightGroups.For(lm.Config, null, method == WeightMethod.SkipCat);
        long dense = groups.Sum(g => g.DenseParameters), step = groups.Sum(g => (long)g.In + g.Out);
        var w = plan.Weights!;
        Assert.Equal(dense, w.ParametersDense);
        Assert.Equal(w.ParametersStored, lm.LinearParameters);          // what the loaded model holds, A of a group once
        Assert.InRange(w.ParametersStored, keep * dense - step, keep * dense);
        if (method == WeightMethod.SvdLlm) return;
        // Cat: the members of a group run one projection object, h computed once per step
        var q = (LowRankLinear)lm.Layers[0].Q;
        Assert.Same(q.Projection, ((LowRankLinear)lm.Layers[0].LinearOf(LinearKind.V)!).Projection);
        Assert.Equal(3, q.Projection.Members);
        Assert.Same(((LowRankLinear)lm.Layers[0].Gate).Projection, ((LowRankLinear)lm.Layers[0].Up).Projection);
        Assert.True(w.MaxBlockCondition is > 1 and < 1e6);
    }

    [Fact]
    public void SequentialCalibrationRunsThroughCompressedLayers()
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("stories260k");
        var plan = WeightCompressor.Compress(src, tmp.File("d"), Options(0.8, WeightMethod.SkipCat));
        var seq = WeightCompressor.Compress(src, tmp.File("s"), Options(0.8, WeightMethod.SkipCat) with { Sequential = true });
        Assert.True(seq.Weights!.Sequential);
        Assert.Equal(plan.Weights!.ParametersStored, seq.Weights.ParametersStored);
        using var a = CausalLM.Load(tmp.File("d"));
        using var b = CausalLM.Load(tmp.File("s"));
        float[] la = LatentAttentionTests.Run(a, Ids, false), lb = LatentAttentionTests.Run(b, Ids, false);
        Assert.All(lb, v => Assert.True(float.IsFinite(v)));
        // layer 0 is calibrated on the same inputs either way; later layers on the compressed layers' outputs
        Assert.Equal(plan.Module(LinearKinds.Module(0, LinearKind.Q))!.Rank, seq.Module(LinearKinds.Module(0, LinearKind.Q))!.Rank);
        Assert.NotEqual(la, lb);
    }

    /// <summary>‖(B·A − W)·X‖²_F written with G = X·Xᵀ: tr((B·A − W)·G·(B·A − W)ᵀ).</summary>
    static double Loss(ILinearAlgebra la, double[] w, double[] b, double[] a, double[] g, int m, int r, int n)
    {
        var e = la.MatMul(b, a, m, n, r);
        for (int i = 0; i < e.Length; i++) e[i] -= w[i];
        var eg = la.MatMul(e, g, m, n, n);
        double s = 0;
        for (int i = 0; i < e.Length; i++) s += e[i] * eg[i];
        return s;
    }

    static double[] Gram(Gaussian rng, int tokens, int n, double spread)
    {
        var x = new double[tokens * n];   // [T, n], column j scaled by spread^j: anisotropic, as activations are
        rng.Fill(x);
        for (int t = 0; t < tokens; t++)
            for (int j = 0; j < n; j++) x[t * n + j] *= Math.Pow(spread, j);
        return LinearAlgebraProvider.Default.MatMul(x, x, n, n, tokens, transA: true);
    }

    [Fact]
    public void LocalUpdateRefitsTheLeftFactorByLeastSquares()
    {
        const int m = 20, n = 16, r = 6;
        var la = LinearAlgebraProvider.Default;
        var rng = new Gaussian(11);
        var w = new double[m * n];
        rng.Fill(w);
        var g = Gram(rng, 64, n, 0.9);
        var f = Palu.Compression.LowRankDecomposer.Decompose64(la, w, m, n, la.WhiteningFactor(g, n, 1e-3).S, r);
        // on the Gram it whitened with, the whitened SVD's left factor is already the least-squares one
        var same = WeightCompressor.RefitLeft(la, w, m, n, f.A, r, g, "t");
        double scale = f.B.Max(Math.Abs);
        Assert.True(same.Zip(f.B, (x, y) => Math.Abs(x - y)).Max() < 1e-9 * scale);
        // on other inputs it lowers the output error, to the least-squares optimum: the gradient (B·A − W)·G'·Aᵀ is 0
        var g2 = Gram(rng, 64, n, 0.8);
        var b2 = WeightCompressor.RefitLeft(la, w, m, n, f.A, r, g2, "t");
        double before = Loss(la, w, f.B, f.A, g2, m, r, n), after = Loss(la, w, b2, f.A, g2, m, r, n);
        Assert.True(after < 0.95 * before, $"loss {before:G4} -> {after:G4}");
        var e = la.MatMul(b2, f.A, m, n, r);
        for (int i = 0; i < e.Length; i++) e[i] -= w[i];
        var grad = la.MatMul(la.MatMul(e, g2, m, n, n), f.A, m, r, n, transB: true);
        var wga = la.MatMul(la.MatMul(w, g2, m, n, n), f.A, m, r, n, transB: true);
        Assert.True(grad.Max(Math.Abs) < 1e-9 * wga.Max(Math.Abs));
        // and any other left factor does worse
        var other = (double[])b2.Clone();
        other[3] += 1e-3;
        Assert.True(Loss(la, w, other, f.A, g2, m, r, n) > after);
    }

    [Fact]
    public void LocalUpdateRunsThroughCompressedLayers()
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("stories260k");
        var plan = WeightCompressor.Compress(src, tmp.File("d"), Options(0.8, WeightMethod.SvdLlm));
        var upd = WeightCompressor.Compress(src, tmp.File("u"), Options(0.8, WeightMethod.SvdLlm) with { UpdateSamples = 2 });
        Assert.Null(plan.Weights!.UpdateSamples);
        Assert.Equal(2, upd.Weights!.UpdateSamples);
        Assert.False(upd.Weights.Sequential);
        Assert.Equal(plan.Weights.ParametersStored, upd.Weights.ParametersStored);
        Assert.Equal(2, CompressionPlan.Load(tmp.File("u"), qkvBias: false).Weights!.UpdateSamples);   // palu.json keeps it
        using var a = CausalLM.Load(tmp.File("d"));
        using var b = CausalLM.Load(tmp.File("u"));
        float[] la = LatentAttentionTests.Run(a, Ids, false), lb = LatentAttentionTests.Run(b, Ids, false);
        Assert.All(lb, v => Assert.True(float.IsFinite(v)));
        Assert.NotEqual(la, lb);
    }

    [Theory]
    [InlineData("0", "--weights-update must be ≥ 1")]
    [InlineData("16 --sequential", "use one of them")]
    public void BadLocalUpdateIsRefused(string args, string expected)
    {
        var r = Palu.Tests.CommandLine.CliRunner.Run(["compress", TestPaths.Model("tiny"), "--out", "/tmp/never-u", "--weights-keep", "0.8",
            "--weights-method", "svdllm", "--weights-update", .. args.Split(' ')]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.False(Directory.Exists("/tmp/never-u"));
    }

    [Fact]
    public void KvAndWeightsInOneModel()
    {
        using var tmp = TestPaths.Temp();
        string src = TestPaths.Model("tiny"), kv = tmp.File("kv"), dst = tmp.File("both");
        Palu.Compression.PaluCompressor.Compress(src, kv, new Palu.Compression.PaluOptions
        {
            KvKeep = 0.5, GroupSize = 1, CalibrationFile = Calib, CalibrationSamples = 4, CalibrationSeqLen = 128, Overwrite = true,
        });
        var plan = WeightCompressor.Compress(kv, dst, Options(0.8, WeightMethod.SkipCat));
        Assert.NotNull(plan.Kv);
        Assert.Equal(ModulePlan.KvLatent, plan.Module(LinearKinds.Module(0, LinearKind.K))!.Kind);
        Assert.Null(plan.Module(LinearKinds.Module(0, LinearKind.Q))!.Shared);   // q alone: k/v stay Palu latents
        Assert.Equal(LinearKinds.Module(0, LinearKind.Gate)[..^"gate_proj".Length] + "gate_up", plan.Module(LinearKinds.Module(0, LinearKind.Up))!.Shared);
        using var a = CausalLM.Load(kv);
        using var b = CausalLM.Load(dst);
        Assert.IsType<LatentAttention>(b.Layers[0].Attention);
        Assert.Equal(a.KvBytesPerToken, b.KvBytesPerToken);
        Assert.True(b.LinearParameters < 0.85 * a.LinearParameters, $"{b.LinearParameters} vs {a.LinearParameters}");
        var logits = LatentAttentionTests.Run(b, Ids, false);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        var ex = Assert.Throws<ArgumentException>(() => WeightCompressor.Compress(dst, tmp.File("again"), Options(0.8, WeightMethod.SkipCat)));
        Assert.Contains("already weight-compressed", ex.Message);
    }

    [Theory]
    [InlineData(0.0, "must be in (0, 1]")]
    [InlineData(1.5, "must be in (0, 1]")]
    [InlineData(0.004, "smallest feasible keep")]
    public void BadKeepIsRefusedBeforeAnyWork(double keep, string expected)
    {
        using var tmp = TestPaths.Temp();
        var ex = Assert.Throws<ArgumentException>(() => WeightCompressor.Compress(TestPaths.Model("tiny"), tmp.File("out"), Options(keep, WeightMethod.SvdLlm)));
        Assert.Contains(expected, ex.Message);
        if (keep == 0.004) Assert.Contains("model.layers.0.self_attn.q_proj", ex.Message);
        Assert.False(Directory.Exists(tmp.File("out")));
    }

    [Fact]
    public void IllConditionedIdentityBlockNamesTheModule()
    {
        using var tmp = TestPaths.Temp();
        var ex = Assert.Throws<LinearAlgebraException>(() =>
            WeightCompressor.Compress(TestPaths.Model("tiny"), tmp.File("out"), Options(0.8, WeightMethod.SkipCat) with { MaxBlockCondition = 1.5 }));
        Assert.Contains("model.layers.0.self_attn.qkv", ex.Message);
        Assert.Contains("--no-skip", ex.Message);
    }
}
