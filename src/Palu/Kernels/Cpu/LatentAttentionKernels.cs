using System.Numerics.Tensors;
using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>Geometry of one latent attention call (the per-head key norm is passed beside it).</summary>
public sealed record LatentAttentionShape(int Heads, int KvHeads, int HeadDim, RopeTable Rope, float NormEps, int? SlidingWindow)
{
    public int QueriesPerKv => Heads / KvHeads;
}

/// <summary>
/// One KV head's inputs, as host pointers: its group's key latents [positions, KeyRank], the rows of its group's key
/// up-projection that rebuild it (B^K_{g,i} [d_h, KeyRank]), their bias [d_h] (or null), and its group's value latents
/// [positions, ValueRank]. The latent buffers hold at least the positions a call reads.
/// </summary>
public readonly unsafe struct LatentHeadView(float* keyLatents, int keyRank, WeightMatrix keyUp, float* keyBias, float* valueLatents, int valueRank)
{
    public readonly float* KeyLatents = keyLatents;
    public readonly int KeyRank = keyRank;
    public readonly WeightMatrix KeyUp = keyUp;
    public readonly float* KeyBias = keyBias;
    public readonly float* ValueLatents = valueLatents;
    public readonly int ValueRank = valueRank;

    public ReadOnlySpan<float> Keys(int positions) => new(KeyLatents, positions * KeyRank);
    public ReadOnlySpan<float> Values(int positions) => new(ValueLatents, positions * ValueRank);
    public ReadOnlySpan<float> Bias(int dh) => KeyBias == null ? default : new(KeyBias, dh);
}

/// <summary>
/// Causal attention over a Palu latent cache. Keys are rebuilt from the K latents (k_j = B^K_{g,i}·h^K_j + b, optional
/// per-head RMSNorm, RoPE at absolute position j); the softmax weights are applied to the V latents, giving per query
/// head z_h = Σ_j p_j h^V_j (width r^V of its group). Values are never rebuilt per token: v = B^V z + b afterwards is
/// exact because the weights sum to one. z is laid out [T, Σ_h r^V_{g(h)}] with head h at <see cref="ZOffsets"/>[h].
/// </summary>
public static class LatentAttentionKernels
{
    /// <summary>[H + 1]: start of each query head's value latent inside a z row (query head h reads KV head
    /// h / (H / H_kv), whose value rank is <paramref name="valueRanks"/>[kv head]); the last entry is the row width.</summary>
    public static int[] ZOffsets(ReadOnlySpan<int> valueRanks, int heads)
    {
        int perKv = heads / valueRanks.Length;
        var off = new int[heads + 1];
        for (int h = 0; h < heads; h++) off[h + 1] = off[h] + valueRanks[h / perKv];
        return off;
    }

    /// <summary>The specification: every key rebuilt on its own, double accumulators, no threads.
    /// q [T, H, d_h]; heads [H_kv]; kNorm [d_h] or empty; z [T, zOff[H]].</summary>
    public static unsafe void Reference(ReadOnlySpan<float> q, ReadOnlySpan<LatentHeadView> heads, ReadOnlySpan<float> kNorm,
        int T, int startPos, LatentAttentionShape s, ReadOnlySpan<int> zOff, Span<float> z)
    {
        int H = s.Heads, dh = s.HeadDim, half = dh / 2, S = startPos + T;
        float scale = 1f / MathF.Sqrt(dh);
        var key = new double[dh];
        var keyF = new float[dh];
        var scores = new float[S];
        var up = new float[s.KvHeads][];   // per KV head B^K_{g,i} [d_h, r]
        for (int kh = 0; kh < s.KvHeads; kh++) up[kh] = heads[kh].KeyUp.ToFloats();
        for (int t = 0; t < T; t++)
        {
            int p = startPos + t;
            int first = s.SlidingWindow is int w ? Math.Max(0, p - w + 1) : 0;
            for (int h = 0; h < H; h++)
            {
                int kh = h / s.QueriesPerKv;
                var head = heads[kh];
                int rk = head.KeyRank, rv = head.ValueRank;
                var B = up[kh];                    // [d_h, r]
                var bias = head.Bias(dh);
                var lat = head.Keys(S);
                for (int j = first; j <= p; j++)
                {
                    for (int i = 0; i < dh; i++)
                    {
                        double acc = bias.IsEmpty ? 0 : bias[i];
                        for (int k = 0; k < rk; k++) acc += (double)B[i * rk + k] * lat[j * rk + k];
                        key[i] = acc;
                    }
                    for (int i = 0; i < dh; i++) keyF[i] = (float)key[i];
                    if (!kNorm.IsEmpty) ReferenceKernels.RmsNorm(keyF, kNorm, keyF, 1, s.NormEps);
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
                var vl = head.Values(S);
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
    /// <see cref="ZOffsets"/> of the heads' value ranks. Buffers are per-thread scratch.
    /// Threads: for a few query rows (decode) the KV heads are shared out between threads, each running its kernels on
    /// one thread, since one head's kernels are too small to split (a hand-over costs more than it saves); for longer
    /// T the heads go in order and each kernel splits its own work. Every kernel gives the same bits on any number of
    /// threads, so both ways give the same z.
    /// </summary>
    public static unsafe void Fast(ReadOnlySpan<float> q, ReadOnlySpan<LatentHeadView> heads, ReadOnlySpan<float> kNorm,
        int T, int startPos, LatentAttentionShape s, ReadOnlySpan<int> zOff, Span<float> z) =>
        Fast(q, heads, kNorm, T, startPos, s, zOff, z, null);

    /// <summary>Makes KV head kh's view on the thread that attends with it, just before (packed latents: dequantises
    /// positions [first, S) of its groups into that thread's scratch). The views passed beside it give the ranks.</summary>
    public delegate LatentHeadView HeadResolver(int kh, int first, int positions);

    /// <inheritdoc cref="Fast(ReadOnlySpan{float}, ReadOnlySpan{LatentHeadView}, ReadOnlySpan{float}, int, int, LatentAttentionShape, ReadOnlySpan{int}, Span{float})"/>
    public static unsafe void Fast(ReadOnlySpan<float> q, ReadOnlySpan<LatentHeadView> heads, ReadOnlySpan<float> kNorm,
        int T, int startPos, LatentAttentionShape s, ReadOnlySpan<int> zOff, Span<float> z, HeadResolver? resolve)
    {
        int H = s.Heads, Hkv = s.KvHeads, dh = s.HeadDim, S = startPos + T;
        if (zOff.Length != H + 1) throw new ArgumentException($"zOff has {zOff.Length} entries, {H} heads need {H + 1}", nameof(zOff));
        if (heads.Length != Hkv) throw new ArgumentException($"{heads.Length} head views for {Hkv} KV heads", nameof(heads));
        int first = s.SlidingWindow is int w0 ? Math.Max(0, startPos - w0 + 1) : 0;   // earliest key any query needs
        int maxRank = 0;
        foreach (var hv in heads) maxRank = Math.Max(maxRank, hv.KeyRank);
        long work = (long)Hkv * (S - first) * maxRank * dh;                             // key-rebuild multiply-adds
        int chunks = T <= MaxRowsPerHeadChunk ? KernelThreads.Plan(work, MinMacsPerHeadChunk, Hkv) : 1;
        var views = heads.ToArray();
        var offsets = zOff.ToArray();
        fixed (float* pq = q, pz = z, pn = kNorm)
        {
            float* qp = pq, zp = pz, np = pn;   // copies a lambda may capture
            int qLen = q.Length, zLen = z.Length, nLen = kNorm.Length;
            void Heads(int c)
            {
                var qs = new ReadOnlySpan<float>(qp, qLen);
                var zs = new Span<float>(zp, zLen);
                var ns = new ReadOnlySpan<float>(np, nLen);
                for (int kh = KernelThreads.Split(Hkv, chunks, c); kh < KernelThreads.Split(Hkv, chunks, c + 1); kh++)
                    Head(kh, qs, resolve == null ? views[kh] : resolve(kh, first, S), ns, T, startPos, first, s, offsets, zs);
            }
            if (chunks == 1) Heads(0);
            else KernelThreads.For(chunks, Heads);
        }
    }

    /// <summary>Longest T for which KV heads, not kernels, are shared out between threads.</summary>
    const int MaxRowsPerHeadChunk = 4;
    /// <summary>Fewest key-rebuild multiply-adds per chunk of KV heads (~10 µs on one core).</summary>
    const long MinMacsPerHeadChunk = 1 << 19;

    static unsafe void Head(int kh, ReadOnlySpan<float> q, in LatentHeadView head, ReadOnlySpan<float> kNorm,
        int T, int startPos, int first, LatentAttentionShape s, int[] zOff, Span<float> z)
    {
        int H = s.Heads, G = s.QueriesPerKv, dh = s.HeadDim, S = startPos + T, n = S - first, zDim = zOff[H];
        int rk = head.KeyRank, rv = head.ValueRank;
        var keys = new Span<float>(ThreadScratch.Floats(ThreadScratch.Slot.LatentKeys, (long)S * dh), S * dh);      // [S, d_h], rows [first, S) filled
        var qh = new Span<float>(ThreadScratch.Floats(ThreadScratch.Slot.LatentQueries, (long)T * G * dh), T * G * dh);  // [T, G, d_h]
        var zk = new Span<float>(ThreadScratch.Floats(ThreadScratch.Slot.LatentOutputs, (long)T * G * rv), T * G * rv);  // [T, G, r]
        var rows = keys.Slice(first * dh, n * dh);                 // [n, d_h]
        SimdKernels.MatMul(head.Keys(S).Slice(first * rk, n * rk), head.KeyUp, rows, n);
        var bias = head.Bias(dh);
        if (!bias.IsEmpty) SimdKernels.AddBias(rows, bias, n);
        if (!kNorm.IsEmpty) SimdKernels.RmsNorm(rows, kNorm, rows, n, s.NormEps);
        SimdKernels.Rope(rows, n, 1, first, s.Rope);

        for (int t = 0; t < T; t++)
            q.Slice((t * H + kh * G) * dh, G * dh).CopyTo(qh.Slice(t * G * dh, G * dh));
        SimdKernels.Attention(qh, keys, head.Values(S), zk, T, startPos, G, 1, dh, S, s.SlidingWindow, rv);
        for (int t = 0; t < T; t++)
            for (int g = 0; g < G; g++)
                zk.Slice((t * G + g) * rv, rv).CopyTo(z.Slice(t * zDim + zOff[kh * G + g], rv));
    }
}
