using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Causal GQA attention over a dense cache, as <see cref="ReferenceKernels.Attention"/>. One work item is one query
/// row t of one head h: scores = q·kⱼ/√d over its visible keys (SIMD dot products over d), softmax, then
/// out = Σ scoreⱼ·vⱼ with FMAs. Items run in parallel (query rows × heads, heads of one KV group next to each other
/// so that their K/V rows are still in cache); the scores live in a per-thread scratch buffer.
/// </summary>
internal static unsafe class AttentionKernels
{
    /// <summary>Fewest multiply-adds (q·k plus p·v) in one chunk of work items.</summary>
    const long MinMacsPerChunk = 1 << 15;

    public static void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        Span<float> output, int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window)
    {
        if (H <= 0 || Hkv <= 0 || H % Hkv != 0) throw new ArgumentException($"Attention: H = {H} must be a multiple of Hkv = {Hkv}");
        if (startPos < 0 || startPos + T > maxSeq) throw new ArgumentOutOfRangeException(nameof(startPos), $"positions [{startPos}, {startPos + T}) exceed the cache's {maxSeq}");
        if (window is <= 0) throw new ArgumentOutOfRangeException(nameof(window), "window must be positive");
        long qLen = (long)T * H * d, cacheLen = (long)Hkv * maxSeq * d;
        if (q.Length < qLen || output.Length < qLen || kCache.Length < cacheLen || vCache.Length < cacheLen)
            throw new ArgumentException($"Attention: q/out [{T}, {H}, {d}] or caches [{Hkv}, {maxSeq}, {d}] do not fit the spans");
        if (T == 0) return;

        fixed (float* pq = q, pk = kCache, pv = vCache, po = output)
        {
            var a = new Args(pq, pk, pv, po, startPos, H, Hkv, d, maxSeq, window ?? int.MaxValue);
            int items = T * H;
            long keys = (long)T * (startPos + (T + 1) / 2);   // about the number of visible keys summed over rows
            if (window is int w) keys = Math.Min(keys, (long)T * w);
            int chunks = KernelThreads.Plan(2 * keys * H * d, MinMacsPerChunk, items);
            if (chunks == 1) { Items(a, 0, items); return; }
            KernelThreads.For(chunks, c => Items(a, KernelThreads.Split(items, chunks, c), KernelThreads.Split(items, chunks, c + 1)));
        }
    }

    readonly struct Args(float* q, float* k, float* v, float* o, int startPos, int h, int hkv, int d, int maxSeq, int window)
    {
        public readonly float* Q = q, K = k, V = v, O = o;   // q, o [T, H, d]; k, v [Hkv, maxSeq, d]
        public readonly int StartPos = startPos, H = h, Hkv = hkv, D = d, MaxSeq = maxSeq, Window = window;
    }

    /// <summary>Work items [i0, i1), item i = query row i / H, head i % H.</summary>
    static void Items(in Args a, int i0, int i1)
    {
        int d = a.D, groups = a.H / a.Hkv;
        float scale = 1f / MathF.Sqrt(d);
        float* scores = ThreadScratch.Floats(ThreadScratch.Slot.Attention, a.StartPos + i1 / a.H + 1);   // [keys]
        for (int i = i0; i < i1; i++)
        {
            int t = i / a.H, h = i % a.H, p = a.StartPos + t;
            int first = a.Window == int.MaxValue ? 0 : Math.Max(0, p - a.Window + 1);
            int len = p - first + 1;
            float* qh = a.Q + (long)i * d;                                        // [d]
            float* k = a.K + ((long)(h / groups) * a.MaxSeq + first) * d;         // [len, d]
            float* v = a.V + ((long)(h / groups) * a.MaxSeq + first) * d;         // [len, d]
            for (int j = 0; j < len; j++) scores[j] = Dot(qh, k + (long)j * d, d) * scale;
            ElementwiseKernels.Softmax(new Span<float>(scores, len));
            WeightedSum(scores, v, len, d, a.O + (long)i * d);
        }
    }

    /// <summary>a·b over d floats: 16 lanes, then 8, then scalars.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(float* a, float* b, int d)
    {
        int i = 0;
        float sum = 0;
        if (d >= 16)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i <= d - 32; i += 32)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), acc1);
            }
            if (i <= d - 16) { acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc0); i += 16; }
            sum = Vector512.Sum(acc0 + acc1);
        }
        if (i <= d - 8) { sum += Vector256.Sum(Vector256.Load(a + i) * Vector256.Load(b + i)); i += 8; }
        for (; i < d; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>o [d] = Σⱼ p[j] · v[j, :] for j &lt; len; four rows of v per pass over o.</summary>
    static void WeightedSum(float* p, float* v, int len, int d, float* o)
    {
        new Span<float>(o, d).Clear();
        int j = 0;
        for (; j <= len - 4; j += 4)
        {
            float* v0 = v + (long)j * d, v1 = v0 + d, v2 = v1 + d, v3 = v2 + d;
            var s0 = Vector512.Create(p[j]); var s1 = Vector512.Create(p[j + 1]);
            var s2 = Vector512.Create(p[j + 2]); var s3 = Vector512.Create(p[j + 3]);
            int i = 0;
            for (; i <= d - 16; i += 16)
            {
                var acc = Vector512.Load(o + i);
                acc = Vector512.FusedMultiplyAdd(s0, Vector512.Load(v0 + i), acc);
                acc = Vector512.FusedMultiplyAdd(s1, Vector512.Load(v1 + i), acc);
                acc = Vector512.FusedMultiplyAdd(s2, Vector512.Load(v2 + i), acc);
                acc = Vector512.FusedMultiplyAdd(s3, Vector512.Load(v3 + i), acc);
                acc.Store(o + i);
            }
            if (i <= d - 8)
            {
                var acc = Vector256.Load(o + i);
                acc = Vector256.FusedMultiplyAdd(s0.GetLower(), Vector256.Load(v0 + i), acc);
                acc = Vector256.FusedMultiplyAdd(s1.GetLower(), Vector256.Load(v1 + i), acc);
                acc = Vector256.FusedMultiplyAdd(s2.GetLower(), Vector256.Load(v2 + i), acc);
                acc = Vector256.FusedMultiplyAdd(s3.GetLower(), Vector256.Load(v3 + i), acc);
                acc.Store(o + i);
                i += 8;
            }
            for (; i < d; i++) o[i] += p[j] * v0[i] + p[j + 1] * v1[i] + p[j + 2] * v2[i] + p[j + 3] * v3[i];
        }
        for (; j < len; j++)
        {
            float* vj = v + (long)j * d;
            var s = Vector512.Create(p[j]);
            int i = 0;
            for (; i <= d - 16; i += 16) Vector512.FusedMultiplyAdd(s, Vector512.Load(vj + i), Vector512.Load(o + i)).Store(o + i);
            for (; i < d; i++) o[i] += p[j] * vj[i];
        }
    }
}
