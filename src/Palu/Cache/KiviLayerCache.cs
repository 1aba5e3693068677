using Palu.Kernels.Cpu;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Cache;

/// <summary>The KIVI baseline's settings (<c>--kv-quant kivi2|kivi4</c>, <c>--kv-residual</c>).</summary>
/// <param name="Bits">2 or 4</param>
/// <param name="Residual">most recent tokens kept in full precision</param>
public sealed record KiviOptions(int Bits, int Residual)
{
    /// <summary>KIVI's group: 32 tokens per key scale (per channel), 32 channels per value scale (per token).</summary>
    public const int Group = 32;

    public static KiviOptions Parse(string name, int residual)
    {
        int bits = name switch
        {
            "kivi2" => 2,
            "kivi4" => 4,
            _ => throw new ArgumentException($"--kv-quant '{name}' is not known: choose kivi2 or kivi4 (KIVI's 2- or 4-bit key/value quantisation)"),
        };
        if (residual < 0 || residual % Group != 0)
            throw new ArgumentException($"--kv-residual must be a non-negative multiple of {Group} (KIVI quantises keys in blocks of {Group} tokens), got {residual}");
        return new KiviOptions(bits, residual);
    }
}

/// <summary>
/// KIVI (ALGORITHMS.md §8), the quantisation-only baseline, as a dense cache kind: keys quantised per channel over
/// blocks of 32 tokens, values per token over groups of 32 channels, asymmetric at 2 or 4 bits (the quantiser of
/// <see cref="LatentQuant"/>: f16 scale, integer zero-point), the most recent tokens in full precision. A block of 32
/// positions is quantised once all of it lies more than <see cref="KiviOptions.Residual"/> tokens behind the end
/// (so between Residual and Residual + 31 recent tokens stay exact). Storage is simulated: the quantised values are
/// written back into an f32 store (dense attention reads it); <see cref="BytesPerToken"/> is the packed layout's
/// (codes + f16 scales + f16 zero-points), not this f32 store's.
/// </summary>
public sealed class KiviLayerCache : LayerCache, IDenseKvCache
{
    readonly DenseLayerCache _store;   // f32 [H_kv, capacity, d_h] keys and values
    readonly KiviOptions _o;
    int _quantised;                    // positions [0, _quantised) hold quantised values

    public KiviLayerCache(Backend be, KiviOptions options, int kvHeads, int headDim, int capacity)
    {
        if (headDim % KiviOptions.Group != 0) throw new ArgumentException($"KIVI groups values by {KiviOptions.Group} channels; head_dim {headDim} is not a multiple");
        _o = options;
        _store = new DenseLayerCache(be, DType.F32, kvHeads, headDim, capacity);
    }

    public override long BytesAllocated => _store.BytesAllocated;

    /// <summary>Per token, K and V each: H_kv·d_h codes of b bits + one f16 scale and zero-point per 32 values.</summary>
    public override long BytesPerToken
    {
        get
        {
            long values = (long)_store.K.Heads * _store.K.Width;
            return 2 * (values * _o.Bits / 8 + values / KiviOptions.Group * 4);
        }
    }

    public void Append(Backend be, Buf k, Buf v, int start, int T)
    {
        _store.Append(be, k, v, start, T);
        if (start < _quantised) _quantised = start / KiviOptions.Group * KiviOptions.Group;   // rewound: requantise from the block start
        int end = Math.Max(0, start + T - _o.Residual) / KiviOptions.Group * KiviOptions.Group;
        if (end > _quantised)
        {
            be.KiviQuantize(_store.K, _store.V, _quantised, end - _quantised, _o.Bits);
            _quantised = end;
        }
    }

    public void Attend(Backend be, Buf q, Buf output, in AttentionCall call) => _store.Attend(be, q, output, call);

    public override void Dispose() => _store.Dispose();
}
