using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Causal GQA attention over a dense cache, as <see cref="ReferenceKernels.Attention"/>. One work item is a block of
/// query rows of one KV head. Its (row, head) queries all read the same K and V rows, so they are processed four
/// at a time and every K and V row is loaded once per four queries: the G = H / Hkv heads of a row (GQA), and for
/// prefill also consecutive rows (their visible key ranges differ by a key at each end: the union is computed and
/// the keys a query may not see get a score of −∞, i.e. weight exactly 0).
/// Per quad: scores = q·kⱼ/√d (SIMD over d), softmax per query, out = Σ scoreⱼ·vⱼ (FMA). Items run in parallel;
/// scores live in a per-thread scratch buffer.
/// Prefill (at least <see cref="PrefillMinQueries"/> queries per KV head) goes through the GEMM instead, one block of
/// up to <see cref="PrefillBlockQueries"/> queries at a time: S = Q·Kᵀ over the block's key range, scale, mask and
/// softmax per row, O = S·V — no horizontal sums, and only the diagonal blocks compute masked scores.
/// Decode over a long context splits the keys into segments instead (AttentionDecode.cs).
/// </summary>
internal static unsafe partial class AttentionKernels
{
    /// <summary>Fewest multiply-adds (q·k plus p·v) in one chunk of work items.</summary>
    const long MinMacsPerChunk = 1 << 18;

    /// <summary>T · H / Hkv from which prefill uses the GEMM path, and the queries per block there.</summary>
    const int PrefillMinQueries = 32, PrefillBlockQueries = 64;

    /// <summary>q [T, H, d], kCache [Hkv, maxSeq, d]; values of width <paramref name="dv"/>: vCache [Hkv, maxSeq, dv],
    /// output [T, H, dv].</summary>
    public static void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        Span<float> output, int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window, int dv)
    {
        CheckArguments(q, kCache, vCache, output, T, startPos, H, Hkv, d, maxSeq, window, dv);
        if (T == 0) return;

        fixed (float* pq = q, pk = kCache, pv = vCache, po = output)
        {
            int groups = H / Hkv;
            bool gemm = T > 1 && T * groups >= PrefillMinQueries;
            int rowsPerItem = gemm ? Math.Max(1, PrefillBlockQueries / groups) : T == 1 ? 1 : Math.Max(1, 4 / groups);
            int items = (T + rowsPerItem - 1) / rowsPerItem * Hkv;
            var a = new Args(pq, pk, pv, po, T, startPos, H, Hkv, d, dv, maxSeq, window ?? int.MaxValue, rowsPerItem);
            long keys = (long)T * (startPos + (T + 1) / 2);   // about the number of visible keys summed over rows
            if (window is int w) keys = Math.Min(keys, (long)T * w);
            int chunks = KernelThreads.Plan(2 * keys * H * d, MinMacsPerChunk, items);
            if (gemm)
            {
                if (chunks == 1) { PrefillItems(a, 0, items); return; }
                KernelThreads.For(chunks, c => PrefillItems(a, KernelThreads.Split(items, chunks, c), KernelThreads.Split(items, chunks, c + 1)));
                return;
            }
            int firstKey = First(a, startPos), visible = startPos - firstKey + 1;
            if (SplitsDecode(T, visible)) { Decode(a, firstKey, visible); return; }
            if (chunks == 1) { Items(a, 0, items); return; }
            KernelThreads.For(chunks, c => Items(a, KernelThreads.Split(items, chunks, c), KernelThreads.Split(items, chunks, c + 1)));
        }
    }

    /// <summary>Throws unless the arguments describe a valid call; shared with <see cref="PortableKernels.Attention"/>.</summary>
    internal static void CheckArguments(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        ReadOnlySpan<float> output, int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window, int dv)
    {
        if (H <= 0 || Hkv <= 0 || H % Hkv != 0) throw new ArgumentException($"Attention: H = {H} must be a multiple of Hkv = {Hkv}");
        if (startPos < 0 || startPos + T > maxSeq) throw new ArgumentOutOfRangeException(nameof(startPos), $"positions [{startPos}, {startPos + T}) exceed the cache's {maxSeq}");
        if (window is <= 0) throw new ArgumentOutOfRangeException(nameof(window), "window must be positive");
        long qLen = (long)T * H * d, oLen = (long)T * H * dv, cacheLen = (long)Hkv * maxSeq * d, vLen = (long)Hkv * maxSeq * dv;
        if (q.Length < qLen || output.Length < oLen || kCache.Length < cacheLen || vCache.Length < vLen)
            throw new ArgumentException($"Attention: q [{T}, {H}, {d}], out [{T}, {H}, {dv}] or caches [{Hkv}, {maxSeq}, {d}|{dv}] do not fit the spans");
    }

    readonly struct Args(float* q, float* k, float* v, float* o, int t, int startPos, int h, int hkv, int d, int dv, int maxSeq, int window, int rowsPerItem)
    {
        public readonly float* Q = q, K = k, V = v, O = o;   // q [T, H, d], o [T, H, dv]; k [Hkv, maxSeq, d], v [Hkv, maxSeq, dv]
        public readonly int T = t, StartPos = startPos, H = h, Hkv = hkv, D = d, Dv = dv, MaxSeq = maxSeq, Window = window, RowsPerItem = rowsPerItem;
    }

    /// <summary>Up to four queries with their outputs and the key range [Lo, Hi] each may see (relative to the first key).</summary>
    struct Quad
    {
        public float* Q0, Q1, Q2, Q3, O0, O1, O2, O3;
        public int Lo0, Lo1, Lo2, Lo3, Hi0, Hi1, Hi2, Hi3;
    }

    /// <summary>Work items [i0, i1): item i = rows [(i / Hkv)·RowsPerItem, +RowsPerItem) of KV head i % Hkv.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Items(in Args a, int i0, int i1)
    {
        int d = a.D, dv = a.Dv, groups = a.H / a.Hkv;
        float scale = 1f / MathF.Sqrt(d);
        float* scores = ThreadScratch.Floats(ThreadScratch.Slot.Attention, 4L * (a.StartPos + a.T));   // [4, keys]
        for (int i = i0; i < i1; i++)
        {
            int t0 = i / a.Hkv * a.RowsPerItem, t1 = Math.Min(a.T, t0 + a.RowsPerItem), kvh = i % a.Hkv;
            // Queries of the item in order (row, head), four at a time.
            int count = (t1 - t0) * groups;
            for (int e0 = 0; e0 < count; e0 += 4)
            {
                int n = Math.Min(4, count - e0);
                int firstKey = int.MaxValue, lastKey = 0;
                for (int e = e0; e < e0 + n; e++)
                {
                    int p = a.StartPos + t0 + e / groups;
                    firstKey = Math.Min(firstKey, First(a, p));
                    lastKey = Math.Max(lastKey, p);
                }
                var quad = new Quad();
                for (int r = 0; r < 4; r++)
                {
                    int e = e0 + Math.Min(r, n - 1);   // past n: repeat the last query, results not stored
                    int t = t0 + e / groups, p = a.StartPos + t;
                    long head = (long)t * a.H + kvh * groups + e % groups;
                    Set(ref quad, r, a.Q + head * d, a.O + head * dv, First(a, p) - firstKey, p - firstKey);
                }
                float* k = a.K + ((long)kvh * a.MaxSeq + firstKey) * d;   // [len, d]
                float* v = a.V + ((long)kvh * a.MaxSeq + firstKey) * dv;  // [len, dv]
                int len = lastKey - firstKey + 1;
                switch (n)
                {
                    case 1: Heads<C1>(quad, k, v, scores, len, d, dv, scale); break;
                    case 2: Heads<C2>(quad, k, v, scores, len, d, dv, scale); break;
                    case 3: Heads<C3>(quad, k, v, scores, len, d, dv, scale); break;
                    default: Heads<C4>(quad, k, v, scores, len, d, dv, scale); break;
                }
            }
        }
    }

    static int First(in Args a, int p) => a.Window == int.MaxValue ? 0 : Math.Max(0, p - a.Window + 1);

    static void Set(ref Quad quad, int r, float* q, float* o, int lo, int hi)
    {
        switch (r)
        {
            case 0: quad.Q0 = q; quad.O0 = o; quad.Lo0 = lo; quad.Hi0 = hi; break;
            case 1: quad.Q1 = q; quad.O1 = o; quad.Lo1 = lo; quad.Hi1 = hi; break;
            case 2: quad.Q2 = q; quad.O2 = o; quad.Lo2 = lo; quad.Hi2 = hi; break;
            default: quad.Q3 = q; quad.O3 = o; quad.Lo3 = lo; quad.Hi3 = hi; break;
        }
    }

    /// <summary>Scores past a query's own key range [lo, hi] of [0, len) become −∞.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Mask(float* s, int len, int lo, int hi)
    {
        for (int j = 0; j < lo; j++) s[j] = float.NegativeInfinity;
        for (int j = hi + 1; j < len; j++) s[j] = float.NegativeInfinity;
    }

    /// <summary>Attention of G = TG.Value (1..4) queries [d] over the same keys k [len, d] and values v [len, dv],
    /// each restricted to its own range of them; s is scratch [G, len].</summary>
    static void Heads<TG>(in Quad quad, float* k, float* v, float* s, int len, int d, int dv, float scale) where TG : struct, IConst
    {
        int G = TG.Value;
        Scores<TG>(quad, k, s, len, d, scale);
        for (int g = 0; g < G; g++)
        {
            float* sg = s + g * len;   // [len]
            Mask(sg, len, g switch { 0 => quad.Lo0, 1 => quad.Lo1, 2 => quad.Lo2, _ => quad.Lo3 },
                g switch { 0 => quad.Hi0, 1 => quad.Hi1, 2 => quad.Hi2, _ => quad.Hi3 });
            ElementwiseKernels.Softmax(new Span<float>(sg, len));
        }
        Weighted<TG>(quad, s, v, len, dv);
    }

    /// <summary>s [G, len] = q_g·k_j · scale: each key row is loaded once and dotted with all G = TG.Value queries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Scores<TG>(in Quad quad, float* k, float* s, int len, int d, float scale) where TG : struct, IConst
    {
        int G = TG.Value;
        float* q0 = quad.Q0, q1 = quad.Q1, q2 = quad.Q2, q3 = quad.Q3;
        float* s0 = s, s1 = s + len, s2 = s + 2 * len, s3 = s + 3 * len;
        for (int j = 0; j < len; j++)
        {
            float* kj = k + (long)j * d;
            var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
            var a2 = Vector512<float>.Zero; var a3 = Vector512<float>.Zero;
            int i = 0;
            for (; i <= d - 16; i += 16)
            {
                var kv = Vector512.Load(kj + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(q0 + i), kv, a0);
                if (G > 1) a1 = Vector512.FusedMultiplyAdd(Vector512.Load(q1 + i), kv, a1);
                if (G > 2) a2 = Vector512.FusedMultiplyAdd(Vector512.Load(q2 + i), kv, a2);
                if (G > 3) a3 = Vector512.FusedMultiplyAdd(Vector512.Load(q3 + i), kv, a3);
            }
            float d0 = SimdMath.Sum(a0), d1 = G > 1 ? SimdMath.Sum(a1) : 0, d2 = G > 2 ? SimdMath.Sum(a2) : 0, d3 = G > 3 ? SimdMath.Sum(a3) : 0;
            if (i <= d - 8)
            {
                var kv = Vector256.Load(kj + i);
                d0 += SimdMath.Sum(Vector256.Load(q0 + i) * kv);
                if (G > 1) d1 += SimdMath.Sum(Vector256.Load(q1 + i) * kv);
                if (G > 2) d2 += SimdMath.Sum(Vector256.Load(q2 + i) * kv);
                if (G > 3) d3 += SimdMath.Sum(Vector256.Load(q3 + i) * kv);
                i += 8;
            }
            for (; i < d; i++)
            {
                float kv = kj[i];
                d0 += q0[i] * kv; d1 += q1[i] * kv; d2 += q2[i] * kv; d3 += q3[i] * kv;
            }
            s0[j] = d0 * scale;
            if (G > 1) s1[j] = d1 * scale;
            if (G > 2) s2[j] = d2 * scale;
            if (G > 3) s3[j] = d3 * scale;
        }
    }

    /// <summary>out_g [d] = Σⱼ s[g, j] · v[j] for the G = TG.Value outputs of <paramref name="quad"/>; v [len, d].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Weighted<TG>(in Quad quad, float* s, float* v, int len, int d) where TG : struct, IConst
    {
        int G = TG.Value;
        float* s0 = s, s1 = s + len, s2 = s + 2 * len, s3 = s + 3 * len;

        // out[g] = Σⱼ s[g, j] · v[j]: each 16 columns of the G outputs stay in registers over all keys,
        // two keys per step, so every V row is read once per 16 columns for all heads.
        float* o0 = quad.O0, o1 = quad.O1, o2 = quad.O2, o3 = quad.O3;
        int c = 0;
        for (; c <= d - 16; c += 16)
        {
            var r0 = Vector512<float>.Zero; var r1 = Vector512<float>.Zero;
            var r2 = Vector512<float>.Zero; var r3 = Vector512<float>.Zero;
            float* vc = v + c;
            int j = 0;
            for (; j <= len - 2; j += 2)
            {
                var va = Vector512.Load(vc + (long)j * d);
                var vb = Vector512.Load(vc + (long)(j + 1) * d);
                r0 = Vector512.FusedMultiplyAdd(Vector512.Create(s0[j + 1]), vb, Vector512.FusedMultiplyAdd(Vector512.Create(s0[j]), va, r0));
                if (G > 1) r1 = Vector512.FusedMultiplyAdd(Vector512.Create(s1[j + 1]), vb, Vector512.FusedMultiplyAdd(Vector512.Create(s1[j]), va, r1));
                if (G > 2) r2 = Vector512.FusedMultiplyAdd(Vector512.Create(s2[j + 1]), vb, Vector512.FusedMultiplyAdd(Vector512.Create(s2[j]), va, r2));
                if (G > 3) r3 = Vector512.FusedMultiplyAdd(Vector512.Create(s3[j + 1]), vb, Vector512.FusedMultiplyAdd(Vector512.Create(s3[j]), va, r3));
            }
            if (j < len)
            {
                var va = Vector512.Load(vc + (long)j * d);
                r0 = Vector512.FusedMultiplyAdd(Vector512.Create(s0[j]), va, r0);
                if (G > 1) r1 = Vector512.FusedMultiplyAdd(Vector512.Create(s1[j]), va, r1);
                if (G > 2) r2 = Vector512.FusedMultiplyAdd(Vector512.Create(s2[j]), va, r2);
                if (G > 3) r3 = Vector512.FusedMultiplyAdd(Vector512.Create(s3[j]), va, r3);
            }
            r0.Store(o0 + c);
            if (G > 1) r1.Store(o1 + c);
            if (G > 2) r2.Store(o2 + c);
            if (G > 3) r3.Store(o3 + c);
        }
        if (c <= d - 8)
        {
            var r0 = Vector256<float>.Zero; var r1 = Vector256<float>.Zero;
            var r2 = Vector256<float>.Zero; var r3 = Vector256<float>.Zero;
            for (int j = 0; j < len; j++)
            {
                var va = Vector256.Load(v + (long)j * d + c);
                r0 = Vector256.FusedMultiplyAdd(Vector256.Create(s0[j]), va, r0);
                if (G > 1) r1 = Vector256.FusedMultiplyAdd(Vector256.Create(s1[j]), va, r1);
                if (G > 2) r2 = Vector256.FusedMultiplyAdd(Vector256.Create(s2[j]), va, r2);
                if (G > 3) r3 = Vector256.FusedMultiplyAdd(Vector256.Create(s3[j]), va, r3);
            }
            r0.Store(o0 + c);
            if (G > 1) r1.Store(o1 + c);
            if (G > 2) r2.Store(o2 + c);
            if (G > 3) r3.Store(o3 + c);
            c += 8;
        }
        for (; c < d; c++)
        {
            float r0 = 0, r1 = 0, r2 = 0, r3 = 0;
            for (int j = 0; j < len; j++)
            {
                float vj = v[(long)j * d + c];
                r0 += s0[j] * vj; r1 += s1[j] * vj; r2 += s2[j] * vj; r3 += s3[j] * vj;
            }
            o0[c] = r0;
            if (G > 1) o1[c] = r1;
            if (G > 2) o2[c] = r2;
            if (G > 3) o3[c] = r3;
        }
    }
}

/// <summary>A compile-time integer for generic specialisation.</summary>
internal interface IConst { static abstract int Value { get; } }
internal struct C1 : IConst { public static int Value => 1; }
internal struct C2 : IConst { public static int Value => 2; }
internal struct C3 : IConst { public static int Value => 3; }
internal struct C4 : IConst { public static int Value => 4; }
