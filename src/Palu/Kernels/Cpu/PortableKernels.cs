using System.Numerics.Tensors;
using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// What <see cref="SimdKernels"/> runs where <c>Vector512</c> is not hardware-accelerated (AVX2-only x86, Arm): there
/// the Vector512 kernels would run on .NET's element-by-element software emulation, slower than the reference.
/// These use <see cref="TensorPrimitives"/>, which picks the widest vectors the machine has, and the same
/// threading; several times slower than the AVX-512 kernels, far faster than the reference. Same results to float
/// rounding (tested on this machine by calling them directly).
/// </summary>
internal static unsafe class PortableKernels
{
    const long MinMacsPerChunk = 1 << 16;

    /// <summary>y [T, m] = x [T, n] · W [m, n]ᵀ: each W row widened once into a per-thread buffer, then dotted with
    /// every row of x.</summary>
    public static void MatMul(ReadOnlySpan<float> x, in WeightMatrix w, Span<float> y, int T)
    {
        MatMulKernels.CheckArguments(x, w, y, T);
        int n = w.Cols, m = w.Rows;
        if (T == 0 || m == 0) return;
        var wc = w;
        fixed (float* px = x, py = y)
        {
            float* xp = px, yp = py;   // copies a lambda may capture
            int chunks = KernelThreads.Plan((long)T * n * m, MinMacsPerChunk, m);
            KernelThreads.For(chunks, c =>
            {
                float* row = ThreadScratch.Floats(ThreadScratch.Slot.GemmPack, n);   // [n]
                var r = new Span<float>(row, n);
                for (int o = KernelThreads.Split(m, chunks, c); o < KernelThreads.Split(m, chunks, c + 1); o++)
                {
                    wc.RowToSingle(o, r);
                    for (int t = 0; t < T; t++) yp[(long)t * m + o] = TensorPrimitives.Dot(new ReadOnlySpan<float>(xp + (long)t * n, n), r);
                }
            });
        }
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight per row; x and y may alias.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int T, float eps)
    {
        int n = weight.Length;
        for (int t = 0; t < T; t++)
        {
            var xr = x.Slice(t * n, n);
            var yr = y.Slice(t * n, n);
            float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / n + eps);
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    public static void Softmax(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        TensorPrimitives.Multiply(x, (float)(1.0 / TensorPrimitives.Sum(x)), x);
    }

    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return float.NegativeInfinity;
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max)) return max;
        Span<float> e = stackalloc float[1024];   // [block] e^(x − max)
        double sum = 0;
        for (int i = 0; i < x.Length; i += e.Length)
        {
            var block = e[..Math.Min(e.Length, x.Length - i)];
            TensorPrimitives.Subtract(x.Slice(i, block.Length), max, block);
            TensorPrimitives.Exp(block, block);
            sum += TensorPrimitives.Sum(block);
        }
        return max + Math.Log(sum);
    }

    /// <summary>gate = gate / (1 + e^(−gate)) · up, in L1-sized blocks.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length) throw new ArgumentException("SwiGlu: up is shorter than gate");
        Span<float> e = stackalloc float[1024];   // [block] 1 + e^(−g)
        for (int i = 0; i < gate.Length; i += e.Length)
        {
            var g = gate.Slice(i, Math.Min(e.Length, gate.Length - i));
            var d = e[..g.Length];
            TensorPrimitives.Negate(g, d);
            TensorPrimitives.Exp(d, d);
            TensorPrimitives.Add(d, 1f, d);
            TensorPrimitives.Divide(g, d, g);
            TensorPrimitives.Multiply(g, up.Slice(i, g.Length), g);
        }
    }

    /// <summary>Rotate-half RoPE, x [T, heads, d], with span arithmetic per half-row.</summary>
    public static void Rope(Span<float> x, int T, int heads, int startPos, RopeTable table)
    {
        int d = table.HeadDim, half = d / 2;
        Span<float> a = stackalloc float[half], b = stackalloc float[half];   // [half] products
        for (int t = 0; t < T; t++)
        {
            var c = table.Cos.AsSpan((startPos + t) * half, half);
            var s = table.Sin.AsSpan((startPos + t) * half, half);
            for (int h = 0; h < heads; h++)
            {
                var x0 = x.Slice((t * heads + h) * d, half);
                var x1 = x.Slice((t * heads + h) * d + half, half);
                TensorPrimitives.Multiply(x1, s, a);       // x1·sin
                TensorPrimitives.Multiply(x0, s, b);       // x0·sin
                TensorPrimitives.Multiply(x0, c, x0);
                TensorPrimitives.Subtract(x0, a, x0);      // x0·cos − x1·sin
                TensorPrimitives.Multiply(x1, c, x1);
                TensorPrimitives.Add(x1, b, x1);           // x1·cos + x0·sin
            }
        }
    }

    /// <summary>Causal GQA attention as the reference, one (row, head) per work item, TensorPrimitives inside.
    /// q [T, H, d], kCache [Hkv, maxSeq, d]; values of width <paramref name="dv"/>: vCache [Hkv, maxSeq, dv],
    /// output [T, H, dv].</summary>
    public static void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        Span<float> output, int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window, int dv)
    {
        AttentionKernels.CheckArguments(q, kCache, vCache, output, T, startPos, H, Hkv, d, maxSeq, window, dv);
        if (T == 0) return;
        int w = window ?? int.MaxValue, groups = H / Hkv, items = T * H;
        float scale = 1f / MathF.Sqrt(d);
        fixed (float* pq = q, pk = kCache, pv = vCache, po = output)
        {
            float* qp = pq, kp = pk, vp = pv, op = po;   // copies a lambda may capture
            int chunks = KernelThreads.Plan(2L * T * (startPos + T) * H * d, MinMacsPerChunk, items);
            KernelThreads.For(chunks, c =>
            {
                float* scores = ThreadScratch.Floats(ThreadScratch.Slot.Attention, startPos + T);   // [keys]
                for (int i = KernelThreads.Split(items, chunks, c); i < KernelThreads.Split(items, chunks, c + 1); i++)
                {
                    int t = i / H, h = i % H, p = startPos + t, first = w == int.MaxValue ? 0 : Math.Max(0, p - w + 1);
                    var qh = new ReadOnlySpan<float>(qp + (long)i * d, d);
                    var o = new Span<float>(op + (long)i * dv, dv);
                    long kv = (long)(h / groups) * maxSeq;
                    var s = new Span<float>(scores, p - first + 1);
                    for (int j = first; j <= p; j++) s[j - first] = TensorPrimitives.Dot(qh, new ReadOnlySpan<float>(kp + (kv + j) * d, d)) * scale;
                    Softmax(s);
                    o.Clear();
                    for (int j = first; j <= p; j++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vp + (kv + j) * dv, dv), s[j - first], o, o);
                }
            });
        }
    }
}
