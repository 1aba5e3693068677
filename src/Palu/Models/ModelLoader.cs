using Palu.IO;
using Palu.Kernels.Cpu;

namespace Palu.Models;

/// <summary>Run-time choices that do not change the checkpoint.</summary>
public sealed record LoadOptions
{
    /// <summary>Palu value path: fold B^V into o_proj (true) or rebuild values from the weighted latents (false).</summary>
    public bool FuseValues { get; init; }
}

/// <summary>Binds HF tensor names of a Llama-family checkpoint to a <see cref="CausalLM"/>, checking every shape.</summary>
public static class ModelLoader
{
    public static CausalLM Load(ModelDirectory md, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        var c = md.Config;
        PaluManifest? palu = null;
        if (c.PaluCompressed)
        {
            if (!PaluManifest.Exists(md.Path))
                throw new ModelFormatException(md.Path, "config.json marks this model as Palu-compressed but palu.json is missing");
            palu = PaluManifest.Load(md.Path);
            if (palu.Layers.Length != c.NumLayers)
                throw new ModelFormatException(System.IO.Path.Combine(md.Path, PaluManifest.FileName), $"lists {palu.Layers.Length} layers, config.json has {c.NumLayers}");
        }
        int d = c.HiddenSize, qDim = c.QDim, kvDim = c.KvDim, ffn = c.IntermediateSize, dh = c.HeadDim;
        var rope = new RopeTable(dh, c.MaxPositionEmbeddings, c.RopeTheta, c.RopeScaling);
        var shape = new AttentionShape(c.NumHeads, c.NumKvHeads, dh, rope, (float)c.RmsNormEps, c.SlidingWindow);

        var layers = new DecoderLayer[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            string p = $"model.layers.{i}.";
            Linear Lin(string name, int rows, int cols, bool bias) =>
                new DenseLinear(md.Matrix(p + name + ".weight", rows, cols), bias ? md.Floats(p + name + ".bias", rows) : null);
            layers[i] = new DecoderLayer
            {
                InputNorm = md.Floats(p + "input_layernorm.weight", d),
                Q = Lin("self_attn.q_proj", qDim, d, c.QkvBias),
                QNorm = c.QkNorm ? md.Floats(p + "self_attn.q_norm.weight", dh) : null,
                Attention = palu == null
                    ? new DenseAttention(
                        Lin("self_attn.k_proj", kvDim, d, c.QkvBias),
                        Lin("self_attn.v_proj", kvDim, d, c.QkvBias),
                        Lin("self_attn.o_proj", d, qDim, c.OutputBias),
                        c.QkNorm ? md.Floats(p + "self_attn.k_norm.weight", dh) : null,
                        shape)
                    : new LatentAttention(
                        LoadLatent(md, i, 'k', palu.Layers[i].KRanks, palu.GroupSize, dh, d, c.QkvBias),
                        LoadLatent(md, i, 'v', palu.Layers[i].VRanks, palu.GroupSize, dh, d, c.QkvBias),
                        (DenseLinear)Lin("self_attn.o_proj", d, qDim, c.OutputBias),
                        c.QkNorm ? md.Floats(p + "self_attn.k_norm.weight", dh) : null,
                        shape, options.FuseValues),
                PostAttentionNorm = md.Floats(p + "post_attention_layernorm.weight", d),
                Gate = Lin("mlp.gate_proj", ffn, d, c.MlpBias),
                Up = Lin("mlp.up_proj", ffn, d, c.MlpBias),
                Down = Lin("mlp.down_proj", d, ffn, c.MlpBias),
            };
        }
        var embed = md.Matrix("model.embed_tokens.weight", c.VocabSize, d);
        var lmHead = c.TieWordEmbeddings ? embed : md.Matrix("lm_head.weight", c.VocabSize, d);
        return new CausalLM(c, md.Path, embed, layers, md.Floats("model.norm.weight", d), lmHead, shape, md);
    }

    static LatentProjection LoadLatent(ModelDirectory md, int layer, char kv, int[] ranks, int groupSize, int dh, int d, bool bias)
    {
        int total = ranks.Sum(), width = groupSize * dh;
        var down = new DenseLinear(md.Matrix(PaluManifest.DownName(layer, kv), total, d));
        var up = new float[ranks.Length][];
        var upBias = new float[]?[ranks.Length];
        for (int g = 0; g < ranks.Length; g++)
        {
            up[g] = md.Floats(PaluManifest.UpName(layer, kv, g), width, ranks[g]);
            if (bias) upBias[g] = md.Floats(PaluManifest.UpBiasName(layer, kv, g), width);
        }
        return new LatentProjection(groupSize, dh, down, up, upBias);
    }
}
