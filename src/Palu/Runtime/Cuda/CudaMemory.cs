using Palu.Tensors;

namespace Palu.Runtime.Cuda;

/// <summary>Device memory from cuMemAlloc, freed once (Dispose or the owning model's release).</summary>
internal sealed class CudaBuffer : DeviceBuffer
{
    readonly CudaBackend _backend;
    ulong _ptr;

    public CudaBuffer(CudaBackend backend, ulong ptr, long bytes) { _backend = backend; _ptr = ptr; Bytes = bytes; }

    public override Backend Backend => _backend;
    public override long Bytes { get; }
    public ulong Pointer => _ptr != 0 ? _ptr : throw new ObjectDisposedException(nameof(CudaBuffer), "device buffer used after it was freed");
    public bool Freed => _ptr == 0;

    public override void Dispose()
    {
        ulong p = Interlocked.Exchange(ref _ptr, 0);
        if (p != 0) _backend.Free(p, Bytes);
    }

    /// <summary>Device address of float <paramref name="offset"/>.</summary>
    public ulong At(long offset) => Pointer + (ulong)(offset * sizeof(float));
}

/// <summary>A weight matrix in device memory: [Rows, Cols] of <see cref="DType"/>, rows <see cref="Stride"/> elements apart.</summary>
internal sealed class CudaWeight(CudaBuffer memory, long offsetBytes, int rows, int cols, int stride, DType dtype) : DeviceWeight
{
    public CudaBuffer Memory { get; } = memory;
    public ulong Pointer => Memory.Pointer + (ulong)offsetBytes;
    public int Stride { get; } = stride;
    public override int Rows { get; } = rows;
    public override int Cols { get; } = cols;
    public override DType DType { get; } = dtype;

    public override DeviceWeight SliceRows(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows) throw new ArgumentOutOfRangeException(nameof(count), $"rows [{start}, {start + count}) of {Rows}");
        return new CudaWeight(Memory, offsetBytes + (long)start * Stride * DTypes.Size(DType), count, Cols, Stride, DType);
    }

    public override DeviceWeight ColumnPrefix(int cols)
    {
        if (cols < 0 || cols > Cols) throw new ArgumentOutOfRangeException(nameof(cols), $"prefix of {cols} columns of {Cols}");
        return new CudaWeight(Memory, offsetBytes, Rows, cols, Stride, DType);
    }
}

internal sealed class CudaIndices(CudaBuffer memory, int length) : DeviceIndices
{
    public CudaBuffer Memory { get; } = memory;
    public override int Length { get; } = length;
}
