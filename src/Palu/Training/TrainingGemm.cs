using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Training;

/// <summary>
/// The products of back-propagation, on the packed GEMM of <see cref="GemmKernels"/> (y = a·B with B read through a
/// panel packer), threaded by splitting the rows of a. Forward products (x·Wᵀ) go through
/// <see cref="SimdKernels.MatMul"/>; here are the other two orientations:
/// <list type="bullet">
/// <item>input gradient dx [T, n] = dy [T, m] · W [m, n] (W read row-major, any weight dtype);</item>
/// <item>weight gradient dW [m, n] = dyᵀ · x: dy transposed once to [m, T], then a plain f32 product.</item>
/// </list>
/// Every output element is accumulated in the same order whatever the thread count, so results are deterministic.
/// </summary>
internal static unsafe class TrainingGemm
{
    const long MinMacsPerChunk = 1 << 20;

    /// <summary>dx [T, n] = dy [T, m] · W [m, n] (W = weight [out, in]).</summary>
    public static void InputGradient(ReadOnlySpan<float> dy, in WeightMatrix w, Span<float> dx, int T)
    {
        int m = w.Rows, n = w.Cols;
        if (dy.Length < (long)T * m || dx.Length < (long)T * n) throw new ArgumentException("InputGradient: spans too short");
        fixed (float* pdy = dy, pdx = dx)
        {
            byte* pw = (byte*)w.Data;
            long ldw = (long)n * w.ElementSize;
            switch (w.DType)
            {
                case DType.F32: Run<RowMajorPacker<F32Loader>>(pdy, m, pw, ldw, pdx, n, T, m, n); break;
                case DType.BF16: Run<RowMajorPacker<BF16Loader>>(pdy, m, pw, ldw, pdx, n, T, m, n); break;
                case DType.F16: Run<RowMajorPacker<F16Loader>>(pdy, m, pw, ldw, pdx, n, T, m, n); break;
                default: throw new NotSupportedException($"weights of {DTypes.Name(w.DType)}");
            }
        }
    }

    /// <summary>
    /// dW [m, n] = dyᵀ · x for dy [T, m], x [T, n]; <paramref name="dyT"/> [m, T] is scratch for the transpose.
    /// </summary>
    public static void WeightGradient(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dw, Span<float> dyT, int T, int m, int n)
    {
        if (dy.Length < (long)T * m || x.Length < (long)T * n || dw.Length < (long)m * n || dyT.Length < (long)m * T)
            throw new ArgumentException("WeightGradient: spans too short");
        fixed (float* pdy = dy, px = x, pdw = dw, pt = dyT)
        {
            Transpose(pdy, T, m, m, pt, T);
            Run<RowMajorPacker<F32Loader>>(pt, T, (byte*)px, (long)n * sizeof(float), pdw, n, m, T, n);
        }
    }

    /// <summary>y [M, N] (stride ldy) = a [M, K] (stride lda) · B [K, N] read through <typeparamref name="TP"/>.</summary>
    public static void Run<TP>(float* a, int lda, byte* b, long ldb, float* y, int ldy, int M, int K, int N) where TP : struct, IPanelPacker
    {
        if (M == 0 || N == 0) return;
        if (K == 0) { for (int r = 0; r < M; r++) new Span<float>(y + (long)r * ldy, N).Clear(); return; }
        int chunks = KernelThreads.Plan((long)M * K * N, MinMacsPerChunk, (M + GemmKernels.MR - 1) / GemmKernels.MR);
        if (chunks == 1) { GemmKernels.GemmSingle<TP>(a, lda, b, ldb, y, ldy, M, K, N); return; }
        nint pa = (nint)a, pb = (nint)b, py = (nint)y;
        KernelThreads.For(chunks, c =>
        {
            int r0 = KernelThreads.Split(M, chunks, c, GemmKernels.MR), r1 = KernelThreads.Split(M, chunks, c + 1, GemmKernels.MR);
            if (r1 > r0)
                GemmKernels.GemmSingle<TP>((float*)pa + (long)r0 * lda, lda, (byte*)pb, ldb, (float*)py + (long)r0 * ldy, ldy, r1 - r0, K, N);
        });
    }

    /// <summary>Single-threaded y [M, N] = a [M, K] · B [K, N], B row-major f32 with rows ldb floats apart.</summary>
    public static void MulRowMajor(float* a, int lda, float* b, int ldb, float* y, int ldy, int M, int K, int N)
        => GemmKernels.GemmSingle<RowMajorPacker<F32Loader>>(a, lda, (byte*)b, (long)ldb * sizeof(float), y, ldy, M, K, N);

    /// <summary>Single-threaded y [M, N] = a [M, K] · Bᵀ for B [N, K] row-major f32 with rows ldb floats apart.</summary>
    public static void MulTransposed(float* a, int lda, float* b, int ldb, float* y, int ldy, int M, int K, int N)
        => GemmKernels.GemmSingle<RowPacker<F32Loader>>(a, lda, (byte*)b, (long)ldb * sizeof(float), y, ldy, M, K, N);

    /// <summary>dst [cols, rows] (stride ldd) = srcᵀ for src [rows, cols] (stride lds), in 16×16 tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(float* src, int rows, int cols, int lds, float* dst, int ldd)
    {
        const int B = 16;
        for (int r0 = 0; r0 < rows; r0 += B)
        {
            int r1 = Math.Min(rows, r0 + B);
            for (int c0 = 0; c0 < cols; c0 += B)
            {
                int c1 = Math.Min(cols, c0 + B);
                for (int r = r0; r < r1; r++)
                {
                    float* s = src + (long)r * lds;
                    for (int c = c0; c < c1; c++) dst[(long)c * ldd + r] = s[c];
                }
            }
        }
    }
}
