using Palu.Kernels.Cpu;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Cache;

/// <summary>
/// Palu's latent cache for one layer: per head group g a store of key latents [capacity, r^K_g] and one of value
/// latents [capacity, r^V_g] (pre-RoPE, f32). <see cref="Heads"/> pairs each KV head with its groups' stores and the
/// key up-projection rows that rebuild it (given by the attention module that made the cache).
/// </summary>
public sealed class LatentLayerCache : LayerCache, ILatentKvCache
{
    readonly KvStore[] _k, _v;
    readonly int[] _kOff, _vOff;   // [n_g + 1] column of group g in a latent row
    public LatentHead[] Heads { get; }   // [H_kv]

    /// <param name="kRanks">r^K per key group</param>
    /// <param name="vRanks">r^V per value group</param>
    /// <param name="keyGroup">[H_kv] the key group of each KV head</param>
    /// <param name="valueGroup">[H_kv] the value group of each KV head</param>
    /// <param name="keyUp">[H_kv] B^K rows of each KV head [d_h, r^K]</param>
    /// <param name="keyBias">[H_kv] b^K rows of each KV head [d_h], or empty</param>
    public LatentLayerCache(Backend be, int capacity, int[] kRanks, int[] vRanks, int[] keyGroup, int[] valueGroup,
        DeviceWeight[] keyUp, Buf[] keyBias)
    {
        _kOff = Offsets(kRanks); _vOff = Offsets(vRanks);
        var made = new List<KvStore>();
        try
        {
            _k = kRanks.Select(r => Add(made, new KvStore(be, DType.F32, 1, capacity, r))).ToArray();
            _v = vRanks.Select(r => Add(made, new KvStore(be, DType.F32, 1, capacity, r))).ToArray();
        }
        catch { foreach (var s in made) s.Dispose(); throw; }
        Heads = new LatentHead[keyGroup.Length];
        for (int h = 0; h < Heads.Length; h++)
            Heads[h] = new LatentHead(_k[keyGroup[h]], keyUp[h], keyBias[h], _v[valueGroup[h]]);
    }

    static KvStore Add(List<KvStore> made, KvStore s) { made.Add(s); return s; }

    internal static int[] Offsets(int[] ranks)
    {
        var o = new int[ranks.Length + 1];
        for (int g = 0; g < ranks.Length; g++) o[g + 1] = o[g] + ranks[g];
        return o;
    }

    public override long BytesAllocated => _k.Sum(s => s.Bytes) + _v.Sum(s => s.Bytes);
    public override long BytesPerToken => _k.Sum(s => s.BytesPerToken) + _v.Sum(s => s.BytesPerToken);

    /// <summary>Group g's key latent store [capacity, r^K_g].</summary>
    public KvStore KeyStore(int g) => _k[g];
    /// <summary>Group g's value latent store [capacity, r^V_g].</summary>
    public KvStore ValueStore(int g) => _v[g];

    public void Append(Backend be, Buf hk, Buf hv, int start, int T)
    {
        for (int g = 0; g < _k.Length; g++) be.Store(hk, _kOff[^1], _kOff[g], _k[g], start, T);
        for (int g = 0; g < _v.Length; g++) be.Store(hv, _vOff[^1], _vOff[g], _v[g], start, T);
    }

    public void Attend(Backend be, Buf q, Buf kNorm, float normEps, RopeTable rope, ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall call) =>
        be.LatentAttention(q, Heads, kNorm, normEps, rope, zOffsets, z, call);

    public override void Dispose() { foreach (var s in _k) s.Dispose(); foreach (var s in _v) s.Dispose(); }
}
