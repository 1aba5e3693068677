using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Cache;

/// <summary>Keys (RoPE applied) and values of one layer, each a store [H_kv, capacity, d_h] in f32, bf16 or f16
/// (<c>--kv-dtype</c>): written in that dtype at append time, widened inside attention.</summary>
public sealed class DenseLayerCache : LayerCache, IDenseKvCache
{
    public KvStore K { get; }   // [H_kv, capacity, d_h]
    public KvStore V { get; }   // [H_kv, capacity, d_h]

    public DenseLayerCache(Backend be, DType dtype, int kvHeads, int headDim, int capacity)
    {
        K = new KvStore(be, dtype, kvHeads, capacity, headDim);
        try { V = new KvStore(be, dtype, kvHeads, capacity, headDim); }
        catch { K.Dispose(); throw; }
    }

    public override long BytesAllocated => K.Bytes + V.Bytes;
    public override long BytesPerToken => K.BytesPerToken + V.BytesPerToken;

    public void Append(Backend be, Buf k, Buf v, int start, int T)
    {
        int width = K.Heads * K.Width;
        be.Store(k, width, 0, K, start, T);
        be.Store(v, width, 0, V, start, T);
    }

    public void Attend(Backend be, Buf q, Buf output, in AttentionCall call) => be.Attention(q, K, V, output, call);

    public override void Dispose() { K.Dispose(); V.Dispose(); }
}
