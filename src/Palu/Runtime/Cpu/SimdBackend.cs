using Palu.Kernels.Cpu;

namespace Palu.Runtime.Cpu;

/// <summary>
/// The CPU backend (<c>--device cpu</c>): <see cref="SimdKernels"/> (AVX-512, or the portable TensorPrimitives path
/// where Vector512 is not accelerated) on <see cref="Parallelism.Threads"/> threads. Stateless: one instance serves
/// every model and thread.
/// </summary>
public sealed class SimdBackend : HostBackend
{
    public static SimdBackend Instance { get; } = new();

    public override string Name => "cpu";

    public override void MatMul(Buf x, DeviceWeight w, Buf y, int T) => SimdKernels.MatMul(S(x), W(w), S(y), T);
    public override void MatMul(ReadOnlySpan<float> x, DeviceWeight w, Span<float> y, int T) => SimdKernels.MatMul(x, W(w), y, T);
    public override void AddBias(Buf y, Buf bias, int T) => SimdKernels.AddBias(S(y), S(bias), T);
    public override void RmsNorm(Buf x, Buf weight, Buf y, int rows, float eps) => SimdKernels.RmsNorm(S(x), S(weight), S(y), rows, eps);
    public override void Rope(Buf x, int T, int heads, int startPos, RopeTable table) => SimdKernels.Rope(S(x), T, heads, startPos, table);
    public override void SwiGlu(Buf gate, Buf up) => SimdKernels.SwiGlu(S(gate), S(up));

    protected override void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output,
        in AttentionCall c, int stride, int dv) =>
        SimdKernels.Attention(q, k, v, output, c.T, c.StartPos, c.Heads, c.KvHeads, c.HeadDim, stride, c.Window, dv);

    protected override void LatentAttention(ReadOnlySpan<float> q, ReadOnlySpan<LatentHeadView> heads, ReadOnlySpan<float> kNorm,
        LatentAttentionShape shape, ReadOnlySpan<int> zOffsets, Span<float> z, int T, int startPos) =>
        LatentAttentionKernels.Fast(q, heads, kNorm, T, startPos, shape, zOffsets, z);

    protected override void Dequantize(ReadOnlySpan<byte> rows, in QuantLayout layout, int n, Span<float> x) => LatentQuant.Dequantize(rows, layout, n, x);

    /// <summary>Sequences of a batch on the kernel threads (each one's kernels then stay on its thread, which gives the
    /// same bits as running it alone).</summary>
    public override void ForEach(int count, Action<int> body)
    {
        if (count <= 1 || Parallelism.Threads <= 1) { base.ForEach(count, body); return; }
        KernelThreads.For(count, body);
    }
}

/// <summary>
/// The specification as a backend (<c>--device cpu-reference</c>): <see cref="ReferenceKernels"/> and
/// <see cref="LatentAttentionKernels.Reference"/>, plain loops with double accumulators, one thread. Slow; the op table
/// and end-to-end tests compare every other backend with it.
/// </summary>
public sealed class ReferenceBackend : HostBackend
{
    public static ReferenceBackend Instance { get; } = new();

    public override string Name => "cpu-reference";

    public override void MatMul(Buf x, DeviceWeight w, Buf y, int T) => ReferenceKernels.MatMul(S(x), W(w), S(y), T);
    public override void MatMul(ReadOnlySpan<float> x, DeviceWeight w, Span<float> y, int T) => ReferenceKernels.MatMul(x, W(w), y, T);
    public override void AddBias(Buf y, Buf bias, int T) => ReferenceKernels.AddBias(S(y), S(bias), T);
    public override void RmsNorm(Buf x, Buf weight, Buf y, int rows, float eps) => ReferenceKernels.RmsNorm(S(x), S(weight), S(y), rows, eps);
    public override void Rope(Buf x, int T, int heads, int startPos, RopeTable table) => ReferenceKernels.Rope(S(x), T, heads, startPos, table);
    public override void SwiGlu(Buf gate, Buf up) => ReferenceKernels.SwiGlu(S(gate), S(up));

    protected override void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output,
        in AttentionCall c, int stride, int dv) =>
        ReferenceKernels.Attention(q, k, v, output, c.T, c.StartPos, c.Heads, c.KvHeads, c.HeadDim, stride, c.Window, dv);

    protected override void LatentAttention(ReadOnlySpan<float> q, ReadOnlySpan<LatentHeadView> heads, ReadOnlySpan<float> kNorm,
        LatentAttentionShape shape, ReadOnlySpan<int> zOffsets, Span<float> z, int T, int startPos) =>
        LatentAttentionKernels.Reference(q, heads, kNorm, T, startPos, shape, zOffsets, z);

    protected override void Dequantize(ReadOnlySpan<byte> rows, in QuantLayout layout, int n, Span<float> x) => LatentQuant.DequantizeReference(rows, layout, n, x);
}
