using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Palu.Kernels.Cpu;

namespace Palu.Training;

/// <summary>
/// Causal GQA attention for training, forward and backward, on the packed GEMM. Same math as
/// <see cref="ReferenceOps{F}.Attention"/>: the attention weights are never stored; the forward keeps only the
/// log-sum-exp of each query's scaled scores, and the backward recomputes P = exp(q·kᵀ/√dh − lse) block by block.
/// Queries are processed in blocks of <see cref="BlockRows"/> rows against the keys they can see [lo, t1).
/// Layouts: q, o, dq, do [T, H, dh]; k, v, dk, dv [T, Hkv, dh]; lse [H, T].
/// </summary>
internal static unsafe class TrainingAttention
{
    public const int BlockRows = 128;
    const long MinMacsPerChunk = 1 << 20;

    readonly struct Args(float* q, float* k, float* v, float* o, float* lse, float* dO, float* dq, float* dk, float* dv,
        float* delta, int t, int h, int hkv, int dh, int window)
    {
        public readonly float* Q = q, K = k, V = v, O = o, Lse = lse, DO = dO, DQ = dq, DK = dk, DV = dv, Delta = delta;
        public readonly int T = t, H = h, Hkv = hkv, Dh = dh, Window = window;
        public int QDim => H * Dh;
        public int KvDim => Hkv * Dh;
        public int Blocks => (T + BlockRows - 1) / BlockRows;
        public int First(int t) => Math.Max(0, t - Window + 1);
    }

    /// <summary>o = softmax(q·kᵀ/√dh)·v over visible keys, and lse [H, T].</summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse,
        int T, int H, int Hkv, int dh, int? window)
    {
        Check(q, k, v, o, T, H, Hkv, dh);
        fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse)
        {
            var a = new Args(pq, pk, pv, po, pl, null, null, null, null, null, T, H, Hkv, dh, window ?? int.MaxValue);
            int items = Hkv * a.Blocks;
            int chunks = KernelThreads.Plan((long)T * T / 2 * H * dh * 2, MinMacsPerChunk, items);
            KernelThreads.For(chunks, c =>
            {
                for (int i = KernelThreads.Split(items, chunks, c); i < KernelThreads.Split(items, chunks, c + 1); i++)
                    ForwardItem(a, i % Hkv, i / Hkv);
            });
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void ForwardItem(in Args a, int j, int block)
    {
        int t0 = block * BlockRows, t1 = Math.Min(a.T, t0 + BlockRows), rows = t1 - t0;
        int lo = a.First(t0), nk = t1 - lo, G = a.H / a.Hkv;
        float scale = 1f / MathF.Sqrt(a.Dh);
        float* s = ThreadScratch.Floats(ThreadScratch.Slot.Attention, (long)BlockRows * a.T);   // [rows, nk]
        float* kj = a.K + (long)lo * a.KvDim + j * a.Dh, vj = a.V + (long)lo * a.KvDim + j * a.Dh;   // [nk, dh] stride KvDim
        for (int h = j * G; h < (j + 1) * G; h++)
        {
            float* qh = a.Q + (long)t0 * a.QDim + h * a.Dh;                                       // [rows, dh] stride QDim
            TrainingGemm.MulTransposed(qh, a.QDim, kj, a.KvDim, s, nk, rows, a.Dh, nk);
            for (int r = 0; r < rows; r++)
            {
                int t = t0 + r, first = a.First(t) - lo, last = t - lo;
                float* row = s + (long)r * nk;
                a.Lse[(long)h * a.T + t] = SoftmaxRange(row, first, last, nk, scale);
            }
            TrainingGemm.MulRowMajor(s, nk, vj, a.KvDim, a.O + (long)t0 * a.QDim + h * a.Dh, a.QDim, rows, nk, a.Dh);
        }
    }

    /// <summary>
    /// row [n] ← softmax(row·scale) over [first, last], 0 elsewhere; returns the log-sum-exp of the scaled scores.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float SoftmaxRange(float* row, int first, int last, int n, float scale)
    {
        float max = float.NegativeInfinity;
        for (int i = first; i <= last; i++) max = MathF.Max(max, row[i] * scale);
        var vs = Vector512.Create(scale); var vm = Vector512.Create(max);
        var vsum = Vector512<float>.Zero;
        int c = first;
        for (; c <= last - 15; c += 16)
        {
            var e = SimdMath.Exp(Vector512.Load(row + c) * vs - vm);
            e.Store(row + c);
            vsum += e;
        }
        float sum = Vector512.Sum(vsum);
        for (; c <= last; c++) { row[c] = MathF.Exp(row[c] * scale - max); sum += row[c]; }
        float inv = 1f / sum;
        for (c = first; c <= last; c++) row[c] *= inv;
        new Span<float>(row, first).Clear();
        new Span<float>(row + last + 1, n - last - 1).Clear();
        return max + MathF.Log(sum);
    }

    /// <summary>
    /// dq (=), dk (=), dv (=) from do, given the forward's q, k, v, o and lse. The work is split by KV head, so each
    /// thread owns its heads' dk/dv rows.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> o,
        ReadOnlySpan<float> lse, ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv, Span<float> delta,
        int T, int H, int Hkv, int dh, int? window)
    {
        Check(q, k, v, o, T, H, Hkv, dh);
        if (dO.Length < (long)T * H * dh || dq.Length < (long)T * H * dh || dk.Length < (long)T * Hkv * dh
            || dv.Length < (long)T * Hkv * dh || delta.Length < (long)T * H)
            throw new ArgumentException("TrainingAttention.Backward: gradient spans too short");
        dk[..(T * Hkv * dh)].Clear();
        dv[..(T * Hkv * dh)].Clear();
        fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse, pdo = dO, pdq = dq, pdk = dk, pdv = dv, pd = delta)
        {
            var a = new Args(pq, pk, pv, po, pl, pdo, pdq, pdk, pdv, pd, T, H, Hkv, dh, window ?? int.MaxValue);
            // delta [H, T] = rowsum(do ⊙ o) per query
            for (int t = 0; t < T; t++)
                for (int h = 0; h < H; h++)
                {
                    float* x = pdo + ((long)t * H + h) * dh, y = po + ((long)t * H + h) * dh;
                    float acc = 0;
                    for (int i = 0; i < dh; i++) acc += x[i] * y[i];
                    pd[(long)h * T + t] = acc;
                }
            int chunks = KernelThreads.Plan((long)T * T * H * dh * 2, MinMacsPerChunk, Hkv);
            KernelThreads.For(chunks, c =>
            {
                for (int j = KernelThreads.Split(Hkv, chunks, c); j < KernelThreads.Split(Hkv, chunks, c + 1); j++)
                    for (int h = j * (H / Hkv); h < (j + 1) * (H / Hkv); h++)
                        for (int b = 0; b < a.Blocks; b++) BackwardBlock(a, j, h, b);
            });
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BackwardBlock(in Args a, int j, int h, int block)
    {
        int t0 = block * BlockRows, t1 = Math.Min(a.T, t0 + BlockRows), rows = t1 - t0;
        int lo = a.First(t0), nk = t1 - lo, dh = a.Dh;
        float scale = 1f / MathF.Sqrt(dh);
        long area = (long)BlockRows * a.T;
        float* p = ThreadScratch.Floats(ThreadScratch.Slot.Attention, 3 * area + (long)a.T * dh);
        float* dp = p + area;            // [rows, nk] dP, then dS
        float* tr = dp + area;           // [nk, rows] transposes of dS and P
        float* tmp = tr + area;          // [nk, dh]
        float* kj = a.K + (long)lo * a.KvDim + j * dh, vj = a.V + (long)lo * a.KvDim + j * dh;     // [nk, dh] stride KvDim
        float* qh = a.Q + (long)t0 * a.QDim + h * dh, doh = a.DO + (long)t0 * a.QDim + h * dh;     // [rows, dh] stride QDim

        TrainingGemm.MulTransposed(qh, a.QDim, kj, a.KvDim, p, nk, rows, dh, nk);                 // S = q·kᵀ
        TrainingGemm.MulTransposed(doh, a.QDim, vj, a.KvDim, dp, nk, rows, dh, nk);               // dP = do·vᵀ
        for (int r = 0; r < rows; r++)
        {
            int t = t0 + r, first = a.First(t) - lo, last = t - lo;
            float* pr = p + (long)r * nk, dr = dp + (long)r * nk;
            float l = a.Lse[(long)h * a.T + t], del = a.Delta[(long)h * a.T + t];
            for (int c = 0; c < first; c++) { pr[c] = 0; dr[c] = 0; }
            int c0 = first;
            var vs = Vector512.Create(scale); var vl = Vector512.Create(l); var vd = Vector512.Create(del);
            for (; c0 <= last - 15; c0 += 16)
            {
                var pv = SimdMath.Exp(Vector512.Load(pr + c0) * vs - vl);
                pv.Store(pr + c0);
                (pv * (Vector512.Load(dr + c0) - vd) * vs).Store(dr + c0);
            }
            for (int c = c0; c <= last; c++)
            {
                float pv = MathF.Exp(pr[c] * scale - l);
                pr[c] = pv;
                dr[c] = pv * (dr[c] - del) * scale;                                               // dS
            }
            for (int c = last + 1; c < nk; c++) { pr[c] = 0; dr[c] = 0; }
        }
        TrainingGemm.MulRowMajor(dp, nk, kj, a.KvDim, a.DQ + (long)t0 * a.QDim + h * dh, a.QDim, rows, nk, dh);   // dq = dS·k
        TrainingGemm.Transpose(dp, rows, nk, nk, tr, rows);
        TrainingGemm.MulRowMajor(tr, rows, qh, a.QDim, tmp, dh, nk, rows, dh);                   // dSᵀ·q
        AddRows(tmp, a.DK + (long)lo * a.KvDim + j * dh, nk, dh, a.KvDim);
        TrainingGemm.Transpose(p, rows, nk, nk, tr, rows);
        TrainingGemm.MulRowMajor(tr, rows, doh, a.QDim, tmp, dh, nk, rows, dh);                  // Pᵀ·do
        AddRows(tmp, a.DV + (long)lo * a.KvDim + j * dh, nk, dh, a.KvDim);
    }

    /// <summary>dst rows (stride ldd) += src [rows, n].</summary>
    static void AddRows(float* src, float* dst, int rows, int n, int ldd)
    {
        for (int r = 0; r < rows; r++)
        {
            var d = new Span<float>(dst + (long)r * ldd, n);
            System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(src + (long)r * n, n), d);
        }
    }

    static void Check(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> o, int T, int H, int Hkv, int dh)
    {
        if (H <= 0 || Hkv <= 0 || H % Hkv != 0) throw new ArgumentException($"attention: H = {H} must be a multiple of Hkv = {Hkv}");
        if (q.Length < (long)T * H * dh || o.Length < (long)T * H * dh || k.Length < (long)T * Hkv * dh || v.Length < (long)T * Hkv * dh)
            throw new ArgumentException("attention: spans too short");
    }
}
