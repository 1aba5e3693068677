using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Vector math inlined into our kernels. Why not <c>Vector512.Exp</c> / <c>TensorPrimitives.Exp</c>: measured here,
/// their precompiled (ReadyToRun) bodies can stay on a slow non-AVX-512 path for the life of a process
/// (~2 µs for 16 floats) when tiered compilation does not promote them; code in this assembly is always JIT-compiled
/// for the machine it runs on.
/// </summary>
internal static class SimdMath
{
    /// <summary>
    /// e^x for 16 floats, within ~2 ulp of <see cref="MathF.Exp"/> on [−87.3, 88.7]: x = n·ln2 + r with |r| ≤ ln2/2,
    /// e^r by its degree-7 Taylor polynomial (truncation &lt; 6e−9 relative), times 2^n built in the exponent bits.
    /// Overflows to +∞ above 88.72; returns 0 below about −86.6 (where the result would be subnormal or tiny);
    /// NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693145751953125f), x);     // ln2 high part (exact product)
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-1.42860682030941723e-6f), r);    // ln2 low part
        var p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        // 2^(n−1) is a normal float for n in [−125, 128]; the factor 2 completes 2^n (and overflows to ∞ properly).
        var ni = Vector512.ConvertToInt32(Vector512.Max(n, Vector512.Create(-126f)));
        var scale = Vector512.ShiftLeft(ni + Vector512.Create(126), 23).AsSingle();
        var y = p * scale * Vector512.Create(2f);
        y = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(88.72283935546875f)), Vector512.Create(float.PositiveInfinity), y);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-87.33654475f)), Vector512<float>.Zero, y);
    }

    /// <summary>
    /// Σ of the 16 lanes in 8 instructions: fold 512 → 256 → 128 bits, then two shuffle-adds. (The JIT expands
    /// <c>Vector512.Sum</c> into ~25, four 128-bit reductions; ~7% of short-context decode attention.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v)
    {
        var h = v.GetLower() + v.GetUpper();
        var q = h.GetLower() + h.GetUpper();
        q += Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1));
        q += Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2));
        return q.ToScalar();
    }

    /// <summary>Σ of the 8 lanes: fold 256 → 128 bits, then two shuffle-adds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v)
    {
        var q = v.GetLower() + v.GetUpper();
        q += Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1));
        q += Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2));
        return q.ToScalar();
    }
}
