using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Palu.Kernels.Cpu;

/// <summary>Fills one packed panel dst [kc, NR] of B (y = x·B) with B[k0 + k, o0 + r] for r &lt; cols, 0 past them.</summary>
internal unsafe interface IPanelPacker
{
    static abstract void Pack(byte* w, long ldw, int o0, int cols, int k0, int kc, float* dst);
}

/// <summary>B = Wᵀ for W [m, n] row-major with rows ldw bytes apart, any storage dtype: a transposing pack.</summary>
internal unsafe struct RowPacker<TL> : IPanelPacker where TL : struct, IWeightLoader
{
    public static void Pack(byte* w, long ldw, int o0, int cols, int k0, int kc, float* dst)
        => GemmPacking.PackPanel<TL>(w + o0 * ldw + (long)k0 * TL.Size, ldw, cols, kc, dst);
}

/// <summary>B = W for W [K, N] row-major (rows ldw bytes apart) in any weight dtype: a widening copy into the panel.</summary>
internal unsafe struct RowMajorPacker<TL> : IPanelPacker where TL : struct, IWeightLoader
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(byte* w, long ldw, int o0, int cols, int k0, int kc, float* dst)
    {
        const int NR = GemmKernels.NR;
        for (int k = 0; k < kc; k++)
        {
            byte* row = w + (k0 + k) * ldw;
            float* d = dst + k * NR;
            if (cols == NR) { TL.Load16(row, o0).Store(d); TL.Load16(row, o0 + 16).Store(d + 16); continue; }
            int r = 0;
            for (; r < cols; r++) d[r] = TL.Load1(row, o0 + r);
            for (; r < NR; r++) d[r] = 0;
        }
    }
}

/// <summary>
/// Packs a panel of W for <see cref="GemmKernels"/>: rows [0, rows) of W (stride rowBytes, any storage dtype),
/// inputs [0, kc), widened to f32 and transposed into dst [kc, NR]; rows past <c>rows</c> are zero.
/// Full groups of 16 rows × 16 inputs go through an in-register 16×16 transpose; the rest element by element.
/// </summary>
internal static unsafe class GemmPacking
{
    const int NR = GemmKernels.NR;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackPanel<TL>(byte* w, long rowBytes, int rows, int kc, float* dst) where TL : struct, IWeightLoader
    {
        for (int r0 = 0; r0 < NR; r0 += 16)
        {
            int valid = Math.Clamp(rows - r0, 0, 16);
            byte* wr = w + r0 * rowBytes;
            int k = 0;
            if (valid == 16 && Avx512F.IsSupported)
                for (; k <= kc - 16; k += 16) Transpose16<TL>(wr, rowBytes, k, dst + k * NR + r0);
            for (int r = 0; r < 16; r++)
            {
                float* d = dst + r0 + r;
                if (r < valid)
                {
                    byte* row = wr + r * rowBytes;
                    for (int kk = k; kk < kc; kk++) d[kk * NR] = TL.Load1(row, kk);
                }
                else
                    for (int kk = k; kk < kc; kk++) d[kk * NR] = 0;
            }
        }
    }

    /// <summary>dst[j * NR + i] = W[i, k + j] for i, j in [0, 16): 64 shuffles for 256 values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose16<TL>(byte* w, long rowBytes, int k, float* dst) where TL : struct, IWeightLoader
    {
        // Stage 1: interleave row pairs within 128-bit lanes.
        // a[2q] lane L = (r2q[4L], r2q+1[4L], r2q[4L+1], r2q+1[4L+1]); a[2q+1] the same for columns 4L+2, 4L+3.
        var r0 = TL.Load16(w, k); var r1 = TL.Load16(w + rowBytes, k);
        var a0 = Avx512F.UnpackLow(r0, r1); var a1 = Avx512F.UnpackHigh(r0, r1);
        r0 = TL.Load16(w + 2 * rowBytes, k); r1 = TL.Load16(w + 3 * rowBytes, k);
        var a2 = Avx512F.UnpackLow(r0, r1); var a3 = Avx512F.UnpackHigh(r0, r1);
        r0 = TL.Load16(w + 4 * rowBytes, k); r1 = TL.Load16(w + 5 * rowBytes, k);
        var a4 = Avx512F.UnpackLow(r0, r1); var a5 = Avx512F.UnpackHigh(r0, r1);
        r0 = TL.Load16(w + 6 * rowBytes, k); r1 = TL.Load16(w + 7 * rowBytes, k);
        var a6 = Avx512F.UnpackLow(r0, r1); var a7 = Avx512F.UnpackHigh(r0, r1);
        r0 = TL.Load16(w + 8 * rowBytes, k); r1 = TL.Load16(w + 9 * rowBytes, k);
        var a8 = Avx512F.UnpackLow(r0, r1); var a9 = Avx512F.UnpackHigh(r0, r1);
        r0 = TL.Load16(w + 10 * rowBytes, k); r1 = TL.Load16(w + 11 * rowBytes, k);
        var a10 = Avx512F.UnpackLow(r0, r1); var a11 = Avx512F.UnpackHigh(r0, r1);
        r0 = TL.Load16(w + 12 * rowBytes, k); r1 = TL.Load16(w + 13 * rowBytes, k);
        var a12 = Avx512F.UnpackLow(r0, r1); var a13 = Avx512F.UnpackHigh(r0, r1);
        r0 = TL.Load16(w + 14 * rowBytes, k); r1 = TL.Load16(w + 15 * rowBytes, k);
        var a14 = Avx512F.UnpackLow(r0, r1); var a15 = Avx512F.UnpackHigh(r0, r1);

        // Stage 2: b[4g + c] lane L = rows 4g..4g+3 of column 4L + c.
        var b0 = Avx512F.Shuffle(a0, a2, 0x44); var b1 = Avx512F.Shuffle(a0, a2, 0xEE);
        var b2 = Avx512F.Shuffle(a1, a3, 0x44); var b3 = Avx512F.Shuffle(a1, a3, 0xEE);
        var b4 = Avx512F.Shuffle(a4, a6, 0x44); var b5 = Avx512F.Shuffle(a4, a6, 0xEE);
        var b6 = Avx512F.Shuffle(a5, a7, 0x44); var b7 = Avx512F.Shuffle(a5, a7, 0xEE);
        var b8 = Avx512F.Shuffle(a8, a10, 0x44); var b9 = Avx512F.Shuffle(a8, a10, 0xEE);
        var b10 = Avx512F.Shuffle(a9, a11, 0x44); var b11 = Avx512F.Shuffle(a9, a11, 0xEE);
        var b12 = Avx512F.Shuffle(a12, a14, 0x44); var b13 = Avx512F.Shuffle(a12, a14, 0xEE);
        var b14 = Avx512F.Shuffle(a13, a15, 0x44); var b15 = Avx512F.Shuffle(a13, a15, 0xEE);

        // Stages 3-4: gather lane L of b[c], b[4 + c], b[8 + c], b[12 + c] into column 4L + c.
        Lanes(b0, b4, b8, b12, dst, 0);
        Lanes(b1, b5, b9, b13, dst, 1);
        Lanes(b2, b6, b10, b14, dst, 2);
        Lanes(b3, b7, b11, b15, dst, 3);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Lanes(Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, Vector512<float> g3, float* dst, int c)
        {
            var s0 = Avx512F.Shuffle4x128(g0, g1, 0x88);   // g0.L0 g0.L2 g1.L0 g1.L2
            var s1 = Avx512F.Shuffle4x128(g0, g1, 0xDD);   // g0.L1 g0.L3 g1.L1 g1.L3
            var s2 = Avx512F.Shuffle4x128(g2, g3, 0x88);
            var s3 = Avx512F.Shuffle4x128(g2, g3, 0xDD);
            Avx512F.Shuffle4x128(s0, s2, 0x88).Store(dst + (0 + c) * NR);   // lane 0 of each: column c
            Avx512F.Shuffle4x128(s1, s3, 0x88).Store(dst + (4 + c) * NR);   // lane 1: column 4 + c
            Avx512F.Shuffle4x128(s0, s2, 0xDD).Store(dst + (8 + c) * NR);   // lane 2: column 8 + c
            Avx512F.Shuffle4x128(s1, s3, 0xDD).Store(dst + (12 + c) * NR);  // lane 3: column 12 + c
        }
    }
}
