using System.Numerics.Tensors;
using Palu.Cache;
using Palu.Models;
using Palu.Tensors;

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
        var up = new float[s.KvHeads][];   // per KV head B^K_{g,i} [d_h, r]
        for (int kh = 0; kh < s.KvHeads; kh++) up[kh] = K.HeadUp(kh).ToFloats();
        for (int t = 0; t < T; t++)
        {
            int p = startPos + t;
            int first = s.SlidingWindow is int w ? Math.Max(0, p - w + 1) : 0;
            for (int h = 0; h < H; h++)
            {
                int kh = h / s.QueriesPerKv, gk = kh / K.GroupSize, gv = kh / V.GroupSize;
                int rk = K.Ranks[gk], rv = V.Ranks[gv];
                var B = up[kh];                    // [d_h, r]
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
    /// Fast version. Per KV head: one GEMM rebuilds the keys of all visible cached positions ([n, r] × [r, d_h]), bias,
    /// per-head norm and RoPE are applied row-wise, and the dense attention kernel (GEMM prefill, split-key decode)
    /// attends with the group's value latents as values (value width r instead of d_h). <paramref name="zOff"/> is
    /// <see cref="ZOffsets"/> of V; <paramref name="scratch"/> is reused across calls.
    /// Threads: for a few query rows (decode) the KV heads are shared out between threads, each running its kernels on
    /// one thread, since one head's kernels are too small to split (a hand-over costs more than it saves); for longer
    /// T the heads go in order and each kernel splits its own work. Every kernel gives the same bits on any number of
    /// threads, so both ways give the same z.
    /// </summary>
    public static unsafe void Fast(ReadOnlySpan<float> q, LatentLayerCache cache, LatentProjection K, LatentProjection V,
        int T, int startPos, LatentAttentionShape s, ReadOnlySpan<int> zOff, Span<float> z, LatentScratch scratch)
    {
        int H = s.Heads, Hkv = s.KvHeads, dh = s.HeadDim, S = startPos + T;
        if (zOff.Length != H + 1) throw new ArgumentException($"zOff has {zOff.Length} entries, {H} heads need {H + 1}", nameof(zOff));
        int first = s.SlidingWindow is int w0 ? Math.Max(0, startPos - w0 + 1) : 0;   // earliest key any query needs
        long work = (long)Hkv * (S - first) * K.MaxRank * dh;                           // key-rebuild multiply-adds
        int chunks = T <= MaxRowsPerHeadChunk ? KernelThreads.Plan(work, MinMacsPerHeadChunk, Hkv) : 1;
        var offsets = zOff.ToArray();
        fixed (float* pq = q, pz = z)
        {
            float* qp = pq, zp = pz;   // copies a lambda may capture
            int qLen = q.Length, zLen = z.Length;
            void Heads(int c)
            {
                var bufs = scratch.For(c);
                var qs = new ReadOnlySpan<float>(qp, qLen);
                var zs = new Span<float>(zp, zLen);
                for (int kh = KernelThreads.Split(Hkv, chunks, c); kh < KernelThreads.Split(Hkv, chunks, c + 1); kh++)
                    Head(kh, qs, cache, K, V, T, startPos, first, s, offsets, zs, bufs);
            }
            if (chunks == 1) Heads(0);
            else KernelThreads.For(chunks, Heads);
        }
    }

    /// <summary>Longest T for which KV heads, not kernels, are shared out between threads.</summary>
    const int MaxRowsPerHeadChunk = 4;
    /// <summary>Fewest key-rebuild multiply-adds per chunk of KV heads (~10 µs on one core).</summary>
    const long MinMacsPerHeadChunk = 1 << 19;

    static void Head(int kh, ReadOnlySpan<float> q, LatentLayerCache cache, LatentProjection K, LatentProjection V,
        int T, int startPos, int first, LatentAttentionShape s, int[] zOff, Span<float> z, LatentScratch.Buffers bufs)
    {
        int H = s.Heads, G = s.QueriesPerKv, dh = s.HeadDim, S = startPos + T, n = S - first, zDim = zOff[H];
        int gk = kh / K.GroupSize, rk = K.Ranks[gk], gv = kh / V.GroupSize, rv = V.Ranks[gv];
        var keys = bufs.Keys(S * dh);                              // [S, d_h], rows [first, S) filled
        var qh = bufs.Queries(T * G * dh);                         // [T, G, d_h]
        var zk = bufs.Outputs(T * G * rv);                         // [T, G, r]
        var rows = keys.Slice(first * dh, n * dh);                 // [n, d_h]
        SimdKernels.MatMul(cache.K(gk).Slice(first * rk, n * rk), K.HeadUp(kh), rows, n);
        var bias = K.HeadBias(kh);
        if (!bias.IsEmpty) SimdKernels.AddBias(rows, bias, n);
        if (s.KNorm != null) SimdKernels.RmsNorm(rows, s.KNorm, rows, n, s.NormEps);
        SimdKernels.Rope(rows, n, 1, first, s.Rope);

        for (int t = 0; t < T; t++)
            q.Slice((t * H + kh * G) * dh, G * dh).CopyTo(qh.Slice(t * G * dh, G * dh));
        SimdKernels.Attention(qh, keys, cache.V(gv)[..(S * rv)], zk, T, startPos, G, 1, dh, S, s.SlidingWindow, rv);
        for (int t = 0; t < T; t++)
            for (int g = 0; g < G; g++)
                zk.Slice((t * G + g) * rv, rv).CopyTo(z.Slice(t * zDim + zOff[kh * G + g], rv));
    }
}

/// <summary>Grow-only buffers of <see cref="LatentAttentionKernels.Fast"/>, one set per chunk of KV heads (one call
/// at a time per instance).</summary>
public sealed class LatentScratch
{
    /// <summary>One chunk's buffers.</summary>
    public sealed class Buffers
    {
        float[] _keys = [], _q = [], _z = [];

        public Span<float> Keys(int n) => Scratch.Grow(ref _keys, n);
        public Span<float> Queries(int n) => Scratch.Grow(ref _q, n);
        public Span<float> Outputs(int n) => Scratch.Grow(ref _z, n);
    }

    readonly List<Buffers> _chunks = [];

    /// <summary>The buffers of chunk <paramref name="c"/> (created before a parallel call reads the list).</summary>
    public Buffers For(int c)
    {
        lock (_chunks) { while (_chunks.Count <= c) _chunks.Add(new Buffers()); return _chunks[c]; }
    }
}
