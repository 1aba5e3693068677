using Palu.Cache;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>
/// Standard attention: k = RoPE(norm?(xn·W_Kᵀ + b_K)), v = xn·W_Vᵀ + b_V stored in a <see cref="DenseLayerCache"/>,
/// causal GQA softmax attention, then o_proj.
/// </summary>
public sealed class DenseAttention : KvAttention
{
    public Linear K { get; }        // [Hkv·d_h, d]
    public Linear V { get; }        // [Hkv·d_h, d]
    public Linear O { get; }        // [d, H·d_h]
    public float[]? KNorm { get; }  // [d_h] (Qwen3)
    readonly AttentionShape _s;

    float[] _k = [], _v = [], _attn = [];   // scratch [T, Hkv·d_h], [T, Hkv·d_h], [T, H·d_h]

    public DenseAttention(Linear k, Linear v, Linear o, float[]? kNorm, AttentionShape shape)
    {
        K = k; V = v; O = o; KNorm = kNorm; _s = shape;
    }

    public override long WeightBytes => K.WeightBytes + V.WeightBytes + O.WeightBytes;

    public override LayerCache CreateCache(int capacity) => new DenseLayerCache(_s.KvHeads, _s.HeadDim, capacity);

    public override void Forward(ReadOnlySpan<float> xn, ReadOnlySpan<float> q, int T, int startPos, LayerCache cache,
        Span<float> output, int layer, IActivationObserver? observer)
    {
        var c = (DenseLayerCache)cache;
        int kvDim = _s.KvHeads * _s.HeadDim, qDim = _s.Heads * _s.HeadDim;
        var k = Scratch.Grow(ref _k, T * kvDim);         // [T, Hkv·d_h]
        var v = Scratch.Grow(ref _v, T * kvDim);         // [T, Hkv·d_h]
        var attn = Scratch.Grow(ref _attn, T * qDim);    // [T, H·d_h]

        K.Forward(xn, k, T);
        V.Forward(xn, v, T);
        if (KNorm != null) SimdKernels.RmsNorm(k, KNorm, k, T * _s.KvHeads, _s.NormEps);
        SimdKernels.Rope(k, T, _s.KvHeads, startPos, _s.Rope);
        c.Write(k, v, startPos, T);

        SimdKernels.Attention(q, c.K, c.V, attn, T, startPos, _s.Heads, _s.KvHeads, _s.HeadDim, c.Capacity, _s.SlidingWindow);
        observer?.OnLinearInput(layer, LinearInput.AttentionOutput, attn, T);
        O.Forward(attn, output, T);
    }
}

/// <summary>Attention geometry shared by the attention modules of one model.</summary>
public sealed record AttentionShape(int Heads, int KvHeads, int HeadDim, RopeTable Rope, float NormEps, int? SlidingWindow);
