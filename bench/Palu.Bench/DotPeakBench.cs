using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Palu.Bench;

/// <summary>
/// The machine's measured dot-product peaks on one core: f32 FMA (zmm, vfmadd231ps) and int8 u8·s8 → i32 (VNNI
/// vpdpbusd, the ymm form: .NET 10 exposes VNNI as AvxVnni, 256-bit; the zmm form and bf16 vdpbf16ps have no
/// intrinsic there). Twelve independent accumulators hide the instruction latency; the result is operations per
/// second (a multiply-add counts as 2).
/// </summary>
public static class DotPeakBench
{
    /// <summary>(f32 GFLOP/s, int8 GOP/s or NaN where VNNI is missing), best of <paramref name="reps"/>.</summary>
    public static (double F32, double Int8) Measure(int reps = 5)
    {
        double f = 0, i = 0;
        for (int r = 0; r < reps; r++)
        {
            f = Math.Max(f, Rate(F32Loop, 2.0 * 16 * 12));
            if (AvxVnni.IsSupported) i = Math.Max(i, Rate(Int8Loop, 2.0 * 32 * 12));
        }
        return (f / 1e9, AvxVnni.IsSupported ? i / 1e9 : double.NaN);
    }

    const int Iterations = 4_000_000;

    static double Rate(Func<int, float> loop, double opsPerIteration)
    {
        loop(1000);
        var sw = Stopwatch.StartNew();
        float sink = loop(Iterations);
        double s = sw.Elapsed.TotalSeconds;
        if (sink == 12345.678f) Console.Write("");
        return opsPerIteration * Iterations / s;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float F32Loop(int n)
    {
        var x = Vector512.Create(1.0000001f);
        var y = Vector512.Create(0.9999999f);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
            a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (int i = 0; i < n; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(x, y, a0); a1 = Avx512F.FusedMultiplyAdd(x, y, a1); a2 = Avx512F.FusedMultiplyAdd(x, y, a2);
            a3 = Avx512F.FusedMultiplyAdd(x, y, a3); a4 = Avx512F.FusedMultiplyAdd(x, y, a4); a5 = Avx512F.FusedMultiplyAdd(x, y, a5);
            a6 = Avx512F.FusedMultiplyAdd(x, y, a6); a7 = Avx512F.FusedMultiplyAdd(x, y, a7); a8 = Avx512F.FusedMultiplyAdd(x, y, a8);
            a9 = Avx512F.FusedMultiplyAdd(x, y, a9); a10 = Avx512F.FusedMultiplyAdd(x, y, a10); a11 = Avx512F.FusedMultiplyAdd(x, y, a11);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float Int8Loop(int n)
    {
        var x = Vector256.Create((byte)3);
        var y = Vector256.Create((sbyte)-2);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
            a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (int i = 0; i < n; i++)
        {
            a0 = AvxVnni.MultiplyWideningAndAdd(a0, x, y); a1 = AvxVnni.MultiplyWideningAndAdd(a1, x, y); a2 = AvxVnni.MultiplyWideningAndAdd(a2, x, y);
            a3 = AvxVnni.MultiplyWideningAndAdd(a3, x, y); a4 = AvxVnni.MultiplyWideningAndAdd(a4, x, y); a5 = AvxVnni.MultiplyWideningAndAdd(a5, x, y);
            a6 = AvxVnni.MultiplyWideningAndAdd(a6, x, y); a7 = AvxVnni.MultiplyWideningAndAdd(a7, x, y); a8 = AvxVnni.MultiplyWideningAndAdd(a8, x, y);
            a9 = AvxVnni.MultiplyWideningAndAdd(a9, x, y); a10 = AvxVnni.MultiplyWideningAndAdd(a10, x, y); a11 = AvxVnni.MultiplyWideningAndAdd(a11, x, y);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
