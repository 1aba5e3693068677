using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Palu.Tensors;

/// <summary>Conversions between storage dtypes and float32 compute.</summary>
public static class FloatConvert
{
    /// <summary>bf16 -> f32 is exact: the bf16 bits are the high half of the f32 bits.</summary>
    public static float BF16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>f32 -> bf16 with round-to-nearest-even (NaN kept quiet), as torch does.</summary>
    public static ushort SingleToBF16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 0x40);
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    /// <summary>Widens <paramref name="count"/> elements at <paramref name="src"/> of type <paramref name="type"/> to f32.</summary>
    public static unsafe void ToSingle(void* src, DType type, Span<float> dst)
    {
        int n = dst.Length;
        switch (type)
        {
            case DType.F32:
                new ReadOnlySpan<float>(src, n).CopyTo(dst);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, n), dst);
                break;
            case DType.BF16:
                BF16ToSingle(new ReadOnlySpan<ushort>(src, n), dst);
                break;
            case DType.F64:
                {
                    var s = new ReadOnlySpan<double>(src, n);
                    for (int i = 0; i < n; i++) dst[i] = (float)s[i];
                    break;
                }
            default:
                throw new NotSupportedException($"cannot convert {DTypes.Name(type)} to F32");
        }
    }

    public static void BF16ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        // Widen u16 -> u32 and shift left 16: the result's bits are the f32.
        var bits = MemoryMarshal.Cast<float, uint>(dst);
        TensorPrimitives.ConvertChecked<ushort, uint>(src, bits);
        TensorPrimitives.ShiftLeft(bits, 16, bits);
    }

    public static void SingleToBF16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = SingleToBF16(src[i]);
    }
}
