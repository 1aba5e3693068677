using System.Numerics.Tensors;
using Palu.Cache;
using Palu.Models;

namespace Palu.Kernels.Cpu;

/// <summary>Geometry of one latent attention call.</summary>
public sealed record LatentAttentionShape(int Heads, int KvHeads, int HeadDim, RopeTable Rope, float[]? KNorm, float NormEps, int? SlidingWindow)
{
    public int QueriesPerKv => Heads / KvHeads;
}

/// <summary>
/// Causal attention over a Palu latent cache. Keys are rebuilt from the K latents (k_j = B^K_{g,i}·h^K_j + b, optional
/// per-head RMSNorm, RoPE at absolute position j); the softmax weights are applied to the V latents, giving per query
/// head z_h = Σ_j p_j h^V_j (width r^V of its group). Values are never rebuilt per token: v = B^V z + b afterwards is
/// exact because the weights sum to one. z is laid out [T, Σ_h r^V_{g(h)}] with head h at <see cref="ZOffsets"/>[h].
/// </summary>
public static class LatentAttentionKernels
{
    /// <summary>[H + 1]: start of each query head's value latent inside a z row; the last entry is the row width.</summary>
    public static int[] ZOffsets(LatentProjection v, int heads, int kvHeads)
    {
        var off = new int[heads + 1];
        for (int h = 0; h < heads; h++) off[h + 1] = off[h] + v.Ranks[h / (heads / kvHeads) / v.GroupSize];
        return off;
    }

    /// <summary>The specification: every key rebuilt on its own, double accumulators, no threads.</summary>
    public static void Reference(ReadOnlySpan<float> q, LatentLayerCache cache, LatentProjection K, LatentProjection V,
        int T, int startPos, LatentAttentionShape s, Span<float> z)
    {
        int H = s.Heads, dh = s.HeadDim, half = dh / 2;
        var zOff = ZOffsets(V, H, s.KvHeads);
        float scale = 1f / MathF.Sqrt(dh);
        var key = new double[dh];
        var keyF = new float[dh];
        var scores = new float[startPos + T];
        for (int t = 0; t < T; t++)
        {
            int p = startPos + t;
            int first = s.SlidingWindow is int w ? Math.Max(0, p - w + 1) : 0;
            for (int h = 0; h < H; h++)
            {
                int kh = h / s.QueriesPerKv, gk = kh / K.GroupSize, gv = kh / V.GroupSize;
                int rk = K.Ranks[gk], rv = V.Ranks[gv];
                var B = K.HeadUp(kh).ToFloats();   // [d_h, r]
                var bias = K.HeadBias(kh);
                var lat = cache.K(gk);
                for (int j = first; j <= p; j++)
                {
                    for (int i = 0; i < dh; i++)
                    {
                        double acc = bias.IsEmpty ? 0 : bias[i];
                        for (int k = 0; k < rk; k++) acc += (double)B[i * rk + k] * lat[j * rk + k];
                        key[i] = acc;
                    }
                    for (int i = 0; i < dh; i++) keyF[i] = (float)key[i];
                    if (s.KNorm != null) ReferenceKernels.RmsNorm(keyF, s.KNorm, keyF, 1, s.NormEps);
                    double dot = 0;
                    var qh = q.Slice((t * H + h) * dh, dh);
                    for (int i = 0; i < half; i++)
                    {
                        float c = s.Rope.Cos[j * half + i], sn = s.Rope.Sin[j * half + i];
                        float k0 = keyF[i], k1 = keyF[i + half];
                        dot += qh[i] * (k0 * c - k1 * sn) + qh[i + half] * (k1 * c + k0 * sn);
                    }
                    scores[j - first] = (float)dot * scale;
                }
                int n = p - first + 1;
                ReferenceKernels.Softmax(scores.AsSpan(0, n));
                var vl = cache.V(gv);
                var zh = z.Slice(t * zOff[H] + zOff[h], rv);
                for (int k = 0; k < rv; k++)
                {
                    double acc = 0;
                    for (int j = first; j <= p; j++) acc += scores[j - first] * vl[j * rv + k];
                    zh[k] = (float)acc;
                }
            }
        }
    }

    /// <summary>
    /// Fast version: keys of all cached positions rebuilt per KV head with one GEMM ([S, r] × [r, d_h]), bias, norm and
    /// RoPE applied row-wise, then scores, softmax and latent-value accumulation in parallel over (query, head).
    /// <paramref name="keys"/> is scratch of at least KvHeads·S·d_h floats.
    /// </summary>
    public static void Fast(ReadOnlySpan<float> q, LatentLayerCache cache, LatentProjection K, LatentProjection V,
        int T, int startPos, LatentAttentionShape s, Span<float> z, float[] keys)
    {
        int H = s.Heads, Hkv = s.KvHeads, dh = s.HeadDim, S = startPos + T;
        int first0 = s.SlidingWindow is int w0 ? Math.Max(0, startPos - w0 + 1) : 0;   // earliest key any query needs
        int n0 = S - first0;
        for (int kh = 0; kh < Hkv; kh++)
        {
            int gk = kh / K.GroupSize, rk = K.Ranks[gk];
            var kk = keys.AsSpan(kh * S * dh, S * dh);           // [S, d_h] (rows [first0, S) filled)
            var rows = kk.Slice(first0 * dh, n0 * dh);
            SimdKernels.MatMul(cache.K(gk).Slice(first0 * rk, n0 * rk), K.HeadUp(kh), rows, n0);
            var bias = K.HeadBias(kh);
            if (!bias.IsEmpty) SimdKernels.AddBias(rows, bias, n0);
            if (s.KNorm != null) SimdKernels.RmsNorm(rows, s.KNorm, rows, n0, s.NormEps);
            SimdKernels.Rope(rows, n0, 1, first0, s.Rope);
        }

        var zOff = ZOffsets(V, H, Hkv);
        float scale = 1f / MathF.Sqrt(dh);
        var qa = q.ToArray();
        var za = new float[T * zOff[H]];
        Parallel.For(0, T * H, new ParallelOptions { MaxDegreeOfParallelism = Parallelism.Threads },
            () => new float[S],
            (item, _, scores) =>
            {
                int t = item / H, h = item % H, p = startPos + t;
                int first = s.SlidingWindow is int w ? Math.Max(0, p - w + 1) : 0;
                int kh = h / s.QueriesPerKv, gv = kh / V.GroupSize, rv = V.Ranks[gv];
                var qh = qa.AsSpan((t * H + h) * dh, dh);
                int n = p - first + 1;
                var sc = scores.AsSpan(0, n);
                var kk = keys.AsSpan(kh * S * dh, S * dh);
                for (int j = first; j <= p; j++) sc[j - first] = TensorPrimitives.Dot(qh, kk.Slice(j * dh, dh)) * scale;
                SimdKernels.Softmax(sc);
                var vl = cache.V(gv);
                var zh = za.AsSpan(t * zOff[H] + zOff[h], rv);
                zh.Clear();
                for (int j = first; j <= p; j++) TensorPrimitives.MultiplyAdd(vl.Slice(j * rv, rv), sc[j - first], zh, zh);
                return scores;
            },
            _ => { });
        za.CopyTo(z);
    }
}
