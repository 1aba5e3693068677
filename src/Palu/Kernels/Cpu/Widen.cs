using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Loads 16 weights of one storage dtype as a Vector512&lt;float&gt; (the widening is fused into the consumer's loop).
/// Implemented by empty structs so that generic kernels specialised on them compile to straight-line code.
/// </summary>
internal unsafe interface IWeightLoader
{
    /// <summary>Bytes per element.</summary>
    static abstract int Size { get; }

    /// <summary>Elements [i, i + 16) of the row at <paramref name="row"/>, widened to f32.</summary>
    static abstract Vector512<float> Load16(byte* row, int i);

    /// <summary>Element i of the row, widened to f32.</summary>
    static abstract float Load1(byte* row, int i);
}

internal unsafe struct F32Loader : IWeightLoader
{
    public static int Size => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, int i) => Vector512.Load((float*)row + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, int i) => ((float*)row)[i];
}

/// <summary>bf16 → f32 is exact: zero-extend the 16 bits to 32 and shift them into the high half.</summary>
internal unsafe struct BF16Loader : IWeightLoader
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, int i)
    {
        Vector512<uint> wide = Vector512.WidenLower(Vector256.Load((ushort*)row + i).ToVector512Unsafe());
        return Vector512.ShiftLeft(wide, 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, int i) => FloatConvert.BF16ToSingle(((ushort*)row)[i]);
}

/// <summary>
/// IEEE half → f32 with integer ops (.NET exposes no vcvtph2ps): place exponent+mantissa 13 bits up and multiply by
/// 2^112, which rebias the exponent and turns f16 subnormals into f32 normals exactly; Inf/NaN get an all-ones exponent.
/// </summary>
internal unsafe struct F16Loader : IWeightLoader
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, int i)
    {
        Vector512<uint> h = Vector512.WidenLower(Vector256.Load((ushort*)row + i).ToVector512Unsafe());
        return Convert(h);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Convert(Vector512<uint> h)
    {
        Vector512<uint> em = h & Vector512.Create(0x7FFFu);
        Vector512<uint> sign = Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16);
        Vector512<uint> shifted = Vector512.ShiftLeft(em, 13);
        Vector512<float> finite = shifted.AsSingle() * Vector512.Create(BitConverter.Int32BitsToSingle(0x7780_0000)); // 2^112
        Vector512<uint> special = shifted | Vector512.Create(0x7F80_0000u);                                          // Inf / NaN
        Vector512<uint> isSpecial = Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7C00u));
        return (Vector512.ConditionalSelect(isSpecial, special, finite.AsUInt32()) | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, int i) => (float)((Half*)row)[i];
}
