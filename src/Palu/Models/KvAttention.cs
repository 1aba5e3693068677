using Palu.Cache;

namespace Palu.Models;

/// <summary>
/// The part of a layer's self-attention that touches the KV cache: from the normed input and the (RoPE'd) queries to
/// the attention block's output after o_proj. Dense attention caches keys and values; Palu's latent attention caches
/// low-rank latents and reconstructs. Weights live here; the per-sequence state lives in a <see cref="LayerCache"/>.
/// </summary>
public abstract class KvAttention
{
    public abstract LayerCache CreateCache(int capacity);

    /// <summary>
    /// xn [T, d]: the normed layer input; q [T, H·d_h]: queries with q-norm and RoPE applied at positions
    /// [startPos, startPos+T); output [T, d]: the attention block's output (after o_proj and its bias).
    /// </summary>
    public abstract void Forward(ReadOnlySpan<float> xn, ReadOnlySpan<float> q, int T, int startPos, LayerCache cache,
        Span<float> output, int layer, IActivationObserver? observer);

    /// <summary>Bytes of weights this module reads per token (K/V/O projections).</summary>
    public abstract long WeightBytes { get; }
}
