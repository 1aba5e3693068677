using System.Runtime.Intrinsics;
using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Fast CPU kernels (Vector512 / TensorPrimitives, multithreaded over <see cref="Parallelism.Threads"/>).
/// Same signatures and results as <see cref="ReferenceKernels"/> up to float rounding; tests compare the two.
/// The work is done in <see cref="MatMulKernels"/> (GEMV) / <see cref="GemmKernels"/> (GEMM),
/// <see cref="ElementwiseKernels"/> and <see cref="AttentionKernels"/>.
/// Written for AVX-512 (Vector512 hardware-accelerated); elsewhere every call goes to <see cref="PortableKernels"/>.
/// Threads: work is split by output (rows/columns of y, attention heads, key segments), so results are bit-identical
/// for any <see cref="Parallelism.Threads"/>. Safe to call from several threads at once: one caller at a time uses the
/// kernels' own spinning helper threads (<see cref="KernelThreads"/>), others fall back to the .NET thread pool.
/// Buffers (packed panels, scores, partial results) are per-thread scratch, reused across calls; a call that goes
/// parallel allocates only its small job object and closure.
/// </summary>
public static class SimdKernels
{
    /// <summary>True where Vector512 would be emulated in software: then the TensorPrimitives kernels run instead.</summary>
    public static bool Portable { get; } = !Vector512.IsHardwareAccelerated;

    /// <summary>y = x·Wᵀ. x [T, n], W [m, n] (F32/F16/BF16), y [T, m].</summary>
    public static void MatMul(ReadOnlySpan<float> x, in WeightMatrix w, Span<float> y, int T)
    {
        if (Portable) PortableKernels.MatMul(x, w, y, T);
        else MatMulKernels.MatMul(x, w, y, T);
    }

    /// <summary>y[t] += bias. y [T, m], bias [m].</summary>
    public static void AddBias(Span<float> y, ReadOnlySpan<float> bias, int T) => ElementwiseKernels.AddBias(y, bias, T);

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight, per row. x, y [T, n], weight [n]. x and y may alias.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int T, float eps)
    {
        if (Portable) PortableKernels.RmsNorm(x, weight, y, T, eps);
        else ElementwiseKernels.RmsNorm(x, weight, y, T, eps);
    }

    /// <summary>In-place softmax of one row.</summary>
    public static void Softmax(Span<float> x)
    {
        if (Portable) PortableKernels.Softmax(x);
        else ElementwiseKernels.Softmax(x);
    }

    /// <summary>log Σ exp(x) of one row, max-shifted, without modifying it (log-softmax[i] = x[i] − LogSumExp(x)).</summary>
    public static double LogSumExp(ReadOnlySpan<float> x) => Portable ? PortableKernels.LogSumExp(x) : ElementwiseKernels.LogSumExp(x);

    /// <summary>In-place rotate-half RoPE. x [T, heads, d]; token t sits at absolute position startPos + t.</summary>
    public static void Rope(Span<float> x, int T, int heads, int startPos, RopeTable table)
    {
        if (Portable) PortableKernels.Rope(x, T, heads, startPos, table);
        else ElementwiseKernels.Rope(x, T, heads, startPos, table);
    }

    /// <summary>Causal GQA attention over a dense cache; see <see cref="ReferenceKernels.Attention"/>. q [T, H, d],
    /// kCache [Hkv, maxSeq, d]; values may have their own width <paramref name="dv"/> (default d): vCache
    /// [Hkv, maxSeq, dv], out [T, H, dv] (Palu's latent path attends over value latents).</summary>
    public static void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        Span<float> output, int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window = null, int? dv = null)
    {
        if (Portable) PortableKernels.Attention(q, kCache, vCache, output, T, startPos, H, Hkv, d, maxSeq, window, dv ?? d);
        else AttentionKernels.Attention(q, kCache, vCache, output, T, startPos, H, Hkv, d, maxSeq, window, dv ?? d);
    }

    /// <summary>gate = silu(gate) · up, elementwise. gate, up [T, f].</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (Portable) PortableKernels.SwiGlu(gate, up);
        else ElementwiseKernels.SwiGlu(gate, up);
    }
}

/// <summary>
/// How many threads kernels may use, read at every call (1 runs everything on the caller). The process default is all
/// cores, set once at start-up by <see cref="SetDefaultThreads"/> (the CLI's <c>--threads</c>); a thread that shares
/// the cores with others (a worker among N) narrows its own share with <see cref="Limit"/>, which changes nothing for
/// any other thread. There is no other mutable state: one command cannot change another's thread count.
/// </summary>
public static class Parallelism
{
    static int s_default = Environment.ProcessorCount;
    [ThreadStatic] static int t_limit;   // 0 = none

    /// <summary>Threads the kernels called from this thread use: its <see cref="Limit"/> if any, else the default.</summary>
    public static int Threads => t_limit > 0 ? t_limit : s_default;

    /// <summary>The process-wide default (all cores unless set).</summary>
    public static int DefaultThreads => s_default;

    /// <summary>Sets the process-wide default; meant for start-up (the CLI's <c>--threads</c>, a benchmark's option).</summary>
    public static void SetDefaultThreads(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), $"--threads must be ≥ 1, got {threads}");
        s_default = threads;
    }

    /// <summary>Kernels called from this thread use at most <paramref name="threads"/> threads until the result is disposed.</summary>
    public static Scope Limit(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), $"thread limit must be ≥ 1, got {threads}");
        var scope = new Scope(t_limit);
        t_limit = threads;
        return scope;
    }

    /// <summary>Restores the calling thread's previous limit.</summary>
    public readonly struct Scope(int previous) : IDisposable
    {
        public void Dispose() => t_limit = previous;
    }
}
