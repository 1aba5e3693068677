using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Palu.Kernels.Cpu;

/// <summary>RmsNorm, Softmax, SwiGlu, AddBias and RoPE on Vector512 / TensorPrimitives; same results as the reference.</summary>
internal static unsafe class ElementwiseKernels
{
    /// <summary>Rows of RmsNorm per chunk are chosen so that a chunk has at least this many elements.</summary>
    const long MinElementsPerChunk = 1 << 18;   // ~50 µs: below that a second thread costs more than it saves

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight per row. x, y [T, n], weight [n]; x and y may alias.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int T, float eps)
    {
        int n = weight.Length;
        if (x.Length < (long)T * n || y.Length < (long)T * n)
            throw new ArgumentException($"RmsNorm: x and y must hold [{T}, {n}]");
        fixed (float* px = x, pw = weight, py = y)
        {
            float* xp = px, wp = pw, yp = py;   // copies a lambda may capture
            int chunks = KernelThreads.Plan((long)T * n, MinElementsPerChunk, T);
            if (chunks == 1) { RmsNormRows(xp, wp, yp, n, 0, T, eps); return; }
            KernelThreads.For(chunks, c =>
                RmsNormRows(xp, wp, yp, n, KernelThreads.Split(T, chunks, c), KernelThreads.Split(T, chunks, c + 1), eps));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RmsNormRows(float* x, float* weight, float* y, int n, int t0, int t1, float eps)
    {
        for (int t = t0; t < t1; t++)
        {
            float* xr = x + (long)t * n, yr = y + (long)t * n;   // [n]
            float ss = SumOfSquares(xr, n);
            float inv = 1f / MathF.Sqrt(ss / n + eps);
            var vinv = Vector512.Create(inv);
            int i = 0;
            for (; i <= n - 16; i += 16)
                (Vector512.Load(weight + i) * (Vector512.Load(xr + i) * vinv)).Store(yr + i);
            for (; i < n; i++) yr[i] = weight[i] * (xr[i] * inv);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float SumOfSquares(float* x, int n)
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            var a = Vector512.Load(x + i); var b = Vector512.Load(x + i + 16);
            acc0 = Vector512.FusedMultiplyAdd(a, a, acc0);
            acc1 = Vector512.FusedMultiplyAdd(b, b, acc1);
        }
        if (i <= n - 16) { var a = Vector512.Load(x + i); acc0 = Vector512.FusedMultiplyAdd(a, a, acc0); i += 16; }
        float ss = SimdMath.Sum(acc0 + acc1);
        for (; i < n; i++) ss += x[i] * x[i];
        return ss;
    }

    /// <summary>In-place softmax of one row: max, then e^(x − max) and its sum in one pass, then the scaling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Softmax(Span<float> row)
    {
        int n = row.Length;
        if (n == 0) return;
        fixed (float* x = row)
        {
            float sum = ExpShiftSum(x, n, Max(x, n));
            Scale(x, n, (float)(1.0 / sum));
        }
    }

    /// <summary>x [n] *= s in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scale(float* x, int n, float s)
    {
        var vs = Vector512.Create(s);
        int i = 0;
        for (; i <= n - 16; i += 16) (Vector512.Load(x + i) * vs).Store(x + i);
        for (; i < n; i++) x[i] *= s;
    }

    /// <summary>max of x [n], n ≥ 1 (NaN if any is NaN, as MathF.Max).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Max(float* x, int n)
    {
        float max = float.NegativeInfinity;
        if (n >= 16)
        {
            var vmax = Vector512.Load(x + n - 16);   // the last 16 (may overlap the loop's): covers the tail
            for (int i = 0; i <= n - 16; i += 16) vmax = Vector512.Max(vmax, Vector512.Load(x + i));
            for (int l = 0; l < 16; l++) max = MathF.Max(max, vmax[l]);
        }
        else
            for (int i = 0; i < n; i++) max = MathF.Max(max, x[i]);
        return max;
    }

    /// <summary>x = e^(x − max) in place; returns Σ x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float ExpShiftSum(float* x, int n, float max)
    {
        var vm = Vector512.Create(max);
        var vsum = Vector512<float>.Zero;
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            var e = SimdMath.Exp(Vector512.Load(x + i) - vm);
            e.Store(x + i);
            vsum += e;
        }
        float sum = SimdMath.Sum(vsum);
        for (; i < n; i++) { x[i] = MathF.Exp(x[i] - max); sum += x[i]; }
        return sum;
    }

    /// <summary>max + log Σ e^(x − max) of one row, without writing it (e.g. log-softmax of logits for perplexity).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double LogSumExp(ReadOnlySpan<float> row)
    {
        int n = row.Length;
        if (n == 0) return float.NegativeInfinity;
        fixed (float* x = row)
        {
            float max = Max(x, n);
            if (float.IsNegativeInfinity(max)) return max;
            var vm = Vector512.Create(max);
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            int i = 0;
            for (; i <= n - 32; i += 32)
            {
                acc0 += SimdMath.Exp(Vector512.Load(x + i) - vm);
                acc1 += SimdMath.Exp(Vector512.Load(x + i + 16) - vm);
            }
            if (i <= n - 16) { acc0 += SimdMath.Exp(Vector512.Load(x + i) - vm); i += 16; }
            double sum = SimdMath.Sum(acc0 + acc1);
            for (; i < n; i++) sum += MathF.Exp(x[i] - max);
            return max + Math.Log(sum);
        }
    }

    /// <summary>gate = gate / (1 + e^(−gate)) · up in one pass. e^(−g) overflows to +∞ for very negative g, giving
    /// g / ∞ = −0 as in the reference. Large inputs are split across threads.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length) throw new ArgumentException("SwiGlu: up is shorter than gate");
        int n = gate.Length;
        fixed (float* g = gate, u = up)
        {
            float* gp = g, upp = u;   // copies a lambda may capture
            int chunks = KernelThreads.Plan(n, MinElementsPerChunk, Math.Max(1, n / 16));
            if (chunks == 1) { SwiGluRange(gp, upp, 0, n); return; }
            KernelThreads.For(chunks, c => SwiGluRange(gp, upp, KernelThreads.Split(n, chunks, c, 16), KernelThreads.Split(n, chunks, c + 1, 16)));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void SwiGluRange(float* g, float* u, int i0, int i1)
    {
        int i = i0;
        for (; i <= i1 - 16; i += 16)
        {
            var gv = Vector512.Load(g + i);
            (gv / (Vector512<float>.One + SimdMath.Exp(-gv)) * Vector512.Load(u + i)).Store(g + i);
        }
        for (; i < i1; i++) g[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
    }

    /// <summary>y[t] += bias. y [T, m], bias [m].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddBias(Span<float> y, ReadOnlySpan<float> bias, int T)
    {
        int m = bias.Length;
        for (int t = 0; t < T; t++)
        {
            var row = y.Slice(t * m, m);
            TensorPrimitives.Add(row, bias, row);   // a plain binary op: JIT-expanded, fast from the first call
        }
    }

    /// <summary>In-place rotate-half RoPE. x [T, heads, d]; token t at position startPos + t.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rope(Span<float> x, int T, int heads, int startPos, RopeTable table, bool inverse = false)
    {
        int d = table.HeadDim, half = d / 2;
        if (x.Length < (long)T * heads * d) throw new ArgumentException($"Rope: x must hold [{T}, {heads}, {d}]");
        if (startPos < 0 || startPos + T > table.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(startPos), $"positions [{startPos}, {startPos + T}) exceed the table's {table.MaxPositions}");
        fixed (float* px = x, pc = table.Cos, ps = table.Sin)
        {
            float* xp = px, cp = pc, sp = ps;   // copies a lambda may capture
            float sign = inverse ? -1f : 1f;
            int chunks = KernelThreads.Plan((long)T * heads * d, MinElementsPerChunk, T);
            if (chunks == 1) { RopeRows(xp, cp, sp, 0, T, heads, d, startPos, sign); return; }
            KernelThreads.For(chunks, c => RopeRows(xp, cp, sp, KernelThreads.Split(T, chunks, c), KernelThreads.Split(T, chunks, c + 1), heads, d, startPos, sign));
        }
    }

    /// <summary>
    /// Tokens [t0, t1) of x [T, heads, d]; cos, sin [positions, d/2]. sign −1 rotates by −angle (the transpose, for
    /// the backward pass); negating sin is exact, so either direction is bit-for-bit the plain formula.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RopeRows(float* px, float* pc, float* ps, int t0, int t1, int heads, int d, int startPos, float sign)
    {
        int half = d / 2;
        var sign16 = Vector512.Create(sign);
        var sign4 = Vector128.Create(sign);
        for (int t = t0; t < t1; t++)
        {
            float* c = pc + (long)(startPos + t) * half, s = ps + (long)(startPos + t) * half;   // [half]
            for (int h = 0; h < heads; h++)
            {
                float* x0 = px + ((long)t * heads + h) * d, x1 = x0 + half;                   // [half] each
                int j = 0;
                for (; j <= half - 16; j += 16)
                {
                    Vector512<float> a = Vector512.Load(x0 + j), b = Vector512.Load(x1 + j);
                    Vector512<float> cv = Vector512.Load(c + j), sv = Vector512.Load(s + j) * sign16;
                    (a * cv - b * sv).Store(x0 + j);
                    (b * cv + a * sv).Store(x1 + j);
                }
                for (; j <= half - 4; j += 4)
                {
                    Vector128<float> a = Vector128.Load(x0 + j), b = Vector128.Load(x1 + j);
                    Vector128<float> cv = Vector128.Load(c + j), sv = Vector128.Load(s + j) * sign4;
                    (a * cv - b * sv).Store(x0 + j);
                    (b * cv + a * sv).Store(x1 + j);
                }
                for (; j < half; j++)
                {
                    float a = x0[j], b = x1[j], sj = s[j] * sign;
                    x0[j] = a * c[j] - b * sj;
                    x1[j] = b * c[j] + a * sj;
                }
            }
        }
    }
}
