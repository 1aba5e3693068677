using System.Numerics;
using Palu.Kernels.Cpu;

namespace Palu.Training;

/// <summary>
/// The forward and backward of every op of the Llama-family forward, as naive loops over plain arrays of
/// <typeparamref name="F"/> (f32 or f64). This is the specification of the fast f32 path (<see cref="Backprop"/>) and,
/// in f64, the object of the finite-difference tests. Row-major layouts; shapes in the comments. Backward functions
/// add into their gradient outputs (<c>+=</c>) unless they say "=".
/// </summary>
public static class ReferenceOps<F> where F : struct, IFloatingPointIeee754<F>
{
    static F C(double v) => F.CreateChecked(v);

    /// <summary>y [T, m] = x [T, n] · Wᵀ (W [m, n]) + b [m].</summary>
    public static void Linear(F[] x, F[] w, F[]? b, F[] y, int T, int n, int m)
    {
        for (int t = 0; t < T; t++)
            for (int o = 0; o < m; o++)
            {
                F acc = b == null ? F.Zero : b[o];
                for (int i = 0; i < n; i++) acc += x[t * n + i] * w[o * n + i];
                y[t * m + o] = acc;
            }
    }

    /// <summary>dx [T, n] += dy·W; dW [m, n] += dyᵀ·x; db [m] += Σ_t dy. dy [T, m].</summary>
    public static void LinearBackward(F[] x, F[] w, F[] dy, F[] dx, F[] dw, F[]? db, int T, int n, int m)
    {
        for (int t = 0; t < T; t++)
            for (int o = 0; o < m; o++)
            {
                F g = dy[t * m + o];
                if (db != null) db[o] += g;
                for (int i = 0; i < n; i++)
                {
                    dx[t * n + i] += g * w[o * n + i];
                    dw[o * n + i] += g * x[t * n + i];
                }
            }
    }

    /// <summary>y = g ⊙ x · r per row, r = 1/sqrt(mean(x²) + eps). x, y [rows, n], g [n].</summary>
    public static void RmsNorm(F[] x, F[] g, F[] y, int rows, int n, F eps)
    {
        for (int t = 0; t < rows; t++)
        {
            F r = InvRms(x, t * n, n, eps);
            for (int i = 0; i < n; i++) y[t * n + i] = g[i] * (x[t * n + i] * r);
        }
    }

    /// <summary>
    /// dx += r·(g⊙dy) − (r³/n)·x·Σ(g⊙dy⊙x); dg += Σ_rows dy⊙x·r. x, dy, dx [rows, n].
    /// </summary>
    public static void RmsNormBackward(F[] x, F[] g, F[] dy, F[] dx, F[] dg, int rows, int n, F eps)
    {
        for (int t = 0; t < rows; t++)
        {
            int b = t * n;
            F r = InvRms(x, b, n, eps), dot = F.Zero;
            for (int i = 0; i < n; i++) dot += g[i] * dy[b + i] * x[b + i];
            F c = r * r * r * dot / C(n);
            for (int i = 0; i < n; i++)
            {
                dx[b + i] += r * g[i] * dy[b + i] - c * x[b + i];
                dg[i] += dy[b + i] * x[b + i] * r;
            }
        }
    }

    static F InvRms(F[] x, int b, int n, F eps)
    {
        F ss = F.Zero;
        for (int i = 0; i < n; i++) ss += x[b + i] * x[b + i];
        return F.One / F.Sqrt(ss / C(n) + eps);
    }

    /// <summary>
    /// In-place rotate-half RoPE of x [T, heads, dh] at positions 0..T−1. The backward is the transposed rotation
    /// (<paramref name="transpose"/> = true: sin negated).
    /// </summary>
    public static void Rope(F[] x, int T, int heads, int dh, RopeTable table, bool transpose = false)
    {
        int half = dh / 2;
        for (int t = 0; t < T; t++)
            for (int h = 0; h < heads; h++)
            {
                int b = (t * heads + h) * dh;
                for (int j = 0; j < half; j++)
                {
                    F c = F.CreateChecked(table.Cos[t * half + j]), s = F.CreateChecked(table.Sin[t * half + j]);
                    if (transpose) s = -s;
                    F x0 = x[b + j], x1 = x[b + j + half];
                    x[b + j] = x0 * c - x1 * s;
                    x[b + j + half] = x1 * c + x0 * s;
                }
            }
    }

    /// <summary>First key position query t may see (sliding window) — keys [First, t] are visible.</summary>
    public static int First(int t, int? window) => window is int w ? Math.Max(0, t - w + 1) : 0;

    /// <summary>
    /// Causal GQA attention. q, o [T, H, dh]; k, v [T, Hkv, dh]; p [H, T, T] = softmax(q·kᵀ/√dh) over visible keys
    /// (0 elsewhere); o = p·v. Query head h reads KV head h / (H / Hkv).
    /// </summary>
    public static void Attention(F[] q, F[] k, F[] v, F[] o, F[] p, int T, int H, int Hkv, int dh, int? window)
    {
        int G = H / Hkv;
        F scale = F.One / F.Sqrt(C(dh));
        Array.Clear(p);
        for (int h = 0; h < H; h++)
        {
            int j = h / G;
            for (int t = 0; t < T; t++)
            {
                int first = First(t, window);
                int row = (h * T + t) * T;
                F max = F.NegativeInfinity;
                for (int s = first; s <= t; s++)
                {
                    F dot = F.Zero;
                    for (int i = 0; i < dh; i++) dot += q[(t * H + h) * dh + i] * k[(s * Hkv + j) * dh + i];
                    p[row + s] = dot * scale;
                    max = F.Max(max, p[row + s]);
                }
                F sum = F.Zero;
                for (int s = first; s <= t; s++) { p[row + s] = F.Exp(p[row + s] - max); sum += p[row + s]; }
                for (int s = first; s <= t; s++) p[row + s] /= sum;
                for (int i = 0; i < dh; i++)
                {
                    F acc = F.Zero;
                    for (int s = first; s <= t; s++) acc += p[row + s] * v[(s * Hkv + j) * dh + i];
                    o[(t * H + h) * dh + i] = acc;
                }
            }
        }
    }

    /// <summary>
    /// Backward of <see cref="Attention"/>: dv += pᵀ·do; dp = do·vᵀ; ds = p ⊙ (dp − rowsum(dp ⊙ p)); dq = ds·k/√dh (=);
    /// dk += dsᵀ·q/√dh. dq, do [T, H, dh]; dk, dv [T, Hkv, dh].
    /// </summary>
    public static void AttentionBackward(F[] q, F[] k, F[] v, F[] p, F[] dO, F[] dq, F[] dk, F[] dv, int T, int H, int Hkv, int dh, int? window)
    {
        int G = H / Hkv;
        F scale = F.One / F.Sqrt(C(dh));
        var dp = new F[T];
        for (int h = 0; h < H; h++)
        {
            int j = h / G;
            for (int t = 0; t < T; t++)
            {
                int first = First(t, window), row = (h * T + t) * T;
                F sum = F.Zero;
                for (int s = first; s <= t; s++)
                {
                    F acc = F.Zero;
                    for (int i = 0; i < dh; i++)
                    {
                        acc += dO[(t * H + h) * dh + i] * v[(s * Hkv + j) * dh + i];
                        dv[(s * Hkv + j) * dh + i] += p[row + s] * dO[(t * H + h) * dh + i];
                    }
                    dp[s] = acc;
                    sum += acc * p[row + s];
                }
                for (int i = 0; i < dh; i++) dq[(t * H + h) * dh + i] = F.Zero;
                for (int s = first; s <= t; s++)
                {
                    F ds = p[row + s] * (dp[s] - sum) * scale;
                    for (int i = 0; i < dh; i++)
                    {
                        dq[(t * H + h) * dh + i] += ds * k[(s * Hkv + j) * dh + i];
                        dk[(s * Hkv + j) * dh + i] += ds * q[(t * H + h) * dh + i];
                    }
                }
            }
        }
    }

    /// <summary>h = silu(g)·u, silu(g) = g·σ(g). g, u, h [n].</summary>
    public static void SwiGlu(F[] g, F[] u, F[] h)
    {
        for (int i = 0; i < g.Length; i++) h[i] = g[i] * Sigmoid(g[i]) * u[i];
    }

    /// <summary>dg = dh·u·σ(g)(1 + g(1 − σ(g))) (=); du = dh·silu(g) (=).</summary>
    public static void SwiGluBackward(F[] g, F[] u, F[] dh, F[] dg, F[] du)
    {
        for (int i = 0; i < g.Length; i++)
        {
            F s = Sigmoid(g[i]);
            dg[i] = dh[i] * u[i] * s * (F.One + g[i] * (F.One - s));
            du[i] = dh[i] * g[i] * s;
        }
    }

    static F Sigmoid(F x) => F.One / (F.One + F.Exp(-x));

    /// <summary>
    /// Mean cross-entropy over positions with a target (targets[t] ≥ 0) and dz = (softmax(z) − onehot(y))/N (=), 0 on
    /// unscored rows. z, dz [T, V].
    /// </summary>
    public static F CrossEntropy(F[] z, int[] targets, F[] dz, int T, int V)
    {
        int N = targets.Count(y => y >= 0);
        if (N == 0) throw new ArgumentException("no position has a target");
        F loss = F.Zero, invN = F.One / C(N);
        Array.Clear(dz);
        for (int t = 0; t < T; t++)
        {
            if (targets[t] < 0) continue;
            F max = F.NegativeInfinity;
            for (int i = 0; i < V; i++) max = F.Max(max, z[t * V + i]);
            F sum = F.Zero;
            for (int i = 0; i < V; i++) sum += F.Exp(z[t * V + i] - max);
            loss -= z[t * V + targets[t]] - max - F.Log(sum);
            for (int i = 0; i < V; i++) dz[t * V + i] = F.Exp(z[t * V + i] - max) / sum * invN;
            dz[t * V + targets[t]] -= invN;
        }
        return loss * invN;
    }
}
