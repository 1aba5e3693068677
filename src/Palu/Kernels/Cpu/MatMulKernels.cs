using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// y = x·Wᵀ for x [T, n] f32 and W [m, n] F32/F16/BF16. Two regimes:
/// <list type="bullet">
/// <item>T ≤ <see cref="GemvMaxT"/> (decode): GEMV. Each W row is read once, widened to f32 16 lanes at a time inside the
/// dot-product loop and multiplied into all T rows of x; output rows are split across threads. Memory-bound.</item>
/// <item>larger T (prefill, perplexity, calibration): the packed, register-blocked GEMM of <see cref="GemmKernels"/>.</item>
/// </list>
/// </summary>
internal static unsafe class MatMulKernels
{
    public const int GemvMaxT = 4;

    /// <summary>GEMV: fewest multiply-adds in one chunk of output rows (a few µs of work).</summary>
    const long GemvMinMacsPerChunk = 1 << 16;

    public static void MatMul(ReadOnlySpan<float> x, in WeightMatrix w, Span<float> y, int T)
    {
        int n = w.Cols, m = w.Rows;
        if (T < 0 || x.Length < (long)T * n || y.Length < (long)T * m)
            throw new ArgumentException($"MatMul: x [{T}, {n}] and y [{T}, {m}] do not fit spans of {x.Length} and {y.Length}");
        if (T == 0 || m == 0) return;
        fixed (float* px = x, py = y)
        {
            byte* pw = (byte*)w.Data;
            switch (w.DType)
            {
                case DType.F32: Run<F32Loader>(px, pw, py, T, n, m); break;
                case DType.BF16: Run<BF16Loader>(px, pw, py, T, n, m); break;
                case DType.F16: Run<F16Loader>(px, pw, py, T, n, m); break;
                default: throw new NotSupportedException($"MatMul weights of {DTypes.Name(w.DType)}");
            }
        }
    }

    static void Run<TL>(float* x, byte* w, float* y, int T, int n, int m) where TL : struct, IWeightLoader
    {
        if (T <= GemvMaxT) Gemv<TL>(x, w, y, T, n, m);
        else GemmKernels.Gemm<TL>(x, w, y, T, n, m);
    }

    /// <summary>y [T, m] = x [T, n] · W [m, n]ᵀ for small T, output rows split across threads.</summary>
    public static void Gemv<TL>(float* x, byte* w, float* y, int T, int n, int m) where TL : struct, IWeightLoader
    {
        int chunks = KernelThreads.Plan((long)T * n * m, GemvMinMacsPerChunk, (m + 3) / 4);
        if (chunks == 1) { GemvRows<TL>(x, w, y, T, n, m, 0, m); return; }
        KernelThreads.For(chunks, c =>
        {
            int o0 = KernelThreads.Split(m, chunks, c, 4), o1 = KernelThreads.Split(m, chunks, c + 1, 4);
            GemvRows<TL>(x, w, y, T, n, m, o0, o1);
        });
    }

    /// <summary>Output rows [o0, o1) for all T rows of x, four W rows at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void GemvRows<TL>(float* x, byte* w, float* y, int T, int n, int m, int o0, int o1) where TL : struct, IWeightLoader
    {
        long rowBytes = (long)n * TL.Size;
        for (int o = o0; o < o1; o += 4)
        {
            // Past the last row, point at row o1-1 again: same work, results not stored.
            byte* w0 = w + o * rowBytes;
            byte* w1 = w + Math.Min(o + 1, o1 - 1) * rowBytes;
            byte* w2 = w + Math.Min(o + 2, o1 - 1) * rowBytes;
            byte* w3 = w + Math.Min(o + 3, o1 - 1) * rowBytes;
            int valid = Math.Min(4, o1 - o);
            switch (T)
            {
                case 1: Dot4x<TL, C1>(x, n, w0, w1, w2, w3, y + o, m, valid); break;
                case 2: Dot4x<TL, C2>(x, n, w0, w1, w2, w3, y + o, m, valid); break;
                case 3: Dot4x<TL, C3>(x, n, w0, w1, w2, w3, y + o, m, valid); break;
                default: Dot4x<TL, C4>(x, n, w0, w1, w2, w3, y + o, m, valid); break;
            }
        }
    }

    /// <summary>
    /// y[t, r] = x[t]·w_r for t &lt; TT.Value (1..4) and four rows r. Every 16 weights are widened once and used for all
    /// TT rows of x; TT is a type so that the JIT drops the unused accumulators.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot4x<TL, TT>(float* x, int n, byte* w0, byte* w1, byte* w2, byte* w3, float* y, int ldy, int valid)
        where TL : struct, IWeightLoader where TT : struct, IConst
    {
        int R = TT.Value;
        float* x0 = x, x1 = x + (R > 1 ? n : 0), x2 = x + (R > 2 ? 2 * n : 0), x3 = x + (R > 3 ? 3 * n : 0);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            var v0 = TL.Load16(w0, i); var v1 = TL.Load16(w1, i); var v2 = TL.Load16(w2, i); var v3 = TL.Load16(w3, i);
            var xv = Vector512.Load(x0 + i);
            a00 = Vector512.FusedMultiplyAdd(xv, v0, a00); a01 = Vector512.FusedMultiplyAdd(xv, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(xv, v2, a02); a03 = Vector512.FusedMultiplyAdd(xv, v3, a03);
            if (R > 1)
            {
                xv = Vector512.Load(x1 + i);
                a10 = Vector512.FusedMultiplyAdd(xv, v0, a10); a11 = Vector512.FusedMultiplyAdd(xv, v1, a11);
                a12 = Vector512.FusedMultiplyAdd(xv, v2, a12); a13 = Vector512.FusedMultiplyAdd(xv, v3, a13);
            }
            if (R > 2)
            {
                xv = Vector512.Load(x2 + i);
                a20 = Vector512.FusedMultiplyAdd(xv, v0, a20); a21 = Vector512.FusedMultiplyAdd(xv, v1, a21);
                a22 = Vector512.FusedMultiplyAdd(xv, v2, a22); a23 = Vector512.FusedMultiplyAdd(xv, v3, a23);
            }
            if (R > 3)
            {
                xv = Vector512.Load(x3 + i);
                a30 = Vector512.FusedMultiplyAdd(xv, v0, a30); a31 = Vector512.FusedMultiplyAdd(xv, v1, a31);
                a32 = Vector512.FusedMultiplyAdd(xv, v2, a32); a33 = Vector512.FusedMultiplyAdd(xv, v3, a33);
            }
        }
        Store4(x0, n, i, w0, w1, w2, w3, a00, a01, a02, a03, y, valid);
        if (R > 1) Store4(x1, n, i, w0, w1, w2, w3, a10, a11, a12, a13, y + ldy, valid);
        if (R > 2) Store4(x2, n, i, w0, w1, w2, w3, a20, a21, a22, a23, y + 2 * ldy, valid);
        if (R > 3) Store4(x3, n, i, w0, w1, w2, w3, a30, a31, a32, a33, y + 3 * ldy, valid);

        // Reduces the four accumulators of one x row, adds the scalar tail [i, n) and stores the valid outputs.
        static void Store4(float* xr, int n, int i, byte* w0, byte* w1, byte* w2, byte* w3,
            Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3, float* yr, int valid)
        {
            float d0 = Vector512.Sum(s0), d1 = Vector512.Sum(s1), d2 = Vector512.Sum(s2), d3 = Vector512.Sum(s3);
            for (; i < n; i++)
            {
                float xi = xr[i];
                d0 += xi * TL.Load1(w0, i); d1 += xi * TL.Load1(w1, i); d2 += xi * TL.Load1(w2, i); d3 += xi * TL.Load1(w3, i);
            }
            yr[0] = d0;
            if (valid > 1) yr[1] = d1;
            if (valid > 2) yr[2] = d2;
            if (valid > 3) yr[3] = d3;
        }
    }
}

/// <summary>A compile-time integer for generic specialisation.</summary>
internal interface IConst { static abstract int Value { get; } }
internal struct C1 : IConst { public static int Value => 1; }
internal struct C2 : IConst { public static int Value => 2; }
internal struct C3 : IConst { public static int Value => 3; }
internal struct C4 : IConst { public static int Value => 4; }
