using Palu.Cache;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>
/// Palu attention: the cache holds per-group latents h^K = A_K·x, h^V = A_V·x instead of keys and values.
/// Keys are rebuilt from latents with RoPE at their absolute positions; attention weights are applied to the value
/// latents (z_h), and values come back either by reconstruction (o_proj(B^V z + b)) or through the fused output
/// projection W̃_O = W_O·B^V (<see cref="FuseValues"/>), which never forms a value vector.
/// </summary>
public sealed class LatentAttention : KvAttention
{
    public LatentProjection K { get; }
    public LatentProjection V { get; }
    public DenseLinear O { get; }
    public bool FuseValues { get; }
    readonly LatentAttentionShape _s;
    readonly int[] _zOff;
    readonly DenseLinear? _fusedO;    // W̃_O [d, Σ_h r^V_{g(h)}] with bias W_O·b^V + b_O

    float[] _hk = [], _hv = [], _z = [], _vals = [], _zHead = [], _valHead = [];   // scratch
    readonly LatentScratch _scratch = new();

    public LatentAttention(LatentProjection k, LatentProjection v, DenseLinear o, float[]? kNorm, AttentionShape shape, bool fuseValues)
    {
        if (k.KvHeads != shape.KvHeads || v.KvHeads != shape.KvHeads)
            throw new ArgumentException($"latent projections cover {k.KvHeads}/{v.KvHeads} KV heads, the model has {shape.KvHeads}");
        K = k; V = v; O = o; FuseValues = fuseValues;
        _s = new LatentAttentionShape(shape.Heads, shape.KvHeads, shape.HeadDim, shape.Rope, kNorm, shape.NormEps, shape.SlidingWindow);
        _zOff = LatentAttentionKernels.ZOffsets(v, shape.Heads, shape.KvHeads);
        if (fuseValues) _fusedO = BuildFusedOutput();
    }

    public LatentAttentionShape Shape => _s;
    public override long WeightBytes => K.WeightBytes + V.WeightBytes + (_fusedO ?? O).WeightBytes;

    public override LayerCache CreateCache(int capacity) => new LatentLayerCache(K.Ranks, V.Ranks, capacity);

    public override void Forward(ReadOnlySpan<float> xn, ReadOnlySpan<float> q, int T, int startPos, LayerCache cache,
        Span<float> output, int layer, IActivationObserver? observer)
    {
        var c = (LatentLayerCache)cache;
        int H = _s.Heads, dh = _s.HeadDim, S = startPos + T, zDim = _zOff[H];
        var hk = Scratch.Grow(ref _hk, T * K.TotalRank);   // [T, Σr^K]
        var hv = Scratch.Grow(ref _hv, T * V.TotalRank);   // [T, Σr^V]
        var z = Scratch.Grow(ref _z, T * zDim);            // [T, Σ_h r^V_{g(h)}]

        K.Down.Forward(xn, hk, T);
        V.Down.Forward(xn, hv, T);
        c.Write(hk, hv, startPos, T);
        LatentAttentionKernels.Fast(q, c, K, V, T, startPos, _s, _zOff, z, _scratch);

        if (_fusedO != null)
        {
            _fusedO.Forward(z, output, T);
            return;
        }
        var vals = Scratch.Grow(ref _vals, T * H * dh);    // [T, H·d_h]
        ReconstructValues(z, vals, T);
        observer?.OnLinearInput(layer, LinearInput.AttentionOutput, vals, T);
        O.Forward(vals, output, T);
    }

    /// <summary>vals[t, h] = B^V_{g,i}·z[t, h] + b^V_{g,i}, one GEMM per head. z [T, Σ r], vals [T, H·d_h].</summary>
    public void ReconstructValues(ReadOnlySpan<float> z, Span<float> vals, int T)
    {
        int H = _s.Heads, dh = _s.HeadDim, zDim = _zOff[H];
        var zBuf = Scratch.Grow(ref _zHead, T * V.MaxRank);   // [T, r] for the widest head
        var vh = Scratch.Grow(ref _valHead, T * dh);               // [T, d_h]
        for (int h = 0; h < H; h++)
        {
            int kh = h / _s.QueriesPerKv;
            var B = V.HeadUp(kh);                  // [d_h, r]
            int r = B.Cols;
            var zh = zBuf[..(T * r)];              // [T, r] head h's latents, contiguous
            for (int t = 0; t < T; t++) z.Slice(t * zDim + _zOff[h], r).CopyTo(zh.Slice(t * r, r));
            SimdKernels.MatMul(zh, B, vh, T);
            var bias = V.HeadBias(kh);
            if (!bias.IsEmpty) SimdKernels.AddBias(vh, bias, T);
            for (int t = 0; t < T; t++) vh.Slice(t * dh, dh).CopyTo(vals.Slice((t * H + h) * dh, dh));
        }
    }

    DenseLinear BuildFusedOutput()
    {
        int H = _s.Heads, G = _s.QueriesPerKv, dh = _s.HeadDim, d = O.Out, zDim = _zOff[H];
        var wo = O.Weight.ToFloats();              // [d, H·d_h]
        var fused = new float[d * zDim];           // [d, Σ r]
        var bias = new float[d];
        for (int kh = 0; kh < _s.KvHeads; kh++)
        {
            var up = V.HeadUp(kh);
            var B = up.ToFloats();                 // [d_h, r]
            int r = up.Cols;
            var vb = V.HeadBias(kh);
            for (int h = kh * G; h < (kh + 1) * G; h++)   // heads in order: bias sums as before
                for (int o = 0; o < d; o++)
                {
                    var wrow = wo.AsSpan(o * H * dh + h * dh, dh);
                    var frow = fused.AsSpan(o * zDim + _zOff[h], r);
                    for (int i = 0; i < dh; i++)
                    {
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(B.AsSpan(i * r, r), wrow[i], frow, frow);
                        if (!vb.IsEmpty) bias[o] += wrow[i] * vb[i];
                    }
                }
        }
        if (O.Bias != null) for (int o = 0; o < d; o++) bias[o] += O.Bias[o];
        bool anyBias = O.Bias != null || !V.HeadBias(0).IsEmpty;
        return new DenseLinear(WeightMatrix.FromFloats(fused, d, zDim), anyBias ? bias : null);
    }
}
