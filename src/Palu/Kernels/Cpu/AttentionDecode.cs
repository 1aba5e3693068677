using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Decode attention (one query row) over a long context, split along the keys ("flash-decoding"): segments of
/// <see cref="DecodeSegmentKeys"/> keys of each KV head are independent work items, so even a model with one or
/// three KV heads keeps every thread busy. A segment keeps its softmax unnormalised: its max m, its sum
/// l = Σ e^(s − m) and o = Σ e^(s − m)·v; the caller then merges the segments of each query exactly:
/// M = max m, out = Σ o·e^(m − M) / Σ l·e^(m − M). Segments depend on the context length only, never on the
/// thread count, so results do not change with it.
/// </summary>
internal static unsafe partial class AttentionKernels
{
    /// <summary>Keys per segment; decode splits when a query sees at least two segments' worth.</summary>
    const int DecodeSegmentKeys = 256;

    static bool SplitsDecode(int T, int keys) => T == 1 && keys >= 2 * DecodeSegmentKeys;

    /// <summary>Query row 0 (position StartPos) of all heads, keys [first, first + len) split into segments.</summary>
    static void Decode(in Args a, int first, int len)
    {
        int groups = a.H / a.Hkv, d = a.D, dv = a.Dv;
        int segments = (len + DecodeSegmentKeys - 1) / DecodeSegmentKeys, items = a.Hkv * segments;
        long partials = (long)items * groups;                                              // one per (KV head, segment, group head)
        float* o = ThreadScratch.Floats(ThreadScratch.Slot.AttentionPartials, partials * (dv + 2));  // [Hkv, S, G, dv]
        float* m = o + partials * dv, l = m + partials;                                   // [Hkv, S, G] each
        var args = a;
        int chunks = KernelThreads.Plan(2L * len * a.H * d, MinMacsPerChunk, items);
        if (chunks == 1) DecodeSegments(args, first, len, segments, o, m, l, 0, items);
        else KernelThreads.For(chunks, c => DecodeSegments(args, first, len, segments, o, m, l,
            KernelThreads.Split(items, chunks, c), KernelThreads.Split(items, chunks, c + 1)));
        Merge(a, segments, o, m, l);
    }

    /// <summary>Items [i0, i1): item i = segment i % S of KV head i / S, for the G heads of that KV head.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void DecodeSegments(in Args a, int first, int len, int segments, float* o, float* m, float* l, int i0, int i1)
    {
        int d = a.D, dv = a.Dv, groups = a.H / a.Hkv;
        float scale = 1f / MathF.Sqrt(d);
        float* scores = ThreadScratch.Floats(ThreadScratch.Slot.Attention, 4L * DecodeSegmentKeys);   // [4, n]
        for (int i = i0; i < i1; i++)
        {
            int kvh = i / segments, seg = i % segments;
            int j0 = first + seg * DecodeSegmentKeys, n = Math.Min(DecodeSegmentKeys, first + len - j0);
            float* k = a.K + ((long)kvh * a.MaxSeq + j0) * d;   // [n, d]
            float* v = a.V + ((long)kvh * a.MaxSeq + j0) * dv;  // [n, dv]
            for (int g0 = 0; g0 < groups; g0 += 4)
            {
                int count = Math.Min(4, groups - g0);
                long part = (long)i * groups + g0;               // partial of head g0 of this item
                var quad = new Quad();
                for (int r = 0; r < 4; r++)
                {
                    int g = g0 + Math.Min(r, count - 1);          // past count: repeat the last head, results not stored
                    Set(ref quad, r, a.Q + ((long)kvh * groups + g) * d, o + (part + Math.Min(r, count - 1)) * dv, 0, n - 1);
                }
                switch (count)
                {
                    case 1: Segment<C1>(quad, k, v, scores, n, d, dv, scale, m + part, l + part); break;
                    case 2: Segment<C2>(quad, k, v, scores, n, d, dv, scale, m + part, l + part); break;
                    case 3: Segment<C3>(quad, k, v, scores, n, d, dv, scale, m + part, l + part); break;
                    default: Segment<C4>(quad, k, v, scores, n, d, dv, scale, m + part, l + part); break;
                }
            }
        }
    }

    /// <summary>Unnormalised attention of G = TG.Value queries over one segment: m[g], l[g] and out_g.</summary>
    static void Segment<TG>(in Quad quad, float* k, float* v, float* s, int n, int d, int dv, float scale, float* m, float* l)
        where TG : struct, IConst
    {
        Scores<TG>(quad, k, s, n, d, scale);
        for (int g = 0; g < TG.Value; g++)
        {
            float* sg = s + g * n;   // [n]
            m[g] = ElementwiseKernels.Max(sg, n);
            l[g] = ElementwiseKernels.ExpShiftSum(sg, n, m[g]);
        }
        Weighted<TG>(quad, s, v, n, dv);
    }

    /// <summary>out[h] = Σ_s o[h, s]·e^(m[h, s] − M) / Σ_s l[h, s]·e^(m[h, s] − M), M = max_s m[h, s].
    /// m is overwritten with the factors e^(m − M).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Merge(in Args a, int segments, float* o, float* m, float* l)
    {
        int d = a.Dv, groups = a.H / a.Hkv;   // output and partial rows are value-wide
        for (int kvh = 0; kvh < a.Hkv; kvh++)
            for (int g = 0; g < groups; g++)
            {
                long p0 = (long)kvh * segments * groups + g;     // partial of segment 0; segment s at p0 + s·groups
                float max = float.NegativeInfinity;
                for (int s = 0; s < segments; s++) max = MathF.Max(max, m[p0 + s * groups]);
                double sum = 0;
                for (int s = 0; s < segments; s++)
                {
                    long p = p0 + s * groups;
                    m[p] = MathF.Exp(m[p] - max);
                    sum += l[p] * m[p];
                }
                float* outRow = a.O + ((long)kvh * groups + g) * d;   // [d]
                new Span<float>(outRow, d).Clear();
                for (int s = 0; s < segments; s++)
                {
                    long p = p0 + s * groups;
                    var w = Vector512.Create((float)(m[p] / sum));
                    float* os = o + p * d;
                    int i = 0;
                    for (; i <= d - 16; i += 16) Vector512.FusedMultiplyAdd(w, Vector512.Load(os + i), Vector512.Load(outRow + i)).Store(outRow + i);
                    for (; i < d; i++) outRow[i] += w.ToScalar() * os[i];
                }
            }
    }
}
