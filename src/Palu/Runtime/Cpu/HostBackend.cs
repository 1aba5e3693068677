using System.Numerics.Tensors;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Runtime.Cpu;

/// <summary>Host memory of a CPU backend (64-byte aligned, zero-filled).</summary>
internal sealed unsafe class HostBuffer(Backend backend, NativeBuffer buffer) : DeviceBuffer
{
    public override Backend Backend { get; } = backend;
    public override long Bytes => buffer.Bytes;
    public byte* Pointer => (byte*)buffer.Pointer;
    public Span<float> Floats(long offset, int length) => new((float*)buffer.Pointer + offset, length);
    public override void Dispose() => buffer.Dispose();
}

/// <summary>A weight in host memory: the checkpoint's own bytes (memory-mapped) or a buffer the loader made.</summary>
internal sealed class HostWeight(WeightMatrix matrix) : DeviceWeight
{
    public WeightMatrix Matrix { get; } = matrix;
    public override int Rows => Matrix.Rows;
    public override int Cols => Matrix.Cols;
    public override DType DType => Matrix.DType;
    public override DeviceWeight SliceRows(int start, int count) => new HostWeight(Matrix.RowRange(start, count));
    public override DeviceWeight ColumnPrefix(int cols) => new HostWeight(Matrix.ColumnPrefix(cols));
}

internal sealed class HostIndices(int[] values) : DeviceIndices
{
    public int[] Values { get; } = values;
    public override int Length => Values.Length;
}

/// <summary>
/// What the two CPU backends share: host memory (weights stay zero-copy views of the checkpoint), data movement
/// (embedding rows, gathers, cache stores in f32/bf16/f16) and the attention dispatch over cache dtypes. The math is
/// the subclass's: <see cref="SimdBackend"/> (fast kernels) or <see cref="ReferenceBackend"/> (the specification).
/// </summary>
public abstract unsafe class HostBackend : Backend
{
    internal static Span<float> S(Buf b) => b.Length == 0 ? default : ((HostBuffer)b.Memory).Floats(b.Offset, b.Length);
    internal static WeightMatrix W(DeviceWeight w) => ((HostWeight)w).Matrix;

    /// <summary>The host matrix behind a weight of a CPU backend (training and compression read weights in place).</summary>
    public static WeightMatrix HostMatrix(DeviceWeight w) =>
        w is HostWeight h ? h.Matrix : throw new NotSupportedException($"weight {w} lives on another backend than the CPU");

    public override DeviceBuffer Allocate(long bytes) => new HostBuffer(this, NativeBuffer.Allocate(bytes));
    public override DeviceWeight Load(in WeightMatrix host) => new HostWeight(host);
    public override DeviceIndices Load(ReadOnlySpan<int> indices) => new HostIndices(indices.ToArray());
    public override void Upload(ReadOnlySpan<float> src, Buf dst) => src.CopyTo(S(dst));
    public override void Download(Buf src, Span<float> dst) => S(src).CopyTo(dst);
    public override ReadOnlySpan<float> Peek(Buf src, ref float[] staging) => S(src);

    public override void Embed(DeviceWeight table, ReadOnlySpan<int> ids, Buf x)
    {
        var m = W(table);
        var xs = S(x);
        int d = m.Cols;
        for (int t = 0; t < ids.Length; t++) m.RowToSingle(ids[t], xs.Slice(t * d, d));
    }

    public override void Add(Buf x, Buf y) => TensorPrimitives.Add(S(x), S(y), S(x));

    public override void CopyBlock(Buf src, int srcStride, int srcCol, Buf dst, int dstStride, int dstCol, int rows, int width)
    {
        var s = S(src); var d = S(dst);
        for (int t = 0; t < rows; t++) s.Slice(t * srcStride + srcCol, width).CopyTo(d.Slice(t * dstStride + dstCol, width));
    }

    public override void Gather(Buf x, DeviceIndices cols, Buf y, int T)
    {
        var c = ((HostIndices)cols).Values;
        var xs = S(x); var ys = S(y);
        int n = xs.Length / Math.Max(T, 1), m = c.Length;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < m; j++) ys[t * m + j] = xs[t * n + c[j]];
    }

    public override void GatherAdd(Buf x, DeviceIndices cols, Buf y, int T)
    {
        var c = ((HostIndices)cols).Values;
        var xs = S(x); var ys = S(y);
        int n = xs.Length / Math.Max(T, 1), m = c.Length;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < m; j++) ys[t * m + j] += xs[t * n + c[j]];
    }

    public override void Store(Buf src, int rowStride, int column, KvStore dst, int start, int T)
    {
        if (start < 0 || start + T > dst.Capacity) throw new ArgumentOutOfRangeException(nameof(T), $"positions [{start}, {start + T}) outside a cache of {dst.Capacity}");
        var s = S(src);
        int w = dst.Width, size = DTypes.Size(dst.DType);
        byte* basePtr = ((HostBuffer)dst.Memory).Pointer;
        for (int h = 0; h < dst.Heads; h++)
            for (int t = 0; t < T; t++)
            {
                var row = s.Slice(t * rowStride + column + h * w, w);
                byte* p = basePtr + ((long)h * dst.Capacity + start + t) * w * size;
                switch (dst.DType)
                {
                    case DType.F32: row.CopyTo(new Span<float>(p, w)); break;
                    case DType.BF16: FloatConvert.SingleToBF16(row, new Span<ushort>(p, w)); break;
                    default: TensorPrimitives.ConvertToHalf(row, new Span<Half>(p, w)); break;
                }
            }
    }

    public override void Attention(Buf q, KvStore k, KvStore v, Buf output, in AttentionCall c)
    {
        if (k.DType == DType.F32 && v.DType == DType.F32)
        {
            Attention(S(q), Floats(k), Floats(v), S(output), c, k.Capacity, v.Width);
            return;
        }
        int positions = c.StartPos + c.T;
        var ks = Widen(k, positions, ThreadScratch.Slot.WidenKeys);
        var vs = Widen(v, positions, ThreadScratch.Slot.WidenValues);
        Attention(S(q), ks, vs, S(output), c, positions, v.Width);
    }

    static ReadOnlySpan<float> Floats(KvStore store) => ((HostBuffer)store.Memory).Floats(0, store.Heads * store.Capacity * store.Width);

    /// <summary>The first <paramref name="positions"/> positions of every head of a bf16/f16 store widened to f32 in
    /// per-thread scratch: [Heads, positions, Width].</summary>
    static ReadOnlySpan<float> Widen(KvStore store, int positions, ThreadScratch.Slot slot)
    {
        var mem = (HostBuffer)store.Memory;
        int w = store.Width, n = positions * w, size = DTypes.Size(store.DType);
        float* dst = ThreadScratch.Floats(slot, (long)store.Heads * n);
        for (int h = 0; h < store.Heads; h++)
            FloatConvert.ToSingle(mem.Pointer + (long)h * store.Capacity * w * size, store.DType, new Span<float>(dst + (long)h * n, n));
        return new ReadOnlySpan<float>(dst, store.Heads * n);
    }

    /// <summary>The f32 attention kernel. k [H_kv, stride, d_h], v [H_kv, stride, dv], out [T, H, dv].</summary>
    protected abstract void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> output,
        in AttentionCall c, int stride, int dv);

    public override void LatentAttention(Buf q, ReadOnlySpan<LatentHead> heads, Buf kNorm, float normEps, RopeTable rope,
        ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall c)
    {
        var views = new LatentHeadView[heads.Length];   // [H_kv]
        for (int i = 0; i < heads.Length; i++)
        {
            var h = heads[i];
            if (h.KeyLatents.DType != DType.F32 || h.ValueLatents.DType != DType.F32)
                throw new NotSupportedException("latent caches are stored in f32 on the CPU");
            views[i] = new LatentHeadView(
                (float*)((HostBuffer)h.KeyLatents.Memory).Pointer, h.KeyLatents.Width, W(h.KeyUp),
                h.KeyBias.IsEmpty ? null : (float*)((HostBuffer)h.KeyBias.Memory).Pointer + h.KeyBias.Offset,
                (float*)((HostBuffer)h.ValueLatents.Memory).Pointer, h.ValueLatents.Width);
        }
        var shape = new LatentAttentionShape(c.Heads, c.KvHeads, c.HeadDim, rope, normEps, c.Window);
        LatentAttention(S(q), views, S(kNorm), shape, zOffsets, S(z), c.T, c.StartPos);
    }

    public override void QuantizeStore(Buf src, int rowStride, int column, PackedKvStore dst, int start, int T)
    {
        if (start < 0 || start + T > dst.Capacity) throw new ArgumentOutOfRangeException(nameof(T), $"positions [{start}, {start + T}) outside a cache of {dst.Capacity}");
        var s = S(src);
        var l = dst.Layout;
        for (int t = 0; t < T; t++) LatentQuant.QuantizeRow(s.Slice(t * rowStride + column, l.Width), l, Rows(dst, start + t, 1));
    }

    public override void Dequantize(PackedKvStore src, int start, int n, Buf dst) => Dequantize(Rows(src, start, n), src.Layout, n, S(dst));

    public override void KiviQuantize(KvStore k, KvStore v, int start, int count, int bits)
    {
        if (k.DType != DType.F32 || v.DType != DType.F32) throw new NotSupportedException("KIVI quantises f32 stores");
        const int G = 32;
        if (start % G != 0 || count % G != 0) throw new ArgumentException($"KIVI quantises whole blocks of {G} positions, got [{start}, {start + count})");
        var ks = ((HostBuffer)k.Memory).Floats(0, k.Heads * k.Capacity * k.Width);   // [H_kv, capacity, d_h]
        var keys = QuantLayout.Create(G, bits, 0);          // one channel over a block of 32 positions
        var values = QuantLayout.Create(v.Width, bits, G);  // one position's d_h channels, groups of 32
        var column = new float[G];                          // [32] one channel of one block
        for (int h = 0; h < k.Heads; h++)
            for (int b = start; b < start + count; b += G)
                for (int c = 0; c < k.Width; c++)
                {
                    int at = (h * k.Capacity + b) * k.Width + c;
                    for (int t = 0; t < G; t++) column[t] = ks[at + t * k.Width];
                    LatentQuant.FakeQuantize(column, keys);
                    for (int t = 0; t < G; t++) ks[at + t * k.Width] = column[t];
                }
        for (int h = 0; h < v.Heads; h++)
            LatentQuant.FakeQuantize(((HostBuffer)v.Memory).Floats(((long)h * v.Capacity + start) * v.Width, count * v.Width), values);
    }

    /// <summary>Rows [start, start + n) of a packed store: [n, RowBytes] bytes.</summary>
    static Span<byte> Rows(PackedKvStore store, int start, int n) =>
        new(((HostBuffer)store.Memory).Pointer + (long)start * store.Layout.RowBytes, n * store.Layout.RowBytes);

    /// <summary>The dequantisation kernel: rows [n, RowBytes] → x [n, Width].</summary>
    protected abstract void Dequantize(ReadOnlySpan<byte> rows, in QuantLayout layout, int n, Span<float> x);

    /// <summary>Latent attention over packed stores (<see cref="SimdBackend"/>: each KV head's groups dequantised on
    /// the thread that attends with it; <see cref="ReferenceBackend"/>: every store dequantised first).</summary>
    public override void PackedLatentAttention(Buf q, ReadOnlySpan<PackedLatentHead> heads, Buf kNorm, float normEps, RopeTable rope,
        ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall c) =>
        PackedLatentAttention(S(q), heads.ToArray(), S(kNorm), new LatentAttentionShape(c.Heads, c.KvHeads, c.HeadDim, rope, normEps, c.Window),
            zOffsets, S(z), c.T, c.StartPos);

    protected abstract void PackedLatentAttention(ReadOnlySpan<float> q, PackedLatentHead[] heads, ReadOnlySpan<float> kNorm,
        LatentAttentionShape shape, ReadOnlySpan<int> zOffsets, Span<float> z, int T, int startPos);

    /// <summary>Head h's view with null latent pointers (ranks, up-projection and bias only).</summary>
    internal static LatentHeadView View(in PackedLatentHead h, float* keys = null, float* values = null) =>
        new(keys, h.KeyLatents.Width, W(h.KeyUp), h.KeyBias.IsEmpty ? null : (float*)((HostBuffer)h.KeyBias.Memory).Pointer + h.KeyBias.Offset,
            values, h.ValueLatents.Width);

    /// <summary>Rows [first, positions) of a packed store dequantised into <paramref name="dst"/> [positions, r] (rows
    /// below first untouched).</summary>
    internal void Dequantize(PackedKvStore store, int first, int positions, float* dst) =>
        Dequantize(Rows(store, first, positions - first), store.Layout, positions - first,
            new Span<float>(dst + (long)first * store.Width, (positions - first) * store.Width));

    /// <summary>The latent attention kernel over host views of the cache.</summary>
    protected abstract void LatentAttention(ReadOnlySpan<float> q, ReadOnlySpan<LatentHeadView> heads, ReadOnlySpan<float> kNorm,
        LatentAttentionShape shape, ReadOnlySpan<int> zOffsets, Span<float> z, int T, int startPos);
}
