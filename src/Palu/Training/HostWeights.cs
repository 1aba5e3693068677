using Palu.IO;
using Palu.Kernels.Cpu;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Training;

/// <summary>A dense linear read in place from the checkpoint: W [out, in] and optional bias [out].</summary>
public sealed class HostLinear(WeightMatrix weight, float[]? bias)
{
    public WeightMatrix Weight { get; } = weight;
    public float[]? Bias { get; } = bias;

    /// <summary>y [T, out] = x [T, in]·Wᵀ + b on the CPU kernels.</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int T)
    {
        SimdKernels.MatMul(x[..(T * Weight.Cols)], Weight, y[..(T * Weight.Rows)], T);
        if (Bias != null) SimdKernels.AddBias(y[..(T * Weight.Rows)], Bias, T);
    }
}

/// <summary>One decoder layer's weights for the training passes.</summary>
public sealed class HostLayer
{
    public required HostLinear Q, K, V, O, Gate, Up, Down;
    public required float[] InputNorm, PostNorm;
    public float[]? QNorm, KNorm;

    public HostLinear Of(LinearKind k) => k switch
    {
        LinearKind.Q => Q, LinearKind.K => K, LinearKind.V => V, LinearKind.O => O,
        LinearKind.Gate => Gate, LinearKind.Up => Up, _ => Down,
    };
}

/// <summary>
/// The weights of a dense (uncompressed) model as the CPU training passes use them: matrices read in place from the
/// memory-mapped checkpoint (the bytes the model itself runs on), norms and biases as arrays. Training runs on the CPU
/// only, whatever backend the model was loaded on.
/// </summary>
public sealed class HostWeights
{
    public required WeightMatrix Embed { get; init; }     // [V, d]
    public required WeightMatrix LmHead { get; init; }    // [V, d] (= Embed when tied)
    public required float[] FinalNorm { get; init; }      // [d]
    public required HostLayer[] Layers { get; init; }

    public static HostWeights From(CausalLM lm)
    {
        if (lm.Plan != null) throw new NotSupportedException("gradients need the original (dense) model, not a compressed one; run on the checkpoint you compress");
        var md = lm.Checkpoint;
        var c = lm.Config;
        int d = c.HiddenSize, qDim = c.QDim, kvDim = c.KvDim, ffn = c.IntermediateSize, dh = c.HeadDim;
        HostLinear Lin(int l, LinearKind k, int rows, int cols, bool bias)
        {
            string m = LinearKinds.Module(l, k);
            return new HostLinear(md.Matrix(m + ".weight", rows, cols), bias ? md.Floats(m + ".bias", rows) : null);
        }
        var layers = Enumerable.Range(0, c.NumLayers).Select(l =>
        {
            string p = LinearKinds.LayerPrefix(l);
            return new HostLayer
            {
                Q = Lin(l, LinearKind.Q, qDim, d, c.QkvBias), K = Lin(l, LinearKind.K, kvDim, d, c.QkvBias),
                V = Lin(l, LinearKind.V, kvDim, d, c.QkvBias), O = Lin(l, LinearKind.O, d, qDim, c.OutputBias),
                Gate = Lin(l, LinearKind.Gate, ffn, d, c.MlpBias), Up = Lin(l, LinearKind.Up, ffn, d, c.MlpBias),
                Down = Lin(l, LinearKind.Down, d, ffn, c.MlpBias),
                InputNorm = md.Floats(p + "input_layernorm.weight", d), PostNorm = md.Floats(p + "post_attention_layernorm.weight", d),
                QNorm = c.QkNorm ? md.Floats(p + "self_attn.q_norm.weight", dh) : null,
                KNorm = c.QkNorm ? md.Floats(p + "self_attn.k_norm.weight", dh) : null,
            };
        }).ToArray();
        var embed = md.Matrix("model.embed_tokens.weight", c.VocabSize, d);
        return new HostWeights
        {
            Embed = embed,
            LmHead = c.TieWordEmbeddings ? embed : md.Matrix("lm_head.weight", c.VocabSize, d),
            FinalNorm = md.Floats("model.norm.weight", d),
            Layers = layers,
        };
    }
}
