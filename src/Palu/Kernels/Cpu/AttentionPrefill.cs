using System.Runtime.CompilerServices;

namespace Palu.Kernels.Cpu;

/// <summary>Prefill attention through the GEMM: see the class summary in AttentionKernels.cs.</summary>
internal static unsafe partial class AttentionKernels
{
    /// <summary>
    /// Prefill items [i0, i1): item i = rows [(i / Hkv)·RowsPerItem, +RowsPerItem) of KV head i % Hkv, all G heads:
    /// R = rows·G queries gathered into Q [R, d]; S [R, L] = Q·Kᵀ over keys [first of the first row, last row];
    /// per query: scale its visible keys, softmax them, zero the rest; O [R, d] = S·V; scatter O to the output.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PrefillItems(in Args a, int i0, int i1)
    {
        int d = a.D, dv = a.Dv, groups = a.H / a.Hkv, maxR = a.RowsPerItem * groups, maxKeys = a.StartPos + a.T;
        float scale = 1f / MathF.Sqrt(d);
        float* qb = ThreadScratch.Floats(ThreadScratch.Slot.Attention, (long)maxR * (d + dv) + (long)maxR * maxKeys);   // [R, d]
        float* ob = qb + (long)maxR * d;                                                                                 // [R, dv]
        float* sb = ob + (long)maxR * dv;                                                                                // [R, L]
        for (int i = i0; i < i1; i++)
        {
            int t0 = i / a.Hkv * a.RowsPerItem, t1 = Math.Min(a.T, t0 + a.RowsPerItem), kvh = i % a.Hkv;
            int R = (t1 - t0) * groups, gd = groups * d;
            for (int t = t0; t < t1; t++)
                new ReadOnlySpan<float>(a.Q + ((long)t * a.H + kvh * groups) * d, gd).CopyTo(new Span<float>(qb + (long)(t - t0) * gd, gd));
            int firstKey = First(a, a.StartPos + t0), lastKey = a.StartPos + t1 - 1, L = lastKey - firstKey + 1;
            float* k = a.K + ((long)kvh * a.MaxSeq + firstKey) * d;   // [L, d]
            float* v = a.V + ((long)kvh * a.MaxSeq + firstKey) * dv;  // [L, dv]

            GemmKernels.GemmSingle<RowPacker<F32Loader>>(qb, d, (byte*)k, (long)d * sizeof(float), sb, L, R, d, L);
            for (int r = 0; r < R; r++)
            {
                int p = a.StartPos + t0 + r / groups, lo = First(a, p) - firstKey, hi = p - firstKey;
                float* row = sb + (long)r * L;   // [L]
                ElementwiseKernels.Scale(row + lo, hi - lo + 1, scale);
                ElementwiseKernels.Softmax(new Span<float>(row + lo, hi - lo + 1));
                new Span<float>(row, lo).Clear();
                new Span<float>(row + hi + 1, L - hi - 1).Clear();
            }
            GemmKernels.GemmSingle<RowMajorPacker<F32Loader>>(sb, L, (byte*)v, (long)dv * sizeof(float), ob, dv, R, L, dv);
            int gdv = groups * dv;
            for (int t = t0; t < t1; t++)
                new ReadOnlySpan<float>(ob + (long)(t - t0) * gdv, gdv).CopyTo(new Span<float>(a.O + ((long)t * a.H + kvh * groups) * dv, gdv));
        }
    }
}
