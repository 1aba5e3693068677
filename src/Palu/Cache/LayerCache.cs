using Palu.Runtime;

namespace Palu.Cache;

/// <summary>
/// One layer's cache of one sequence. Each kind stores its own format and runs its own attention over it; attention
/// modules talk to a family interface (<see cref="IDenseKvCache"/>, <see cref="ILatentKvCache"/>), never to a kind.
/// Kinds: <see cref="DenseLayerCache"/> (keys and values in f32, bf16 or f16), <see cref="LatentLayerCache"/> (Palu
/// latents in f32); packed low-bit latents and quantized dense caches join as further kinds.
/// </summary>
public abstract class LayerCache : IDisposable
{
    /// <summary>Bytes allocated for this layer's cache (measured from its buffers).</summary>
    public abstract long BytesAllocated { get; }
    /// <summary>Bytes one cached token occupies in this layer, as stored.</summary>
    public abstract long BytesPerToken { get; }
    public abstract void Dispose();
}

/// <summary>Caches of keys and values (RoPE applied to keys): what standard attention reads.</summary>
public interface IDenseKvCache
{
    /// <summary>Stores k, v [T, H_kv·d_h] (f32) at positions [start, start + T).</summary>
    void Append(Backend be, Buf k, Buf v, int start, int T);

    /// <summary>out [T, H, d_h] = causal softmax attention of q [T, H, d_h] over positions [0, StartPos + T).</summary>
    void Attend(Backend be, Buf q, Buf output, in AttentionCall call);
}

/// <summary>Caches of Palu latents (h^K = A_K x, h^V = A_V x per head group): what latent attention reads.</summary>
public interface ILatentKvCache
{
    /// <summary>Stores latents hk [T, Σr^K] and hv [T, Σr^V] at positions [start, start + T).</summary>
    void Append(Backend be, Buf hk, Buf hv, int start, int T);

    /// <summary>z [T, Σ_h r^V(h)] (query head h at zOffsets[h]): attention weights applied to the value latents, keys
    /// rebuilt from the key latents (see <see cref="Backend.LatentAttention"/>).</summary>
    void Attend(Backend be, Buf q, Buf kNorm, float normEps, Kernels.Cpu.RopeTable rope, ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall call);
}
