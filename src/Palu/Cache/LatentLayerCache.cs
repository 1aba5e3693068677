using Palu.Tensors;

namespace Palu.Cache;

/// <summary>
/// Palu's latent cache for one layer: per head group g, the K latents [capacity, r^K_g] and V latents
/// [capacity, r^V_g] of every cached token (pre-RoPE, f32). Keys and values are reconstructed from these.
/// </summary>
public sealed unsafe class LatentLayerCache : LayerCache
{
    readonly NativeBuffer[] _k, _v;
    readonly int _kTotal, _vTotal;   // Σr^K, Σr^V: latent widths of one token
    public int Capacity { get; }
    public int[] KRanks { get; }
    public int[] VRanks { get; }

    public LatentLayerCache(int[] kRanks, int[] vRanks, int capacity)
    {
        Capacity = capacity; KRanks = kRanks; VRanks = vRanks;
        _kTotal = kRanks.Sum(); _vTotal = vRanks.Sum();
        _k = kRanks.Select(r => NativeBuffer.Allocate((long)capacity * r * sizeof(float))).ToArray();
        _v = vRanks.Select(r => NativeBuffer.Allocate((long)capacity * r * sizeof(float))).ToArray();
    }

    public Span<float> K(int g) => _k[g].AsSpan<float>();   // [capacity, r^K_g]
    public Span<float> V(int g) => _v[g].AsSpan<float>();   // [capacity, r^V_g]

    public override long BytesAllocated => _k.Sum(b => b.Bytes) + _v.Sum(b => b.Bytes);
    public override long BytesPerToken => (_kTotal + _vTotal) * (long)sizeof(float);

    /// <summary>Stores latents hk [T, Σr^K] and hv [T, Σr^V] at positions [start, start+T).</summary>
    public void Write(ReadOnlySpan<float> hk, ReadOnlySpan<float> hv, int start, int T)
    {
        Scatter(hk, KRanks, _kTotal, _k, start, T);
        Scatter(hv, VRanks, _vTotal, _v, start, T);
    }

    /// <summary>h [T, total] → group g's buffer [capacity, r_g] at rows [start, start+T).</summary>
    static void Scatter(ReadOnlySpan<float> h, int[] ranks, int total, NativeBuffer[] dst, int start, int T)
    {
        for (int g = 0, off = 0; g < ranks.Length; off += ranks[g], g++)
        {
            int r = ranks[g];
            var d = dst[g].AsSpan<float>();
            for (int t = 0; t < T; t++) h.Slice(t * total + off, r).CopyTo(d.Slice((start + t) * r, r));
        }
    }

    public override void Dispose() { foreach (var b in _k) b.Dispose(); foreach (var b in _v) b.Dispose(); }
}
