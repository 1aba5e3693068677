using Palu.Tensors;

namespace Palu.Runtime;

/// <summary>
/// Bytes owned by one <see cref="Backend"/>: host memory for the CPU backends, device memory for a GPU backend. Only
/// the backend that made it reads or writes it; everyone else passes it around (as <see cref="Buf"/> views, cache
/// stores and weights).
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    public abstract Backend Backend { get; }
    public abstract long Bytes { get; }
    public abstract void Dispose();

    /// <summary>The whole buffer as f32 elements.</summary>
    public Buf All => new(this, 0, checked((int)(Bytes / sizeof(float))));
}

/// <summary>
/// A run of <see cref="Length"/> f32 values starting <see cref="Offset"/> floats into a <see cref="DeviceBuffer"/>: the
/// operand type of <see cref="Backend"/> ops (activations, norm weights, biases). Shapes are in each op's comment.
/// </summary>
public readonly struct Buf
{
    public readonly DeviceBuffer Memory;
    public readonly long Offset;
    public readonly int Length;

    public Buf(DeviceBuffer memory, long offset, int length)
    {
        if (offset < 0 || length < 0 || (offset + length) * sizeof(float) > memory.Bytes)
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset + length}) floats outside a buffer of {memory.Bytes} bytes");
        Memory = memory; Offset = offset; Length = length;
    }

    public bool IsEmpty => Memory is null || Length == 0;
    public Buf Slice(int start, int length) => new(Memory, Offset + start, length);
    public Buf Slice(int start) => new(Memory, Offset + start, Length - start);
    public override string ToString() => $"Buf[{Offset}, +{Length}]";
}

/// <summary>
/// A weight matrix W [Rows, Cols] (PyTorch layout [out, in], so y = x·Wᵀ) of F32/F16/BF16 elements as a backend holds
/// it: on the CPU a zero-copy view of the memory-mapped checkpoint; on a GPU a copy in device memory.
/// </summary>
public abstract class DeviceWeight
{
    public abstract int Rows { get; }
    public abstract int Cols { get; }
    public abstract DType DType { get; }
    public long Bytes => (long)Rows * Cols * DTypes.Size(DType);

    /// <summary>Rows [start, start + count) as a weight of their own (no copy).</summary>
    public abstract DeviceWeight SliceRows(int start, int count);

    /// <summary>Columns [0, cols) of every row as a weight of their own (no copy; rows keep their stride).</summary>
    public abstract DeviceWeight ColumnPrefix(int cols);

    public override string ToString() => $"[{Rows}, {Cols}] {DTypes.Name(DType)}";
}

/// <summary>Integer indices (an input-channel gather) held by a backend.</summary>
public abstract class DeviceIndices
{
    public abstract int Length { get; }
}
