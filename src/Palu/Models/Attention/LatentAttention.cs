using Palu.Cache;
using Palu.Kernels.Cpu;
using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// Palu attention: the cache holds per-group latents h^K = A_K·x, h^V = A_V·x instead of keys and values.
/// Keys are rebuilt from latents with RoPE at their absolute positions; attention weights are applied to the value
/// latents (z_h), and values come back either by reconstruction (o_proj(B^V z + b)) or through the fused output
/// projection W̃_O = W_O·B^V (<see cref="FusedO"/>), which never forms a value vector.
/// </summary>
public sealed class LatentAttention : KvAttention
{
    public LatentProjection K { get; }
    public LatentProjection V { get; }
    public Linear O { get; }                  // [d, H·d_h]
    public Buf KNorm { get; }                 // [d_h] (Qwen3) or empty
    /// <summary>W̃_O [d, Σ_h r^V(h)] with bias W_O·b^V + b_O (values fused into o_proj), or null.</summary>
    public Linear? FusedO { get; }
    readonly AttentionShape _s;
    readonly int[] _zOff;                     // [H + 1]: query head h's value latent in a z row

    public LatentAttention(LatentProjection k, LatentProjection v, Linear o, Buf kNorm, AttentionShape shape, Linear? fusedO = null)
    {
        if (k.KvHeads != shape.KvHeads || v.KvHeads != shape.KvHeads)
            throw new ArgumentException($"latent projections cover {k.KvHeads}/{v.KvHeads} KV heads, the model has {shape.KvHeads}");
        if (k.Bits != v.Bits || (k.Bits != 16 && k.QuantGroup != v.QuantGroup))
            throw new ArgumentException($"K latents stored at {k.Bits} bits (group {k.QuantGroup}), V latents at {v.Bits} (group {v.QuantGroup}): one layout per layer is supported");
        K = k; V = v; O = o; KNorm = kNorm; _s = shape; FusedO = fusedO;
        _zOff = ZOffsets(v, shape);
        if (fusedO != null && fusedO.In != _zOff[^1]) throw new ArgumentException($"fused o_proj reads {fusedO.In} latents, z rows have {_zOff[^1]}");
    }

    /// <summary>[H + 1]: start of each query head's value latent in a z row; the last entry is the row width.</summary>
    public static int[] ZOffsets(LatentProjection v, AttentionShape s) =>
        LatentAttentionKernels.ZOffsets(Enumerable.Range(0, s.KvHeads).Select(v.RankOf).ToArray(), s.Heads);

    public AttentionShape Shape => _s;
    public override Linear? Projection(LinearKind kind) => kind == LinearKind.O ? O : null;
    public bool FuseValues => FusedO != null;
    public override long WeightBytes => K.WeightBytes + V.WeightBytes + (FusedO ?? O).WeightBytes;
    public override long Parameters => K.Parameters + V.Parameters + O.Parameters;

    public override LayerCache CreateCache(Backend be, int capacity, CacheOptions options)
    {
        if (options.Kivi != null) throw new ArgumentException("--kv-quant (KIVI) quantises dense keys and values; this Palu model caches latents (quantise them with palu compress --kv-bits)");
        int n = _s.KvHeads;
        int[] kg = Enumerable.Range(0, n).Select(K.GroupOf).ToArray(), vg = Enumerable.Range(0, n).Select(V.GroupOf).ToArray();
        var up = Enumerable.Range(0, n).Select(K.HeadUp).ToArray();
        var bias = Enumerable.Range(0, n).Select(K.HeadBias).ToArray();
        if (K.Bits < 16) return new PackedLatentLayerCache(be, capacity, K.Bits, K.QuantGroup, K.Ranks, V.Ranks, kg, vg, up, bias);
        return new LatentLayerCache(be, capacity, K.Ranks, V.Ranks, kg, vg, up, bias);
    }

    public override void Forward(Backend be, Buf xn, Buf q, StepRows[] steps, Buf output, int layer, Workspace ws, IActivationObserver? observer)
    {
        int N = steps[^1].Row + steps[^1].T, H = _s.Heads, dh = _s.HeadDim, zDim = _zOff[H], qDim = H * dh;
        int rk = K.TotalRank, rv = V.TotalRank;
        var hk = ws.Get(Slot.Hk, N * rk);     // [N, Σr^K]
        var hv = ws.Get(Slot.Hv, N * rv);     // [N, Σr^V]
        var z = ws.Get(Slot.Z, N * zDim);     // [N, Σ_h r^V(h)]

        K.Down.Forward(be, xn, hk, N, ws);
        V.Down.Forward(be, xn, hv, N, ws);
        foreach (var s in steps)
            CacheOf<ILatentKvCache>(s).Append(be, hk.Slice(s.Row * rk, s.T * rk), hv.Slice(s.Row * rv, s.T * rv), s.StartPos, s.T);
        be.ForEach(steps.Length, i =>
        {
            var s = steps[i];
            CacheOf<ILatentKvCache>(s).Attend(be, q.Slice(s.Row * qDim, s.T * qDim), KNorm, _s.NormEps, _s.Rope, _zOff,
                z.Slice(s.Row * zDim, s.T * zDim), _s.Call(s));
        });

        if (FusedO != null)
        {
            FusedO.Forward(be, z, output, N, ws);
            return;
        }
        var vals = ws.Get(Slot.Vals, N * qDim);   // [N, H·d_h]
        ReconstructValues(be, z, vals, N, ws);
        if (observer != null) observer.OnLinearInput(layer, LinearInput.AttentionOutput, ws.Peek(vals), N);
        O.Forward(be, vals, output, N, ws);
    }

    /// <summary>vals[t, h] = B^V_{g,i}·z[t, h] + b^V_{g,i}, one GEMM per head. z [T, Σ r], vals [T, H·d_h].</summary>
    public void ReconstructValues(Backend be, Buf z, Buf vals, int T, Workspace ws)
    {
        int H = _s.Heads, dh = _s.HeadDim, zDim = _zOff[H];
        for (int h = 0; h < H; h++)
        {
            int kh = h / _s.QueriesPerKv, r = V.RankOf(kh);
            var zh = ws.Get(Slot.HeadZ, T * r);         // [T, r] head h's latents, contiguous
            var vh = ws.Get(Slot.HeadVals, T * dh);     // [T, d_h]
            be.CopyBlock(z, zDim, _zOff[h], zh, r, 0, T, r);
            be.MatMul(zh, V.HeadUp(kh), vh, T);
            var bias = V.HeadBias(kh);
            if (!bias.IsEmpty) be.AddBias(vh, bias, T);
            be.CopyBlock(vh, dh, 0, vals, H * dh, h * dh, T, dh);
        }
    }
}
