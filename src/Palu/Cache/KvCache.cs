namespace Palu.Cache;

/// <summary>Per-layer cache state of one sequence. Each attention kind (dense, latent) has its own.</summary>
public abstract class LayerCache : IDisposable
{
    /// <summary>Bytes allocated for this layer's cache (what the cache holds in memory, measured from its buffers).</summary>
    public abstract long BytesAllocated { get; }
    /// <summary>Bytes one cached token occupies in this layer.</summary>
    public abstract long BytesPerToken { get; }
    public virtual void Dispose() { }
}

/// <summary>
/// The KV cache of one sequence: one <see cref="LayerCache"/> per decoder layer plus the number of positions filled.
/// Positions are contiguous from 0; <see cref="Length"/> is the absolute position of the next token.
/// </summary>
public sealed class KvCache : IDisposable
{
    public LayerCache[] Layers { get; }
    public int Capacity { get; }
    public int Length { get; private set; }

    public KvCache(LayerCache[] layers, int capacity) { Layers = layers; Capacity = capacity; }

    public long BytesAllocated => Layers.Sum(l => l.BytesAllocated);
    public long BytesPerToken => Layers.Sum(l => l.BytesPerToken);
    /// <summary>Bytes holding the <see cref="Length"/> tokens cached now.</summary>
    public long BytesInUse => BytesPerToken * Length;

    internal void Advance(int tokens) => Length += tokens;

    /// <summary>Forgets positions ≥ <paramref name="length"/> (the next forward writes from there).</summary>
    public void RewindTo(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length), $"cache holds {Length} positions");
        Length = length;
    }

    public void Dispose() { foreach (var l in Layers) l.Dispose(); }
}
