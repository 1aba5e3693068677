using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Palu.Kernels.Cpu;

/// <summary>
/// GEMM y [T, m] = x [T, n] · W [m, n]ᵀ for prefill-sized T, in the BLIS style:
/// <list type="bullet">
/// <item>W is cut into panels of <see cref="NR"/> output rows; for each block of <see cref="KC"/> inputs a panel is
/// widened to f32 and transposed into <c>[kc, NR]</c> (<see cref="GemmPacking"/>) so that the micro-kernel reads it
/// as two contiguous vectors per k; panels past m are zero-padded.</item>
/// <item>The micro-kernel keeps an <see cref="MR"/>×<see cref="NR"/> tile of y in 16 Vector512 accumulators and, per
/// k, broadcasts one x value per row against the two panel vectors (16 FMAs per 2 loads + 8 broadcasts).</item>
/// <item>Loops: k-block → block of <see cref="PanelsPerBlock"/> panels (packed once, ~256 KiB, stays in L2) →
/// <see cref="MC"/> rows of x (≤ 128 KiB in L2) → panel (32 KiB, in L1) → <see cref="MR"/> rows.</item>
/// <item>Threads split the panels (output columns) so that each thread packs only its own part of W, and also the rows
/// of x when there are too few panels.</item>
/// </list>
/// </summary>
internal static unsafe class GemmKernels
{
    public const int MR = 8, NR = 32, KC = 256, MC = 128, PanelsPerBlock = 8;
    const long MinMacsPerChunk = 1 << 19;   // ~5 µs of work
    const int MinRowsPerChunk = 64;

    /// <summary>y [T, m] = x [T, n] · Wᵀ, W [m, n] with rows <paramref name="strideW"/> elements apart.</summary>
    public static void Gemm<TL>(float* x, byte* w, int strideW, float* y, int T, int n, int m) where TL : struct, IWeightLoader
    {
        int panels = (m + NR - 1) / NR;
        long ldw = (long)strideW * TL.Size;
        // Chunks split the panels first (each thread packs only its part of W); when there are fewer panels than
        // chunks wanted (a low-rank factor with m = 32, say), also the rows of x, MinRowsPerChunk at least each.
        int chunks = KernelThreads.Plan((long)T * n * m, MinMacsPerChunk, panels * Math.Max(1, T / MinRowsPerChunk));
        int pChunks = Math.Min(panels, chunks), tChunks = chunks / pChunks;
        if (chunks == 1) { GemmPanels<RowPacker<TL>>(x, n, w, ldw, y, m, T, n, m, 0, panels); return; }
        KernelThreads.For(pChunks * tChunks, c =>
        {
            int pc = c % pChunks, tc = c / pChunks;
            int t0 = KernelThreads.Split(T, tChunks, tc), t1 = KernelThreads.Split(T, tChunks, tc + 1);
            GemmPanels<RowPacker<TL>>(x + (long)t0 * n, n, w, ldw, y + (long)t0 * m, m, t1 - t0, n, m,
                KernelThreads.Split(panels, pChunks, pc), KernelThreads.Split(panels, pChunks, pc + 1));
        });
    }

    /// <summary>
    /// y [T, m] (stride ldy) = x [T, n] (stride ldx) · B on the calling thread, where B [n, m] is read through the
    /// packer <typeparamref name="TP"/>: W [m, n]ᵀ (<see cref="RowPacker{TL}"/>) or a row-major f32 [n, m]
    /// (<see cref="RowMajorPacker{TL}"/>).
    /// </summary>
    public static void GemmSingle<TP>(float* x, int ldx, byte* w, long ldw, float* y, int ldy, int T, int n, int m) where TP : struct, IPanelPacker
        => GemmPanels<TP>(x, ldx, w, ldw, y, ldy, T, n, m, 0, (m + NR - 1) / NR);

    /// <summary>Output columns of panels [p0, p1) for all T rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void GemmPanels<TP>(float* x, int ldx, byte* w, long ldw, float* y, int ldy, int T, int n, int m, int p0, int p1)
        where TP : struct, IPanelPacker
    {
        float* pack = ThreadScratch.Floats(ThreadScratch.Slot.GemmPack, PanelsPerBlock * KC * NR); // [PanelsPerBlock, kc, NR]
        float* tileA = ThreadScratch.Floats(ThreadScratch.Slot.GemmTile, MR * KC + MR * NR);        // [MR, kc] x rows of a short tile
        float* tileC = tileA + MR * KC;                                                               // [MR, NR] y of a partial tile
        for (int k0 = 0; k0 < n; k0 += KC)
        {
            int kc = Math.Min(KC, n - k0);
            bool accumulate = k0 > 0;
            for (int pb = p0; pb < p1; pb += PanelsPerBlock)
            {
                int pe = Math.Min(p1, pb + PanelsPerBlock);
                for (int p = pb; p < pe; p++)
                    TP.Pack(w, ldw, p * NR, Math.Min(NR, m - p * NR), k0, kc, pack + (p - pb) * kc * NR);
                for (int t0 = 0; t0 < T; t0 += MC)
                {
                    int t1 = Math.Min(T, t0 + MC);
                    for (int p = pb; p < pe; p++)
                    {
                        float* b = pack + (p - pb) * kc * NR;   // [kc, NR]
                        int o = p * NR, cols = Math.Min(NR, m - o);
                        for (int t = t0; t < t1; t += MR)
                        {
                            int rows = Math.Min(MR, t1 - t);
                            float* a = x + (long)t * ldx + k0;  // [rows, kc] with stride ldx
                            int lda = ldx;
                            if (rows < MR)
                            {
                                CopyRows(a, ldx, rows, kc, tileA);
                                a = tileA; lda = kc;
                            }
                            float* c = y + (long)t * ldy + o;   // [rows, cols] with stride ldy
                            if (rows == MR && cols == NR) { Micro8x32(a, lda, b, kc, c, ldy, accumulate); continue; }
                            if (accumulate) CopyTile(c, ldy, tileC, NR, rows, cols);
                            Micro8x32(a, lda, b, kc, tileC, NR, accumulate);
                            CopyTile(tileC, NR, c, ldy, rows, cols);
                        }
                    }
                }
            }
        }
    }

    /// <summary>dst [MR, kc] = src rows [0, rows) then zero rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void CopyRows(float* src, int lds, int rows, int kc, float* dst)
    {
        for (int r = 0; r < MR; r++)
        {
            var d = new Span<float>(dst + r * kc, kc);
            if (r < rows) new ReadOnlySpan<float>(src + (long)r * lds, kc).CopyTo(d);
            else d.Clear();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void CopyTile(float* src, int lds, float* dst, int ldd, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<float>(src + (long)r * lds, cols).CopyTo(new Span<float>(dst + (long)r * ldd, cols));
    }

    /// <summary>
    /// c [8, 32] (stride ldc) = (accumulate ? c : 0) + a [8, kc] (stride lda) · b [kc, 32].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Micro8x32(float* a, int lda, float* b, int kc, float* c, int ldc, bool accumulate)
    {
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        float* a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            b += NR;
            var v = Vector512.Create(a0[k]); c00 = Vector512.FusedMultiplyAdd(v, b0, c00); c01 = Vector512.FusedMultiplyAdd(v, b1, c01);
            v = Vector512.Create(a1[k]); c10 = Vector512.FusedMultiplyAdd(v, b0, c10); c11 = Vector512.FusedMultiplyAdd(v, b1, c11);
            v = Vector512.Create(a2[k]); c20 = Vector512.FusedMultiplyAdd(v, b0, c20); c21 = Vector512.FusedMultiplyAdd(v, b1, c21);
            v = Vector512.Create(a3[k]); c30 = Vector512.FusedMultiplyAdd(v, b0, c30); c31 = Vector512.FusedMultiplyAdd(v, b1, c31);
            v = Vector512.Create(a4[k]); c40 = Vector512.FusedMultiplyAdd(v, b0, c40); c41 = Vector512.FusedMultiplyAdd(v, b1, c41);
            v = Vector512.Create(a5[k]); c50 = Vector512.FusedMultiplyAdd(v, b0, c50); c51 = Vector512.FusedMultiplyAdd(v, b1, c51);
            v = Vector512.Create(a6[k]); c60 = Vector512.FusedMultiplyAdd(v, b0, c60); c61 = Vector512.FusedMultiplyAdd(v, b1, c61);
            v = Vector512.Create(a7[k]); c70 = Vector512.FusedMultiplyAdd(v, b0, c70); c71 = Vector512.FusedMultiplyAdd(v, b1, c71);
        }
        Store(c, c00, c01, accumulate); c += ldc;
        Store(c, c10, c11, accumulate); c += ldc;
        Store(c, c20, c21, accumulate); c += ldc;
        Store(c, c30, c31, accumulate); c += ldc;
        Store(c, c40, c41, accumulate); c += ldc;
        Store(c, c50, c51, accumulate); c += ldc;
        Store(c, c60, c61, accumulate); c += ldc;
        Store(c, c70, c71, accumulate);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Store(float* c, Vector512<float> lo, Vector512<float> hi, bool accumulate)
        {
            if (accumulate) { lo += Vector512.Load(c); hi += Vector512.Load(c + 16); }
            lo.Store(c); hi.Store(c + 16);
        }
    }
}
