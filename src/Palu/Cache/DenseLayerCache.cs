using Palu.Tensors;

namespace Palu.Cache;

/// <summary>Keys (RoPE applied) and values of one layer in f32, laid out per KV head: [Hkv, capacity, d].</summary>
public sealed unsafe class DenseLayerCache : LayerCache
{
    readonly NativeBuffer _k, _v;
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int Capacity { get; }

    public DenseLayerCache(int kvHeads, int headDim, int capacity)
    {
        KvHeads = kvHeads; HeadDim = headDim; Capacity = capacity;
        long n = (long)kvHeads * capacity * headDim;
        _k = NativeBuffer.Allocate(n * sizeof(float));
        _v = NativeBuffer.Allocate(n * sizeof(float));
    }

    public Span<float> K => _k.AsSpan<float>();   // [Hkv, capacity, d]
    public Span<float> V => _v.AsSpan<float>();   // [Hkv, capacity, d]

    public override long BytesAllocated => _k.Bytes + _v.Bytes;
    public override long BytesPerToken => 2L * KvHeads * HeadDim * sizeof(float);

    /// <summary>Stores k, v [T, Hkv·d] of positions [start, start+T).</summary>
    public void Write(ReadOnlySpan<float> k, ReadOnlySpan<float> v, int start, int T)
    {
        int d = HeadDim;
        var K = this.K; var V = this.V;
        for (int t = 0; t < T; t++)
            for (int h = 0; h < KvHeads; h++)
            {
                long dst = ((long)h * Capacity + start + t) * d;
                k.Slice((t * KvHeads + h) * d, d).CopyTo(K.Slice((int)dst, d));
                v.Slice((t * KvHeads + h) * d, d).CopyTo(V.Slice((int)dst, d));
            }
    }

    public override void Dispose() { _k.Dispose(); _v.Dispose(); }
}
