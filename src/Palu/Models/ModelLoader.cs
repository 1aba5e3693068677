using Palu.IO;
using Palu.Kernels.Cpu;

namespace Palu.Models;

/// <summary>Binds HF tensor names of a Llama-family checkpoint to a <see cref="CausalLM"/>, checking every shape.</summary>
public static class ModelLoader
{
    public static CausalLM Load(ModelDirectory md)
    {
        var c = md.Config;
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
                Attention = new DenseAttention(
                    Lin("self_attn.k_proj", kvDim, d, c.QkvBias),
                    Lin("self_attn.v_proj", kvDim, d, c.QkvBias),
                    Lin("self_attn.o_proj", d, qDim, c.OutputBias),
                    c.QkNorm ? md.Floats(p + "self_attn.k_norm.weight", dh) : null,
                    shape),
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
}
