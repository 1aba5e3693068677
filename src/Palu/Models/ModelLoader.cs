using Palu.IO;
using Palu.Kernels.Cpu;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>Run-time choices that do not change the checkpoint.</summary>
public sealed record LoadOptions
{
    /// <summary>Where the model runs (<c>--device</c>); null = the CPU (<see cref="Backends.Default"/>).</summary>
    public Backend? Backend { get; init; }
    /// <summary>Palu value path: fold B^V into o_proj (true) or rebuild values from the weighted latents (false).</summary>
    public bool FuseValues { get; init; }
    /// <summary>Storage of dense keys and values (<c>--kv-dtype</c>); null = the backend's compute dtype (f32 on the
    /// CPU, which is what the goldens use).</summary>
    public DType? KvDType { get; init; }
    /// <summary>Scan every weight for NaN/Inf and a lying dtype label before building; null = <see cref="WeightCheck.Enabled"/>.</summary>
    public bool? CheckWeights { get; init; }
    /// <summary>The KIVI baseline (<c>--kv-quant</c>): dense keys and values quantised, or null.</summary>
    public Cache.KiviOptions? Kivi { get; init; }
}

/// <summary>
/// Builds a <see cref="CausalLM"/> from an HF checkpoint and, for a compressed one, its compression plan (palu.json):
/// every module in the form the plan says (dense, low-rank, latent K/V with explicit head groups), every shape checked.
/// </summary>
public static class ModelLoader
{
    public static CausalLM Load(ModelDirectory md, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        var be = options.Backend ?? Backends.Default;
        var owner = new object();   // the model's memory on the backend, released when it is disposed
        try
        {
            using (be.Own(owner)) return Build(md, options, be, owner);
        }
        catch
        {
            be.Release(owner);
            throw;
        }
    }

    static CausalLM Build(ModelDirectory md, LoadOptions options, Backend be, object owner)
    {
        var c = md.Config;
        CheckpointChecks.Layers(md);
        if (options.CheckWeights ?? WeightCheck.Enabled) WeightCheck.Require(md);
        string planPath = System.IO.Path.Combine(md.Path, CompressionPlan.FileName);
        CompressionPlan? plan = null;
        if (c.PaluCompressed)
        {
            if (!CompressionPlan.Exists(md.Path))
                throw new ModelFormatException(md.Path, "config.json marks this model as Palu-compressed but palu.json is missing");
            plan = CompressionPlan.Load(md.Path, c.QkvBias);
            foreach (var m in plan.Modules)
                if (LayerOf(m.Name) is not int l || l >= c.NumLayers || LinearKinds.Parse(m.Name) is null)
                    throw new ModelFormatException(planPath, $"module '{m.Name}' is not a linear layer of this {c.NumLayers}-layer model");
        }
        var kvDType = options.KvDType ?? be.ComputeDType;
        if (kvDType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"--kv-dtype must be f32, bf16 or f16, not {DTypes.Name(kvDType)}");
        int d = c.HiddenSize, qDim = c.QDim, kvDim = c.KvDim, ffn = c.IntermediateSize, dh = c.HeadDim;
        var rope = new RopeTable(dh, c.MaxPositionEmbeddings, c.RopeTheta, c.RopeScaling);
        var shape = new AttentionShape(c.NumHeads, c.NumKvHeads, dh, rope, (float)c.RmsNormEps, c.SlidingWindow);
        var f = new LinearFactory(md, plan, be);

        var layers = new DecoderLayer[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            string p = LinearKinds.LayerPrefix(i);
            string Mod(LinearKind k) => LinearKinds.Module(i, k);
            var kNorm = c.QkNorm ? f.Vector(p + "self_attn.k_norm.weight", dh) : default;
            var o = f.Build(Mod(LinearKind.O), d, qDim, c.OutputBias);
            var (ke, ve) = (f.Entry(Mod(LinearKind.K)), f.Entry(Mod(LinearKind.V)));
            bool latentK = ke?.Kind == ModulePlan.KvLatent, latentV = ve?.Kind == ModulePlan.KvLatent;
            if (latentK != latentV)
                throw new ModelFormatException(planPath, $"layer {i}: k_proj is {(latentK ? "" : "not ")}a latent module but v_proj is {(latentV ? "" : "not ")}; Palu needs both");
            KvAttention attention;
            if (latentK)
            {
                var K = PlanErrors.Blame(planPath, ke!.Name, () => LoadLatent(md, be, ke!, c, planPath));
                var V = PlanErrors.Blame(planPath, ve!.Name, () => LoadLatent(md, be, ve!, c, planPath));
                Linear? fused = null;
                if (options.FuseValues || plan?.Kv?.FuseValues == true)
                {
                    if (f.Entry(Mod(LinearKind.O)) != null) throw new ArgumentException($"--fuse-values needs a dense o_proj; layer {i}'s is compressed");
                    fused = FusedOutput.Build(md, be, Mod(LinearKind.O), c, ve!, V, shape);
                }
                attention = new LatentAttention(K, V, o, kNorm, shape, fused);
            }
            else
                attention = new DenseAttention(f.Build(Mod(LinearKind.K), kvDim, d, c.QkvBias), f.Build(Mod(LinearKind.V), kvDim, d, c.QkvBias), o, kNorm, shape);
            layers[i] = new DecoderLayer
            {
                InputNorm = f.Vector(p + "input_layernorm.weight", d),
                Q = f.Build(Mod(LinearKind.Q), qDim, d, c.QkvBias),
                QNorm = c.QkNorm ? f.Vector(p + "self_attn.q_norm.weight", dh) : default,
                Attention = attention,
                PostAttentionNorm = f.Vector(p + "post_attention_layernorm.weight", d),
                Gate = f.Build(Mod(LinearKind.Gate), ffn, d, c.MlpBias),
                Up = f.Build(Mod(LinearKind.Up), ffn, d, c.MlpBias),
                Down = f.Build(Mod(LinearKind.Down), d, ffn, c.MlpBias),
            };
        }
        var embed = be.Load(md.Matrix("model.embed_tokens.weight", c.VocabSize, d));
        var lmHead = c.TieWordEmbeddings ? embed : be.Load(md.Matrix("lm_head.weight", c.VocabSize, d));
        return new CausalLM(c, md.Path, be, plan, embed, layers, f.Vector("model.norm.weight", d), lmHead, shape, kvDType, md, owner) { Kivi = options.Kivi };
    }

    /// <summary>i of <c>model.layers.{i}.…</c>, or null.</summary>
    static int? LayerOf(string module)
    {
        const string prefix = "model.layers.";
        if (!module.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int end = module.IndexOf('.', prefix.Length);
        return end > prefix.Length && int.TryParse(module.AsSpan(prefix.Length, end - prefix.Length), out int l) && l >= 0 ? l : null;
    }

    static LatentProjection LoadLatent(ModelDirectory md, Backend be, ModulePlan e, ModelConfig c, string planPath)
    {
        int dh = c.HeadDim, d = c.HiddenSize, total = e.Groups!.Sum(g => g.Rank);
        var up = new DeviceWeight[e.Groups!.Length];
        var upBias = new Buf[up.Length];
        for (int g = 0; g < up.Length; g++)
        {
            var grp = e.Groups[g];
            int width = grp.Heads.Length * dh;
            up[g] = be.Load(WeightMatrix.FromFloats(md.Floats(grp.Up, width, grp.Rank), width, grp.Rank));
            if (c.QkvBias && grp.Bias is null)
                throw new ModelFormatException(planPath, $"module {e.Name} group {g}: the model's K/V projections have biases but no \"bias\" tensor is named");
            if (grp.Bias != null) upBias[g] = be.Load(md.Floats(grp.Bias, width));
        }
        try
        {
            return new LatentProjection(dh, c.NumKvHeads, e.Groups.Select(g => g.Heads).ToArray(),
                new DenseLinear(be.Load(md.Matrix(e.Down!, total, d))), up, upBias) { Bits = e.Bits, QuantGroup = e.QuantGroup };
        }
        catch (ArgumentException ex) { throw new ModelFormatException(planPath, $"module {e.Name}: {ex.Message}", ex); }
    }
}
