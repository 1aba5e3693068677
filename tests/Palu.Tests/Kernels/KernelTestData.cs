using Palu.Tensors;

namespace Palu.Tests.Kernels;

/// <summary>Random inputs with fixed seeds, weights in every dtype, and the error measure the kernel tests share.</summary>
internal static class KernelTestData
{
    /// <summary>Uniform values in [-scale, scale).</summary>
    public static float[] Uniform(int seed, long count, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>max|actual − expected| / max|expected| (just max|Δ| when expected is all zero).</summary>
    public static double MaxRelError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) != double.IsNaN(a)) return double.PositiveInfinity;
            if (double.IsNaN(e)) continue;
            maxDiff = Math.Max(maxDiff, Math.Abs(a - e));
            maxRef = Math.Max(maxRef, Math.Abs(e));
        }
        return maxRef > 0 ? maxDiff / maxRef : maxDiff;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        double err = MaxRelError(expected, actual);
        Assert.True(err <= tolerance, $"{what}: max relative error {err:E2} > {tolerance:E0}");
    }

    /// <summary>
    /// W [rows, cols] in <paramref name="dtype"/>, from <paramref name="values"/> rounded to that dtype
    /// (BF16 with <see cref="FloatConvert.SingleToBF16(float)"/>, F16 with a Half cast). The buffer owns the memory.
    /// </summary>
    public static unsafe WeightMatrix Weights(float[] values, int rows, int cols, DType dtype, out NativeBuffer owner)
    {
        owner = NativeBuffer.Allocate((long)rows * cols * DTypes.Size(dtype));
        switch (dtype)
        {
            case DType.F32: values.CopyTo(owner.AsSpan<float>()); break;
            case DType.BF16:
                {
                    var d = owner.AsSpan<ushort>();
                    for (int i = 0; i < values.Length; i++) d[i] = FloatConvert.SingleToBF16(values[i]);
                    break;
                }
            case DType.F16:
                {
                    var d = owner.AsSpan<Half>();
                    for (int i = 0; i < values.Length; i++) d[i] = (Half)values[i];
                    break;
                }
            default: throw new ArgumentOutOfRangeException(nameof(dtype));
        }
        return new WeightMatrix(owner.Pointer, dtype, rows, cols, owner);
    }
}
