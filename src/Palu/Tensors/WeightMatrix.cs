namespace Palu.Tensors;

/// <summary>
/// A row-major matrix [Rows, Cols] of F32, F16 or BF16 elements at a fixed address: inside a memory-mapped
/// safetensors file (zero copy) or in a <see cref="NativeBuffer"/>. <see cref="Owner"/> keeps that memory alive.
/// Linear layers store W as [out, in] (PyTorch layout), so y = x·Wᵀ.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public readonly void* Data;
    public readonly DType DType;
    public readonly int Rows;
    public readonly int Cols;
    public readonly object? Owner;

    public WeightMatrix(void* data, DType dtype, int rows, int cols, object? owner)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new NotSupportedException($"weights must be F32, F16 or BF16, not {DTypes.Name(dtype)}");
        Data = data; DType = dtype; Rows = rows; Cols = cols; Owner = owner;
    }

    /// <summary>Copies f32 values [rows, cols] into a new aligned native buffer.</summary>
    public static WeightMatrix FromFloats(ReadOnlySpan<float> data, int rows, int cols)
    {
        if (data.Length != (long)rows * cols) throw new ArgumentException($"expected {rows}x{cols} values, got {data.Length}");
        var buf = NativeBuffer.FromFloats(data);
        return new WeightMatrix(buf.Pointer, DType.F32, rows, cols, buf);
    }

    public int ElementSize => DTypes.Size(DType);
    public long Bytes => (long)Rows * Cols * ElementSize;
    public void* Row(int r) => (byte*)Data + (long)r * Cols * ElementSize;

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
