using Palu.Cache;

namespace Palu.Models;

/// <summary>
/// Everything that belongs to one sequence on a loaded model: its cache (one <see cref="LayerCache"/> per decoder
/// layer), how many positions are filled, and its activation buffers for decode-sized steps (prefill chunks borrow
/// the model's lent buffers). The model itself is immutable and shared;
/// each thread advances its own sequences (a state is used by one thread at a time). Positions are contiguous from 0;
/// <see cref="Length"/> is the absolute position of the next token.
/// </summary>
public sealed class SequenceState : IDisposable
{
    public LayerCache[] Layers { get; }
    public int Capacity { get; }
    public int Length { get; private set; }
    internal Workspace Workspace { get; }

    internal SequenceState(LayerCache[] layers, int capacity, Workspace workspace)
    {
        Layers = layers; Capacity = capacity; Workspace = workspace;
    }

    /// <summary>Bytes allocated for the cache (measured from its buffers).</summary>
    public long BytesAllocated => Layers.Sum(l => l.BytesAllocated);
    /// <summary>Bytes one cached token occupies, as stored.</summary>
    public long BytesPerToken => Layers.Sum(l => l.BytesPerToken);
    /// <summary>Bytes holding the <see cref="Length"/> tokens cached now.</summary>
    public long BytesInUse => BytesPerToken * Length;
    /// <summary>Bytes of this sequence's activation buffers (grown to the longest step it ran).</summary>
    public long WorkspaceBytes => Workspace.Bytes;

    internal void Advance(int tokens) => Length += tokens;

    /// <summary>Forgets positions ≥ <paramref name="length"/> (the next forward writes from there).</summary>
    public void RewindTo(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length), $"cache holds {Length} positions");
        Length = length;
    }

    public void Dispose()
    {
        foreach (var l in Layers) l.Dispose();
        Workspace.Dispose();
    }
}
