using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Palu.Kernels.Cpu;

namespace Palu.Training;

/// <summary>
/// f32 backward of the elementwise ops (RMSNorm, RoPE, SwiGLU) on Vector512; same formulas as
/// <see cref="ReferenceOps{F}"/>. O(T·d) work each: single-threaded.
/// </summary>
internal static unsafe class BackpropOps
{
    /// <summary>
    /// dx (+)= r·(g⊙dy) − (r³/n)·x·Σ(g⊙dy⊙x) per row, r = 1/sqrt(mean(x²) + eps) (as the forward computes it).
    /// x, dy, dx [rows, n], g [n]; adds into dx when <paramref name="accumulate"/>, else overwrites.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ReadOnlySpan<float> dy, Span<float> dx,
        int rows, float eps, bool accumulate)
    {
        int n = g.Length;
        if (x.Length < (long)rows * n || dy.Length < (long)rows * n || dx.Length < (long)rows * n)
            throw new ArgumentException("RmsNormBackward: spans too short");
        fixed (float* px = x, pg = g, pdy = dy, pdx = dx)
        {
            for (int t = 0; t < rows; t++)
            {
                float* xr = px + (long)t * n, dyr = pdy + (long)t * n, dxr = pdx + (long)t * n;   // [n] each
                var vss = Vector512<float>.Zero; var vdot = Vector512<float>.Zero;
                int i = 0;
                for (; i <= n - 16; i += 16)
                {
                    var xv = Vector512.Load(xr + i);
                    vss = Vector512.FusedMultiplyAdd(xv, xv, vss);
                    vdot = Vector512.FusedMultiplyAdd(Vector512.Load(pg + i) * Vector512.Load(dyr + i), xv, vdot);
                }
                float ss = Vector512.Sum(vss), dot = Vector512.Sum(vdot);
                for (int j = i; j < n; j++) { ss += xr[j] * xr[j]; dot += pg[j] * dyr[j] * xr[j]; }
                float r = 1f / MathF.Sqrt(ss / n + eps);
                float c = r * r * r * dot / n;
                var vr = Vector512.Create(r); var vc = Vector512.Create(c);
                for (i = 0; i <= n - 16; i += 16)
                {
                    var v = vr * Vector512.Load(pg + i) * Vector512.Load(dyr + i) - vc * Vector512.Load(xr + i);
                    if (accumulate) v += Vector512.Load(dxr + i);
                    v.Store(dxr + i);
                }
                for (; i < n; i++)
                {
                    float v = r * pg[i] * dyr[i] - c * xr[i];
                    dxr[i] = accumulate ? dxr[i] + v : v;
                }
            }
        }
    }

    /// <summary>dg = dh·u·σ(g)(1 + g(1 − σ(g))), du = dh·g·σ(g). All [n].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SwiGluBackward(ReadOnlySpan<float> g, ReadOnlySpan<float> u, ReadOnlySpan<float> dh, Span<float> dg, Span<float> du)
    {
        int n = g.Length;
        if (u.Length < n || dh.Length < n || dg.Length < n || du.Length < n) throw new ArgumentException("SwiGluBackward: spans too short");
        fixed (float* pg = g, pu = u, pdh = dh, pdg = dg, pdu = du)
        {
            int i = 0;
            var one = Vector512<float>.One;
            for (; i <= n - 16; i += 16)
            {
                var gv = Vector512.Load(pg + i);
                var s = one / (one + SimdMath.Exp(-gv));
                var d = Vector512.Load(pdh + i);
                (d * Vector512.Load(pu + i) * s * (one + gv * (one - s))).Store(pdg + i);
                (d * gv * s).Store(pdu + i);
            }
            for (; i < n; i++)
            {
                float gv = pg[i], s = 1f / (1f + MathF.Exp(-gv));
                pdg[i] = pdh[i] * pu[i] * s * (1f + gv * (1f - s));
                pdu[i] = pdh[i] * gv * s;
            }
        }
    }

    /// <summary>acc [n] += v [n]².</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddSquares(Span<float> acc, ReadOnlySpan<float> v)
    {
        int n = v.Length;
        if (acc.Length < n) throw new ArgumentException("AddSquares: acc too short");
        fixed (float* pa = acc, pv = v)
        {
            int i = 0;
            for (; i <= n - 16; i += 16)
            {
                var x = Vector512.Load(pv + i);
                Vector512.FusedMultiplyAdd(x, x, Vector512.Load(pa + i)).Store(pa + i);
            }
            for (; i < n; i++) pa[i] += pv[i] * pv[i];
        }
    }
}
