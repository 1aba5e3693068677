using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Palu.Kernels.Cpu;

namespace Palu.LinearAlgebra;

/// <summary>
/// Blocked GEMM in C# (GotoBLAS layout): B is packed into [kc, NR] column panels, A into [kc, MR] row panels
/// (alpha folded in), and a register-tiled micro-kernel computes MR × NR tiles with Vector512 (or Vector256) FMAs.
/// Row blocks of C are spread over <see cref="Parallelism.Threads"/>.
/// </summary>
internal static unsafe class ManagedGemm
{
    const int MR = 6;      // rows of a register tile
    const int KC = 256;    // depth of a packed block
    const int MC = 144;    // rows of a packed A block (multiple of MR)
    const int NC = 4096;   // columns of a packed B block

    static int VectorWidth<T>() where T : unmanaged
        => Vector512.IsHardwareAccelerated ? Vector512<T>.Count : Vector256<T>.Count;

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C on strided row-major storage. op(A)(i, p) = transA ? a[p·lda + i] : a[i·lda + p];
    /// op(B)(p, j) = transB ? b[j·ldb + p] : b[p·ldb + j]; C(i, j) = c[i·ldc + j]; C is [m, n].
    /// </summary>
    public static void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, T* a, int lda, T* b, int ldb, T beta, T* c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m <= 0 || n <= 0) return;
        if (beta != T.One) ScaleC(m, n, beta, c, ldc);
        if (k <= 0 || alpha == T.Zero) return;

        int nr = 2 * VectorWidth<T>();
        int threads = 2.0 * m * n * k < 4e6 ? 1 : Math.Max(1, Parallelism.Threads);
        int mcStep = Math.Min(MC, RoundUp((m + threads - 1) / threads, MR));
        int mBlocks = (m + mcStep - 1) / mcStep;
        int ncMax = Math.Min(NC, n);
        T* bp = (T*)NativeMemory.AlignedAlloc((nuint)((long)KC * RoundUp(ncMax, nr) * sizeof(T)), 64); // [ncMax/NR][KC][NR]
        try
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                int jPanels = (nc + nr - 1) / nr;
                int nSplits = mBlocks >= threads ? 1 : Math.Min(jPanels, (threads + mBlocks - 1) / mBlocks);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    PackB(transB, b, ldb, pc, jc, kc, nc, nr, bp);
                    int tasks = mBlocks * nSplits;
                    int jcLocal = jc, pcLocal = pc;
                    void Body(int t)
                    {
                        int ic = (t / nSplits) * mcStep, split = t % nSplits;
                        int mc = Math.Min(mcStep, m - ic);
                        int p0 = (int)((long)split * jPanels / nSplits), p1 = (int)((long)(split + 1) * jPanels / nSplits);
                        T* ap = (T*)NativeMemory.AlignedAlloc((nuint)((long)RoundUp(mc, MR) * kc * sizeof(T) + MR * nr * sizeof(T)), 64); // [mc/MR][kc][MR]
                        T* edge = ap + (long)RoundUp(mc, MR) * kc; // [MR, nr] scratch tile for the right/bottom edges
                        try
                        {
                            PackA(transA, a, lda, ic, pcLocal, mc, kc, alpha, ap);
                            for (int jp = p0; jp < p1; jp++)
                            {
                                int cols = Math.Min(nr, nc - jp * nr);
                                for (int ir = 0; ir < mc; ir += MR)
                                {
                                    int rows = Math.Min(MR, mc - ir);
                                    T* ct = c + (long)(ic + ir) * ldc + jcLocal + jp * nr;
                                    bool full = rows == MR && cols == nr;
                                    if (!full) new Span<T>(edge, MR * nr).Clear();
                                    if (Vector512.IsHardwareAccelerated)
                                        Kernel512(kc, ap + (long)ir * kc, bp + (long)jp * kc * nr, full ? ct : edge, full ? ldc : nr);
                                    else
                                        Kernel256(kc, ap + (long)ir * kc, bp + (long)jp * kc * nr, full ? ct : edge, full ? ldc : nr);
                                    if (!full) AccPartial(edge, nr, ct, ldc, rows, cols);
                                }
                            }
                        }
                        finally { NativeMemory.AlignedFree(ap); }
                    }
                    if (threads == 1 || tasks == 1) for (int t = 0; t < tasks; t++) Body(t);
                    else Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = threads }, Body);
                }
            }
        }
        finally { NativeMemory.AlignedFree(bp); }
    }

    static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    static void ScaleC<T>(int m, int n, T beta, T* c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<T>(c + (long)i * ldc, n);
            if (beta == T.Zero) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>Packs op(B)[pc:pc+kc, jc:jc+nc] into panels [nc/nr][kc][nr], zero-padded on the right.</summary>
    static void PackB<T>(bool transB, T* b, int ldb, int pc, int jc, int kc, int nc, int nr, T* bp) where T : unmanaged
    {
        int panels = (nc + nr - 1) / nr;
        for (int jp = 0; jp < panels; jp++)
        {
            T* dst = bp + (long)jp * kc * nr; // [kc, nr]
            int j0 = jc + jp * nr, cols = Math.Min(nr, nc - jp * nr);
            if (cols < nr) new Span<T>(dst, kc * nr).Clear();
            if (!transB)
                for (int p = 0; p < kc; p++)
                    new ReadOnlySpan<T>(b + (long)(pc + p) * ldb + j0, cols).CopyTo(new Span<T>(dst + p * nr, cols));
            else
                for (int j = 0; j < cols; j++)
                {
                    T* src = b + (long)(j0 + j) * ldb + pc;
                    for (int p = 0; p < kc; p++) dst[p * nr + j] = src[p];
                }
        }
    }

    /// <summary>Packs alpha·op(A)[ic:ic+mc, pc:pc+kc] into panels [mc/MR][kc][MR], zero-padded at the bottom.</summary>
    static void PackA<T>(bool transA, T* a, int lda, int ic, int pc, int mc, int kc, T alpha, T* ap) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int panels = (mc + MR - 1) / MR;
        for (int ip = 0; ip < panels; ip++)
        {
            T* dst = ap + (long)ip * kc * MR; // [kc, MR]
            int i0 = ic + ip * MR, rows = Math.Min(MR, mc - ip * MR);
            if (rows < MR) new Span<T>(dst, kc * MR).Clear();
            if (!transA)
                for (int r = 0; r < rows; r++)
                {
                    T* src = a + (long)(i0 + r) * lda + pc;
                    for (int p = 0; p < kc; p++) dst[p * MR + r] = alpha * src[p];
                }
            else
                for (int p = 0; p < kc; p++)
                {
                    T* src = a + (long)(pc + p) * lda + i0;
                    for (int r = 0; r < rows; r++) dst[p * MR + r] = alpha * src[r];
                }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<T> Fma<T>(Vector512<T> x, Vector512<T> y, Vector512<T> acc) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();
        return x * y + acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> Fma<T>(Vector256<T> x, Vector256<T> y, Vector256<T> acc) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Vector256.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector256.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();
        return x * y + acc;
    }

    /// <summary>
    /// C[MR, 2W] += Ap[kc, MR]ᵀ·Bp[kc, 2W] for one full register tile (W = Vector512 lanes). Kept free of branches and
    /// calls after the loop: with a tile-shape branch there, the JIT (without tiering) spilled all accumulators to the
    /// stack on every iteration, a 3–4× slowdown.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tier-0 phase; the FullOpts code keeps all 12 accumulators in registers
    static void Kernel512<T>(int kc, T* ap, T* bp, T* c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(bp);
            var b1 = Vector512.Load(bp + w);
            var x = Vector512.Create(ap[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(ap[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector512.Create(ap[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector512.Create(ap[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector512.Create(ap[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector512.Create(ap[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            ap += MR;
            bp += 2 * w;
        }
        (Vector512.Load(c) + c00).Store(c); (Vector512.Load(c + w) + c01).Store(c + w); c += ldc;
        (Vector512.Load(c) + c10).Store(c); (Vector512.Load(c + w) + c11).Store(c + w); c += ldc;
        (Vector512.Load(c) + c20).Store(c); (Vector512.Load(c + w) + c21).Store(c + w); c += ldc;
        (Vector512.Load(c) + c30).Store(c); (Vector512.Load(c + w) + c31).Store(c + w); c += ldc;
        (Vector512.Load(c) + c40).Store(c); (Vector512.Load(c + w) + c41).Store(c + w); c += ldc;
        (Vector512.Load(c) + c50).Store(c); (Vector512.Load(c + w) + c51).Store(c + w);
    }

    /// <summary>Same as <see cref="Kernel512"/> with Vector256 registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // no tier-0 phase; the FullOpts code keeps all 12 accumulators in registers
    static void Kernel256<T>(int kc, T* ap, T* bp, T* c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + w);
            var x = Vector256.Create(ap[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector256.Create(ap[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector256.Create(ap[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector256.Create(ap[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector256.Create(ap[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector256.Create(ap[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            ap += MR;
            bp += 2 * w;
        }
        (Vector256.Load(c) + c00).Store(c); (Vector256.Load(c + w) + c01).Store(c + w); c += ldc;
        (Vector256.Load(c) + c10).Store(c); (Vector256.Load(c + w) + c11).Store(c + w); c += ldc;
        (Vector256.Load(c) + c20).Store(c); (Vector256.Load(c + w) + c21).Store(c + w); c += ldc;
        (Vector256.Load(c) + c30).Store(c); (Vector256.Load(c + w) + c31).Store(c + w); c += ldc;
        (Vector256.Load(c) + c40).Store(c); (Vector256.Load(c + w) + c41).Store(c + w); c += ldc;
        (Vector256.Load(c) + c50).Store(c); (Vector256.Load(c + w) + c51).Store(c + w);
    }

    static void AccPartial<T>(T* tile, int ldt, T* c, int ldc, int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                c[(long)r * ldc + j] += tile[r * ldt + j];
    }
}
