using Palu.IO;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>
/// W̃_O = W_O·B^V for Palu's fused value path (ALGORITHMS.md §1.3): query head h's d_h columns of W_O times the
/// [d_h, r] rows of its KV head's value up-projection give h's r columns of W̃_O [d, Σ_h r^V(h)]; the bias is
/// W_O·b^V + b_O. Computed once at load, on the host.
/// </summary>
public static class FusedOutput
{
    /// <summary>From the checkpoint: o_proj and the value groups the plan names.</summary>
    public static DenseLinear Build(ModelDirectory md, Backend be, string oModule, ModelConfig c, ModulePlan vPlan, LatentProjection V, AttentionShape s)
    {
        int dh = s.HeadDim, d = c.HiddenSize;
        var wo = md.Matrix(oModule + ".weight", d, s.Heads * dh).ToFloats();        // [d, H·d_h]
        var bo = c.OutputBias ? md.Floats(oModule + ".bias", d) : null;              // [d]
        var ups = vPlan.Groups!.Select(g => md.Floats(g.Up, g.Heads.Length * dh, g.Rank)).ToArray();   // [n_g][s·d_h, r]
        var biases = vPlan.Groups!.Select(g => g.Bias is null ? null : md.Floats(g.Bias, g.Heads.Length * dh)).ToArray();
        var (w, bias) = Compute(wo, bo, d, s, LatentAttention.ZOffsets(V, s), kh =>
        {
            int g = V.GroupOf(kh), slot = V.SlotOf(kh), r = V.Ranks[g];
            return (ups[g].AsMemory(slot * dh * r, dh * r), biases[g] is float[] b ? b.AsMemory(slot * dh, dh) : default);
        });
        return new DenseLinear(be.Load(WeightMatrix.FromFloats(w, d, w.Length / d)), bias is null ? default : be.Load(bias));
    }

    /// <summary>
    /// W̃_O [d, zOff[H]] and its bias (null when neither o_proj nor the value projection has one) from W_O [d, H·d_h],
    /// b_O [d] and, per KV head, its value up-projection rows [d_h, r] and bias rows [d_h] (empty when none).
    /// </summary>
    public static (float[] W, float[]? Bias) Compute(float[] wo, float[]? bo, int d, AttentionShape s, int[] zOff,
        Func<int, (ReadOnlyMemory<float> Up, ReadOnlyMemory<float> Bias)> head)
    {
        int H = s.Heads, G = s.QueriesPerKv, dh = s.HeadDim, zDim = zOff[H];
        var fused = new float[d * zDim];                                            // [d, Σ r]
        var bias = new float[d];
        bool anyBias = bo != null;
        for (int kh = 0; kh < s.KvHeads; kh++)
        {
            var (up, vbm) = head(kh);
            var B = up.Span;                                                        // [d_h, r]
            var vb = vbm.Span;                                                      // [d_h] or empty
            int r = B.Length / dh;
            anyBias |= !vb.IsEmpty;
            for (int h = kh * G; h < (kh + 1) * G; h++)   // heads in order: bias sums as before
                for (int o = 0; o < d; o++)
                {
                    var wrow = wo.AsSpan(o * H * dh + h * dh, dh);
                    var frow = fused.AsSpan(o * zDim + zOff[h], r);
                    for (int i = 0; i < dh; i++)
                    {
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(B.Slice(i * r, r), wrow[i], frow, frow);
                        if (!vb.IsEmpty) bias[o] += wrow[i] * vb[i];
                    }
                }
        }
        if (bo != null) for (int o = 0; o < d; o++) bias[o] += bo[o];
        return (fused, anyBias ? bias : null);
    }
}
