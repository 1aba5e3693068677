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

    /// <summary>Each KV head's key and value groups are dequantised on the thread that attends with it, into that
    /// thread's scratch ([S, r^K] + [S, r^V] floats: never the layer's whole cache), then the f32 kernel runs: the same
    /// numbers as an f32 cache of the dequantised latents.</summary>
    protected override unsafe void PackedLatentAttention(ReadOnlySpan<float> q, PackedLatentHead[] heads, ReadOnlySpan<float> kNorm,
        LatentAttentionShape shape, ReadOnlySpan<int> zOffsets, Span<float> z, int T, int startPos)
    {
        var views = heads.Select(h => View(h)).ToArray();   // [H_kv] ranks only
        LatentAttentionKernels.Fast(q, views, kNorm, T, startPos, shape, zOffsets, z, (kh, first, positions) =>
        {
            var h = heads[kh];
            float* k = ThreadScratch.Floats(ThreadScratch.Slot.PackedKeys, (long)positions * h.KeyLatents.Width);      // [S, r^K]
            float* v = ThreadScratch.Floats(ThreadScratch.Slot.PackedValues, (long)positions * h.ValueLatents.Width);  // [S, r^V]
            Dequantize(h.KeyLatents, first, positions, k);
            Dequantize(h.ValueLatents, first, positions, v);
            return View(h, k, v);
        });
    }

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

    /// <summary>The specification: every store dequantised (positions [first, S)), then the reference latent kernel.</summary>
    protected override unsafe void PackedLatentAttention(ReadOnlySpan<float> q, PackedLatentHead[] heads, ReadOnlySpan<float> kNorm,
        LatentAttentionShape shape, ReadOnlySpan<int> zOffsets, Span<float> z, int T, int startPos)
    {
        int positions = startPos + T, first = shape.SlidingWindow is int w ? Math.Max(0, startPos - w + 1) : 0;
        var floats = new Dictionary<PackedKvStore, Tensors.NativeBuffer>();   // each store once: [S, r]
        try
        {
            float* Of(PackedKvStore st)
            {
                if (!floats.TryGetValue(st, out var b))
                {
                    floats[st] = b = Tensors.NativeBuffer.Allocate((long)positions * st.Width * sizeof(float));
                    Dequantize(st, first, positions, (float*)b.Pointer);
                }
                return (float*)b.Pointer;
            }
            var views = heads.Select(h => View(h, Of(h.KeyLatents), Of(h.ValueLatents))).ToArray();
            LatentAttentionKernels.Reference(q, views, kNorm, T, startPos, shape, zOffsets, z);
        }
        finally { foreach (var b in floats.Values) b.Dispose(); }
    }
}
