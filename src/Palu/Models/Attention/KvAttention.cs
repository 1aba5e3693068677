using Palu.Cache;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>Where one sequence's rows sit in a batched step: rows [Row, Row + T) at positions [StartPos, StartPos + T),
/// and that sequence's cache of this layer.</summary>
public readonly record struct StepRows(int Row, int T, int StartPos, LayerCache Cache);

/// <summary>Cache options chosen when a sequence is created (they do not change the checkpoint).</summary>
/// <param name="KvDType">storage of dense keys and values: F32, BF16 or F16</param>
/// <param name="Kivi">the KIVI baseline's quantised dense cache instead (<c>--kv-quant</c>), or null</param>
public readonly record struct CacheOptions(DType KvDType, KiviOptions? Kivi = null);

/// <summary>
/// The part of a layer's self-attention that touches the cache: from the normed input and the (RoPE'd) queries to the
/// attention block's output after o_proj. Dense attention caches keys and values; Palu's latent attention caches
/// low-rank latents and reconstructs. Weights live here; a sequence's state lives in its <see cref="LayerCache"/>.
/// </summary>
public abstract class KvAttention
{
    public abstract LayerCache CreateCache(Backend be, int capacity, CacheOptions options);

    /// <summary>
    /// xn [N, d]: the normed layer input of every row of the step; q [N, H·d_h]: queries with q-norm and RoPE applied;
    /// output [N, d]: the attention block's output (after o_proj and its bias). <paramref name="steps"/> say which rows
    /// belong to which sequence.
    /// </summary>
    public abstract void Forward(Backend be, Buf xn, Buf q, StepRows[] steps, Buf output, int layer, Workspace ws, IActivationObserver? observer);

    /// <summary>k_proj, v_proj or o_proj where this module holds it as a linear layer, else null.</summary>
    public abstract Linear? Projection(LinearKind kind);

    /// <summary>Bytes of weights this module reads per token (K/V/O projections).</summary>
    public abstract long WeightBytes { get; }
    /// <summary>Stored parameters of the K/V/O projections.</summary>
    public abstract long Parameters { get; }

    /// <summary>The cache of a step, as the family interface this module reads; a clear error for a foreign kind.</summary>
    protected static TCache CacheOf<TCache>(in StepRows s) where TCache : class =>
        s.Cache as TCache ?? throw new ArgumentException($"a {s.Cache.GetType().Name} cannot serve this attention module (it needs a {typeof(TCache).Name}); create the sequence on the same model");
}

/// <summary>Attention geometry shared by the attention modules of one model.</summary>
public sealed record AttentionShape(int Heads, int KvHeads, int HeadDim, Kernels.Cpu.RopeTable Rope, float NormEps, int? SlidingWindow)
{
    public int QueriesPerKv => Heads / KvHeads;
    public AttentionCall Call(in StepRows s) => new(s.T, s.StartPos, Heads, KvHeads, HeadDim, SlidingWindow);
}
