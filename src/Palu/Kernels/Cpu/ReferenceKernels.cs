using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// Naive kernels: the specification. Plain loops, double accumulators where it is free, no threads.
/// <see cref="SimdKernels"/> has the same signatures and must agree with these (tests compare them on random inputs).
/// Layouts are row-major; shapes are in the comments.
/// </summary>
public static class ReferenceKernels
{
    /// <summary>y = x·Wᵀ. x [T, n], W [m, n] (F32/F16/BF16), y [T, m].</summary>
    public static void MatMul(ReadOnlySpan<float> x, in WeightMatrix w, Span<float> y, int T)
    {
        int n = w.Cols, m = w.Rows;
        var row = new float[n];
        for (int o = 0; o < m; o++)
        {
            w.RowToSingle(o, row);
            for (int t = 0; t < T; t++)
            {
                double acc = 0;
                for (int i = 0; i < n; i++) acc += x[t * n + i] * row[i];
                y[t * m + o] = (float)acc;
            }
        }
    }

    /// <summary>y[t] += bias. y [T, m], bias [m].</summary>
    public static void AddBias(Span<float> y, ReadOnlySpan<float> bias, int T)
    {
        int m = bias.Length;
        for (int t = 0; t < T; t++)
            for (int o = 0; o < m; o++) y[t * m + o] += bias[o];
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight, per row. x, y [T, n], weight [n]. x and y may alias.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int T, float eps)
    {
        int n = weight.Length;
        for (int t = 0; t < T; t++)
        {
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double)x[t * n + i] * x[t * n + i];
            float inv = 1f / MathF.Sqrt((float)(ss / n) + eps);
            for (int i = 0; i < n; i++) y[t * n + i] = weight[i] * (x[t * n + i] * inv);
        }
    }

    /// <summary>In-place softmax of one row.</summary>
    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (var v in x) max = MathF.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) { x[i] = MathF.Exp(x[i] - max); sum += x[i]; }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
    }

    /// <summary>log Σ exp(x) of one row, max-shifted: max + log Σ exp(x − max) (−∞ for an empty row).</summary>
    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (var v in x) max = MathF.Max(max, v);
        if (x.IsEmpty || float.IsNegativeInfinity(max)) return max;
        double sum = 0;
        foreach (var v in x) sum += Math.Exp((double)v - max);
        return max + Math.Log(sum);
    }

    /// <summary>
    /// In-place rotate-half RoPE. x [T, heads, d]; token t sits at absolute position startPos + t.
    /// x'_j = x_j cos − x_{j+d/2} sin, x'_{j+d/2} = x_{j+d/2} cos + x_j sin.
    /// </summary>
    public static void Rope(Span<float> x, int T, int heads, int startPos, RopeTable table)
    {
        int d = table.HeadDim, half = d / 2;
        for (int t = 0; t < T; t++)
        {
            int p = startPos + t;
            for (int h = 0; h < heads; h++)
            {
                int b = (t * heads + h) * d;
                for (int j = 0; j < half; j++)
                {
                    float c = table.Cos[p * half + j], s = table.Sin[p * half + j];
                    float x0 = x[b + j], x1 = x[b + j + half];
                    x[b + j] = x0 * c - x1 * s;
                    x[b + j + half] = x1 * c + x0 * s;
                }
            }
        }
    }

    /// <summary>
    /// Causal GQA attention over a dense cache. q [T, H, d] (RoPE applied); kCache [Hkv, maxSeq, d] and vCache
    /// [Hkv, maxSeq, dv] (dv = d unless given) hold positions [0, startPos + T) (RoPE applied to keys). Query t
    /// (position p = startPos + t) of head h attends keys j ≤ p of KV head h / (H / Hkv), and only j > p − window when
    /// <paramref name="window"/> is set. out [T, H, dv] = softmax(q·kᵀ / √d)·v.
    /// </summary>
    public static void Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        Span<float> output, int T, int startPos, int H, int Hkv, int d, int maxSeq, int? window = null, int? dv = null)
    {
        int dvv = dv ?? d;
        int groups = H / Hkv;
        float scale = 1f / MathF.Sqrt(d);
        var scores = new float[startPos + T];
        for (int t = 0; t < T; t++)
        {
            int p = startPos + t;
            int first = window is int w ? Math.Max(0, p - w + 1) : 0;
            for (int h = 0; h < H; h++)
            {
                int kvh = h / groups;
                var qh = q.Slice((t * H + h) * d, d);
                int n = p - first + 1;
                for (int j = first; j <= p; j++)
                {
                    var k = kCache.Slice((kvh * maxSeq + j) * d, d);
                    double dot = 0;
                    for (int i = 0; i < d; i++) dot += qh[i] * k[i];
                    scores[j - first] = (float)dot * scale;
                }
                Softmax(scores.AsSpan(0, n));
                var o = output.Slice((t * H + h) * dvv, dvv);
                for (int i = 0; i < dvv; i++)
                {
                    double acc = 0;
                    for (int j = first; j <= p; j++) acc += scores[j - first] * vCache[(kvh * maxSeq + j) * dvv + i];
                    o[i] = (float)acc;
                }
            }
        }
    }

    /// <summary>gate = silu(gate) · up, elementwise. gate, up [T, f].</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }
}
