using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// y = x·Wᵀ for x [T, n] f32 and W [m, n] F32/F16/BF16. Two regimes:
/// <list type="bullet">
/// <item>T ≤ <see cref="GemvMaxT"/> (decode, small batches): GEMV. Four W rows at a time are widened to f32 16 lanes at a
/// time inside the dot-product loop and multiplied into up to four rows of x; further rows of x reuse the same four
/// W rows while they are in L1/L2, so W comes from memory once. Output rows are split across threads.
/// Memory-bound at T = 1; it beats the GEMM up to about T = 12 because it needs no packing.</item>
/// <item>larger T (prefill, perplexity, calibration): the packed, register-blocked GEMM of <see cref="GemmKernels"/>.</item>
/// </list>
/// </summary>
internal static unsafe class MatMulKernels
{
    public const int GemvMaxT = 12;

    /// <summary>GEMV: fewest multiply-adds in one chunk of output rows (a few µs of work).</summary>
    const long GemvMinMacsPerChunk = 1 << 16;

    public static void MatMul(ReadOnlySpan<float> x, in WeightMatrix w, Span<float> y, int T)
    {
        CheckArguments(x, w, y, T);
        int n = w.Cols, m = w.Rows;
        if (T == 0 || m == 0) return;
        if (n == 0) { y[..(T * m)].Clear(); return; }   // empty dot products
        fixed (float* px = x, py = y)
        {
            byte* pw = (byte*)w.Data;
            switch (w.DType)
            {
                case DType.F32: Run<F32Loader>(px, pw, w.Stride, py, T, n, m); break;
                case DType.BF16: Run<BF16Loader>(px, pw, w.Stride, py, T, n, m); break;
                case DType.F16: Run<F16Loader>(px, pw, w.Stride, py, T, n, m); break;
                default: throw new NotSupportedException($"MatMul weights of {DTypes.Name(w.DType)}");
            }
        }
    }

    /// <summary>Throws unless x [T, n] and y [T, m] fit W [m, n]; shared with <see cref="PortableKernels.MatMul"/>.</summary>
    internal static void CheckArguments(ReadOnlySpan<float> x, in WeightMatrix w, ReadOnlySpan<float> y, int T)
    {
        int n = w.Cols, m = w.Rows;
        if (T < 0 || x.Length < (long)T * n || y.Length < (long)T * m)
            throw new ArgumentException($"MatMul: x [{T}, {n}] and y [{T}, {m}] do not fit spans of {x.Length} and {y.Length}");
    }

    /// <summary>W rows are <paramref name="ldw"/> elements apart.</summary>
    static void Run<TL>(float* x, byte* w, int ldw, float* y, int T, int n, int m) where TL : struct, IWeightLoader
    {
        if (T <= GemvMaxT) Gemv<TL>(x, w, ldw, y, T, n, m);
        else GemmKernels.Gemm<TL>(x, w, ldw, y, T, n, m);
    }

    /// <summary>y [T, m] = x [T, n] · W [m, n]ᵀ for small T, output rows split across threads.</summary>
    public static void Gemv<TL>(float* x, byte* w, int ldw, float* y, int T, int n, int m) where TL : struct, IWeightLoader
    {
        int chunks = KernelThreads.Plan((long)T * n * m, GemvMinMacsPerChunk, (m + 3) / 4);
        if (chunks == 1) { GemvRows<TL>(x, w, ldw, y, T, n, m, 0, m); return; }
        KernelThreads.For(chunks, c =>
        {
            int o0 = KernelThreads.Split(m, chunks, c, 4), o1 = KernelThreads.Split(m, chunks, c + 1, 4);
            GemvRows<TL>(x, w, ldw, y, T, n, m, o0, o1);
        });
    }

    /// <summary>Output rows [o0, o1) for all T rows of x, four W rows at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void GemvRows<TL>(float* x, byte* w, int ldw, float* y, int T, int n, int m, int o0, int o1) where TL : struct, IWeightLoader
    {
        long rowBytes = (long)ldw * TL.Size;
        for (int o = o0; o < o1; o += 4)
        {
            // Past the last row, point at row o1-1 again: same work, results not stored.
            byte* w0 = w + o * rowBytes;
            byte* w1 = w + Math.Min(o + 1, o1 - 1) * rowBytes;
            byte* w2 = w + Math.Min(o + 2, o1 - 1) * rowBytes;
            byte* w3 = w + Math.Min(o + 3, o1 - 1) * rowBytes;
            int valid = Math.Min(4, o1 - o);
            for (int t = 0; t < T; t += 4)
            {
                float* xt = x + (long)t * n, yt = y + (long)t * m + o;   // [rows, n], [rows, m]
                switch (T - t)
                {
                    case 1: Dot1x4<TL>(xt, n, w0, w1, w2, w3, yt, valid); break;
                    case 2: Dot2x4<TL>(xt, xt + n, n, w0, w1, w2, w3, yt, yt + m, valid); break;
                    // 3 rows: the 4-row kernel with row 2 repeated as row 3 and that row's results dropped.
                    case 3: Dot4x4<TL>(xt, xt + n, xt + 2 * n, xt + 2 * n, n, w0, w1, w2, w3, yt, m, 3, valid); break;
                    default: Dot4x4<TL>(xt, xt + n, xt + 2 * n, xt + 3 * n, n, w0, w1, w2, w3, yt, m, 4, valid); break;
                }
            }
        }
    }

    // The three kernels below are the same loop for 1, 2 and 4 rows of x against four W rows: every 16 weights are
    // widened once and used for all rows (written out: 4, 8 and 16 accumulators in registers).

    /// <summary>y[r] = x·w_r for four rows r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot1x4<TL>(float* x, int n, byte* w0, byte* w1, byte* w2, byte* w3, float* y, int valid) where TL : struct, IWeightLoader
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0, end = n - 16;
        if (end >= 0)
        do
        {
            var xv = Vector512.Load(x + i);
            a0 = Vector512.FusedMultiplyAdd(xv, TL.Load16(w0, i), a0); a1 = Vector512.FusedMultiplyAdd(xv, TL.Load16(w1, i), a1);
            a2 = Vector512.FusedMultiplyAdd(xv, TL.Load16(w2, i), a2); a3 = Vector512.FusedMultiplyAdd(xv, TL.Load16(w3, i), a3);
            i += 16;
        } while (i <= end);
        Finish<TL>(x, n, i, w0, w1, w2, w3, Sums(a0, a1, a2, a3), y, valid);
    }

    /// <summary>y_t[r] = x_t·w_r for two rows t of x and four rows r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot2x4<TL>(float* x0, float* x1, int n, byte* w0, byte* w1, byte* w2, byte* w3, float* y0, float* y1, int valid)
        where TL : struct, IWeightLoader
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        int i = 0, end = n - 16;
        if (end >= 0)
        do
        {
            var v0 = TL.Load16(w0, i); var v1 = TL.Load16(w1, i); var v2 = TL.Load16(w2, i); var v3 = TL.Load16(w3, i);
            var xv = Vector512.Load(x0 + i);
            a00 = Vector512.FusedMultiplyAdd(xv, v0, a00); a01 = Vector512.FusedMultiplyAdd(xv, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(xv, v2, a02); a03 = Vector512.FusedMultiplyAdd(xv, v3, a03);
            xv = Vector512.Load(x1 + i);
            a10 = Vector512.FusedMultiplyAdd(xv, v0, a10); a11 = Vector512.FusedMultiplyAdd(xv, v1, a11);
            a12 = Vector512.FusedMultiplyAdd(xv, v2, a12); a13 = Vector512.FusedMultiplyAdd(xv, v3, a13);
            i += 16;
        } while (i <= end);
        // All accumulators are reduced before any tail loop: vectors live across a loop get spilled by the JIT.
        var s0 = Sums(a00, a01, a02, a03); var s1 = Sums(a10, a11, a12, a13);
        Finish<TL>(x0, n, i, w0, w1, w2, w3, s0, y0, valid);
        Finish<TL>(x1, n, i, w0, w1, w2, w3, s1, y1, valid);
    }

    /// <summary>y_t[r] = x_t·w_r for four rows t of x (the first <paramref name="rows"/> stored) and four rows r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot4x4<TL>(float* x0, float* x1, float* x2, float* x3, int n, byte* w0, byte* w1, byte* w2, byte* w3,
        float* y, int ldy, int rows, int valid) where TL : struct, IWeightLoader
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        int i = 0, end = n - 16;
        if (end >= 0)
        do
        {
            var v0 = TL.Load16(w0, i); var v1 = TL.Load16(w1, i); var v2 = TL.Load16(w2, i); var v3 = TL.Load16(w3, i);
            var xv = Vector512.Load(x0 + i);
            a00 = Vector512.FusedMultiplyAdd(xv, v0, a00); a01 = Vector512.FusedMultiplyAdd(xv, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(xv, v2, a02); a03 = Vector512.FusedMultiplyAdd(xv, v3, a03);
            xv = Vector512.Load(x1 + i);
            a10 = Vector512.FusedMultiplyAdd(xv, v0, a10); a11 = Vector512.FusedMultiplyAdd(xv, v1, a11);
            a12 = Vector512.FusedMultiplyAdd(xv, v2, a12); a13 = Vector512.FusedMultiplyAdd(xv, v3, a13);
            xv = Vector512.Load(x2 + i);
            a20 = Vector512.FusedMultiplyAdd(xv, v0, a20); a21 = Vector512.FusedMultiplyAdd(xv, v1, a21);
            a22 = Vector512.FusedMultiplyAdd(xv, v2, a22); a23 = Vector512.FusedMultiplyAdd(xv, v3, a23);
            xv = Vector512.Load(x3 + i);
            a30 = Vector512.FusedMultiplyAdd(xv, v0, a30); a31 = Vector512.FusedMultiplyAdd(xv, v1, a31);
            a32 = Vector512.FusedMultiplyAdd(xv, v2, a32); a33 = Vector512.FusedMultiplyAdd(xv, v3, a33);
            i += 16;
        } while (i <= end);
        // All accumulators are reduced before any tail loop: vectors live across a loop get spilled by the JIT.
        var s0 = Sums(a00, a01, a02, a03); var s1 = Sums(a10, a11, a12, a13);
        var s2 = Sums(a20, a21, a22, a23); var s3 = Sums(a30, a31, a32, a33);
        Finish<TL>(x0, n, i, w0, w1, w2, w3, s0, y, valid);
        Finish<TL>(x1, n, i, w0, w1, w2, w3, s1, y + ldy, valid);
        Finish<TL>(x2, n, i, w0, w1, w2, w3, s2, y + 2 * ldy, valid);
        if (rows > 3) Finish<TL>(x3, n, i, w0, w1, w2, w3, s3, y + 3 * ldy, valid);
    }

    /// <summary>The horizontal sums of four accumulators, as one Vector128.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Sums(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
        => Vector128.Create(SimdMath.Sum(a0), SimdMath.Sum(a1), SimdMath.Sum(a2), SimdMath.Sum(a3));

    /// <summary>Adds the scalar tail [i, n) of one x row to its four dot products and stores the valid outputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Finish<TL>(float* x, int n, int i, byte* w0, byte* w1, byte* w2, byte* w3, Vector128<float> sums, float* y, int valid)
        where TL : struct, IWeightLoader
    {
        float d0 = sums[0], d1 = sums[1], d2 = sums[2], d3 = sums[3];
        for (; i < n; i++)
        {
            float xi = x[i];
            d0 += xi * TL.Load1(w0, i); d1 += xi * TL.Load1(w1, i); d2 += xi * TL.Load1(w2, i); d3 += xi * TL.Load1(w3, i);
        }
        y[0] = d0;
        if (valid > 1) y[1] = d1;
        if (valid > 2) y[2] = d2;
        if (valid > 3) y[3] = d3;
    }
}
