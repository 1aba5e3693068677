using Palu.Kernels.Cpu;
using Palu.Runtime;

namespace Palu.Cache;

/// <summary>
/// Palu's latent cache with quantised latents (ALGORITHMS.md §4.5): per head group g a packed store of key latents
/// [capacity, RowBytes(r^K_g)] and one of value latents, each token quantised per group (or per quantisation group of
/// channels) at append time and stored as bit-packed codes + f16 scales + f16 zero-points (<see cref="QuantLayout"/>).
/// Attention reads the packed bytes (<see cref="Backend.PackedLatentAttention"/>).
/// </summary>
public sealed class PackedLatentLayerCache : LayerCache, ILatentKvCache
{
    readonly PackedKvStore[] _k, _v;
    readonly int[] _kOff, _vOff;   // [n_g + 1] column of group g in a latent row
    public PackedLatentHead[] Heads { get; }   // [H_kv]
    public int Bits { get; }

    /// <param name="bits">2, 3, 4 or 8</param>
    /// <param name="quantGroup">channels per scale (0 = the group's whole rank)</param>
    /// <inheritdoc cref="LatentLayerCache(Backend, int, int[], int[], int[], int[], DeviceWeight[], Buf[])"/>
    public PackedLatentLayerCache(Backend be, int capacity, int bits, int quantGroup, int[] kRanks, int[] vRanks, int[] keyGroup,
        int[] valueGroup, DeviceWeight[] keyUp, Buf[] keyBias)
    {
        Bits = bits;
        _kOff = LatentLayerCache.Offsets(kRanks); _vOff = LatentLayerCache.Offsets(vRanks);
        var made = new List<PackedKvStore>();
        PackedKvStore Make(int r)
        {
            var s = new PackedKvStore(be, QuantLayout.Create(r, bits, quantGroup), capacity);
            made.Add(s);
            return s;
        }
        try
        {
            _k = kRanks.Select(Make).ToArray();
            _v = vRanks.Select(Make).ToArray();
        }
        catch { foreach (var s in made) s.Dispose(); throw; }
        Heads = new PackedLatentHead[keyGroup.Length];
        for (int h = 0; h < Heads.Length; h++)
            Heads[h] = new PackedLatentHead(_k[keyGroup[h]], keyUp[h], keyBias[h], _v[valueGroup[h]]);
    }

    public override long BytesAllocated => _k.Sum(s => s.Bytes) + _v.Sum(s => s.Bytes);
    public override long BytesPerToken => _k.Sum(s => s.BytesPerToken) + _v.Sum(s => s.BytesPerToken);

    /// <summary>Group g's packed key latents.</summary>
    public PackedKvStore KeyStore(int g) => _k[g];
    /// <summary>Group g's packed value latents.</summary>
    public PackedKvStore ValueStore(int g) => _v[g];

    public void Append(Backend be, Buf hk, Buf hv, int start, int T)
    {
        for (int g = 0; g < _k.Length; g++) be.QuantizeStore(hk, _kOff[^1], _kOff[g], _k[g], start, T);
        for (int g = 0; g < _v.Length; g++) be.QuantizeStore(hv, _vOff[^1], _vOff[g], _v[g], start, T);
    }

    public void Attend(Backend be, Buf q, Buf kNorm, float normEps, RopeTable rope, ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall call) =>
        be.PackedLatentAttention(q, Heads, kNorm, normEps, rope, zOffsets, z, call);

    public override void Dispose() { foreach (var s in _k) s.Dispose(); foreach (var s in _v) s.Dispose(); }
}
