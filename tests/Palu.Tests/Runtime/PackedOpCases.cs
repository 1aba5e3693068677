using Palu.Kernels.Cpu;
using Palu.LinearAlgebra;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Tests.Runtime;

/// <summary>Op cases of the packed (quantised) latent ops, which only the CPU backends run for now: quantise then
/// dequantise every bit width and odd widths, and latent attention over packed stores (GQA, windows, decode, prefill).</summary>
public static class PackedOpCases
{
    public static IEnumerable<OpCase> All()
    {
        foreach (int bits in new[] { 2, 3, 4, 8 })
            foreach (var (w, group) in new[] { (7, 0), (64, 0), (130, 0), (192, 32), (96, 16) })
                yield return new("QuantizeStore+Dequantize", $"{bits}-bit [{w}] group {group}", be =>
                {
                    const int T = 9;
                    using var store = new PackedKvStore(be, QuantLayout.Create(w, bits, group), T + 2);
                    be.QuantizeStore(be.Load(OpCases.Rand(T * (w + 3), (ulong)(bits * 100 + w), 2f)), w + 3, 2, store, 1, T);
                    var y = be.Load(new float[T * w]);
                    be.Dequantize(store, 1, T, y);
                    return OpCases.Result(be, y);
                });
        foreach (var (H, Hkv, dh, sk, sv, T, start, window, bits) in new[]
        {
            (4, 4, 32, 1, 1, 1, 9, 0, 4), (8, 2, 64, 2, 1, 1, 700, 0, 2), (6, 2, 64, 1, 2, 5, 40, 0, 3),
            (4, 4, 64, 2, 4, 40, 0, 0, 8), (12, 4, 32, 4, 2, 33, 17, 9, 3),
        })
            yield return new("PackedLatentAttention", $"{bits}-bit H={H}/{Hkv} d_h={dh} groups K {Hkv / sk}, V {Hkv / sv} T={T} start={start}{(window > 0 ? $" window={window}" : "")}", be =>
            {
                int S = start + T, cap = S + 3;
                int[] kr = Enumerable.Range(0, Hkv / sk).Select(g => 5 + 3 * g).ToArray(), vr = Enumerable.Range(0, Hkv / sv).Select(g => 7 + g).ToArray();
                var kStores = kr.Select(r => new PackedKvStore(be, QuantLayout.Create(r, bits, 0), cap)).ToArray();
                var vStores = vr.Select(r => new PackedKvStore(be, QuantLayout.Create(r, bits, 0), cap)).ToArray();
                for (int g = 0; g < kr.Length; g++) be.QuantizeStore(be.Load(OpCases.Rand(S * kr[g], (ulong)(30 + g))), kr[g], 0, kStores[g], 0, S);
                for (int g = 0; g < vr.Length; g++) be.QuantizeStore(be.Load(OpCases.Rand(S * vr[g], (ulong)(40 + g))), vr[g], 0, vStores[g], 0, S);
                var heads = Enumerable.Range(0, Hkv).Select(h => new PackedLatentHead(kStores[h / sk],
                    be.Load(WeightMatrix.FromFloats(OpCases.Rand(dh * kr[h / sk], (ulong)(50 + h), 0.2f), dh, kr[h / sk])), default, vStores[h / sv])).ToArray();
                var zOff = LatentAttentionKernels.ZOffsets(Enumerable.Range(0, Hkv).Select(h => vr[h / sv]).ToArray(), H);
                var z = be.Load(new float[T * zOff[H]]);
                be.PackedLatentAttention(be.Load(OpCases.Rand(T * H * dh, 71)), heads, default, 1e-6f, new RopeTable(dh, 1024, 10000), zOff, z,
                    new AttentionCall(T, start, H, Hkv, dh, window > 0 ? window : null));
                foreach (var st in kStores.Concat(vStores)) st.Dispose();
                return OpCases.Result(be, z);
            });
    }
}
