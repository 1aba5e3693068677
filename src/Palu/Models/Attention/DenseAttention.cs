using Palu.Cache;
using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// Standard attention: k = RoPE(norm?(xn·W_Kᵀ + b_K)), v = xn·W_Vᵀ + b_V appended to an <see cref="IDenseKvCache"/>,
/// causal GQA softmax attention, then o_proj.
/// </summary>
public sealed class DenseAttention(Linear k, Linear v, Linear o, Buf kNorm, AttentionShape shape) : KvAttention
{
    public Linear K { get; } = k;        // [Hkv·d_h, d]
    public Linear V { get; } = v;        // [Hkv·d_h, d]
    public Linear O { get; } = o;        // [d, H·d_h]
    public Buf KNorm { get; } = kNorm;   // [d_h] (Qwen3) or empty
    readonly AttentionShape _s = shape;

    public override Linear? Projection(LinearKind kind) => kind switch { LinearKind.K => K, LinearKind.V => V, LinearKind.O => O, _ => null };
    public override long WeightBytes => K.WeightBytes + V.WeightBytes + O.WeightBytes;
    public override long Parameters => K.Parameters + V.Parameters + O.Parameters;

    public override LayerCache CreateCache(Backend be, int capacity, CacheOptions options) => options.Kivi is { } kivi
        ? new KiviLayerCache(be, kivi, _s.KvHeads, _s.HeadDim, capacity)
        : new DenseLayerCache(be, options.KvDType, _s.KvHeads, _s.HeadDim, capacity);

    public override void Forward(Backend be, Buf xn, Buf q, StepRows[] steps, Buf output, int layer, Workspace ws, IActivationObserver? observer)
    {
        int N = steps[^1].Row + steps[^1].T, kvDim = _s.KvHeads * _s.HeadDim, qDim = _s.Heads * _s.HeadDim;
        var k = ws.Get(Slot.K, N * kvDim);         // [N, Hkv·d_h]
        var v = ws.Get(Slot.V, N * kvDim);         // [N, Hkv·d_h]
        var attn = ws.Get(Slot.Attn, N * qDim);    // [N, H·d_h]

        K.Forward(be, xn, k, N, ws);
        V.Forward(be, xn, v, N, ws);
        if (!KNorm.IsEmpty) be.RmsNorm(k, KNorm, k, N * _s.KvHeads, _s.NormEps);
        foreach (var s in steps)
        {
            var ks = k.Slice(s.Row * kvDim, s.T * kvDim);
            be.Rope(ks, s.T, _s.KvHeads, s.StartPos, _s.Rope);
            CacheOf<IDenseKvCache>(s).Append(be, ks, v.Slice(s.Row * kvDim, s.T * kvDim), s.StartPos, s.T);
        }
        be.ForEach(steps.Length, i =>
        {
            var s = steps[i];
            CacheOf<IDenseKvCache>(s).Attend(be, q.Slice(s.Row * qDim, s.T * qDim), attn.Slice(s.Row * qDim, s.T * qDim), _s.Call(s));
        });
        if (observer != null) observer.OnLinearInput(layer, LinearInput.AttentionOutput, ws.Peek(attn), N);
        O.Forward(be, attn, output, N, ws);
    }
}
