namespace Palu.Tensors;

/// <summary>
/// A row-major matrix [Rows, Cols] of F32, F16 or BF16 elements at a fixed address: inside a memory-mapped
/// safetensors file (zero copy) or in a <see cref="NativeBuffer"/>. <see cref="Owner"/> keeps that memory alive.
/// Linear layers store W as [out, in] (PyTorch layout), so y = x·Wᵀ. Rows are <see cref="Stride"/> elements apart
/// (= Cols unless the matrix is a column prefix of a wider one: a low-rank factor used at an active rank below its
/// stored rank).
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public readonly void* Data;
    public readonly DType DType;
    public readonly int Rows;
    public readonly int Cols;
    public readonly object? Owner;
    /// <summary>Elements from one row's start to the next (≥ Cols).</summary>
    public readonly int Stride;

    public WeightMatrix(void* data, DType dtype, int rows, int cols, object? owner, int? stride = null)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new NotSupportedException($"weights must be F32, F16 or BF16, not {DTypes.Name(dtype)}");
        if (stride is int s && s < cols) throw new ArgumentOutOfRangeException(nameof(stride), $"row stride {s} below {cols} columns");
        Data = data; DType = dtype; Rows = rows; Cols = cols; Owner = owner; Stride = stride ?? cols;
    }

    /// <summary>Columns [0, cols) of every row, without a copy (rows keep their stride).</summary>
    public WeightMatrix ColumnPrefix(int cols)
    {
        if (cols < 0 || cols > Cols) throw new ArgumentOutOfRangeException(nameof(cols), $"prefix of {cols} columns of {Cols}");
        return new WeightMatrix(Data, DType, Rows, cols, Owner, Stride);
    }

    /// <summary>Rows [start, start + count), without a copy.</summary>
    public WeightMatrix RowRange(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows) throw new ArgumentOutOfRangeException(nameof(count), $"rows [{start}, {start + count}) of {Rows}");
        return new WeightMatrix(Row(start), DType, count, Cols, Owner, Stride);
    }

    /// <summary>Copies f32 values [rows, cols] into a new aligned native buffer.</summary>
    public static WeightMatrix FromFloats(ReadOnlySpan<float> data, int rows, int cols)
    {
        if (data.Length != (long)rows * cols) throw new ArgumentException($"expected {rows}x{cols} values, got {data.Length}");
        var buf = NativeBuffer.FromFloats(data);
        return new WeightMatrix(buf.Pointer, DType.F32, rows, cols, buf);
    }

    public int ElementSize => DTypes.Size(DType);
    /// <summary>Bytes of the elements (what a product reads), not counting the gaps of a strided view.</summary>
    public long Bytes => (long)Rows * Cols * ElementSize;
    public void* Row(int r) => (byte*)Data + (long)r * Stride * ElementSize;

    /// <summary>Widens row <paramref name="r"/> to f32.</summary>
    public void RowToSingle(int r, Span<float> dst) => FloatConvert.ToSingle(Row(r), DType, dst[..Cols]);

    /// <summary>The whole matrix as a new f32 array [Rows*Cols].</summary>
    public float[] ToFloats()
    {
        var a = new float[(long)Rows * Cols];
        for (int r = 0; r < Rows; r++) RowToSingle(r, a.AsSpan(r * Cols, Cols));
        return a;
    }

    public override string ToString() => $"[{Rows}, {Cols}] {DTypes.Name(DType)}";
}
