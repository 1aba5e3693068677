using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Fast CPU kernels (Vector512 / TensorPrimitives, multithreaded over <see cref="Parallelism.Threads"/>).
/// Same signatures and results as <see cref="ReferenceKernels"/> up to float rounding.
/// </summary>
public static class SimdKernels
{
    // TODO(kernels): replace each body with a SIMD version; until then these forward to the reference.
    public static void MatMul(ReadOnlySpan<float> x, in WeightMatrix w, Span<float> y, int T) => ReferenceKernels.MatMul(x, w, y, T);
    public static void AddBias(Span<float> y, ReadOnlySpan<float> bias, int T) => ReferenceKernels.AddBias(y, bias, T);
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int T, float eps) => ReferenceKernels.RmsNorm(x, weight, y, T, eps);
    public static void Softmax(Span<float> x) => ReferenceKernels.Softmax(x);
    public static void Rope(Span<float> x, int T, int heads, int startPos, RopeTable table) => ReferenceKernels.Rope(x, T, heads, startPos, table);
    public static void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        Span<float> output, int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window = null)
        => ReferenceKernels.Attention(q, kCache, vCache, output, T, startPos, H, Hkv, d, maxSeq, window);
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up) => ReferenceKernels.SwiGlu(gate, up);
}

/// <summary>How many threads kernels may use (default: all cores).</summary>
public static class Parallelism
{
    public static int Threads { get; set; } = Environment.ProcessorCount;
}
