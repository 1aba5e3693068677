using System.Numerics;

namespace Palu.Training;

/// <summary>
/// The reference training forward and backward of the whole model: <see cref="ReferenceOps{F}"/> composed exactly as
/// <see cref="Models.CausalLM"/>'s forward (embedding → per layer RMSNorm, q/k/v (+bias, q/k-norm), RoPE, causal GQA
/// attention, o_proj, residual, RMSNorm, SwiGLU MLP, residual → final norm → LM head → cross-entropy). Every
/// activation is kept; gradients of every parameter are produced. Naive and slow: for small test models.
/// </summary>
public static class ReferenceBackprop<F> where F : struct, IFloatingPointIeee754<F>
{
    /// <summary>Mean cross-entropy of <paramref name="targets"/> (−1 = unscored) given <paramref name="inputs"/>.</summary>
    public static F Loss(ModelParameters<F> p, int[] inputs, int[] targets) => Run(p, inputs, targets, null);

    /// <summary>The loss, and its gradient w.r.t. every parameter written (=) into <paramref name="grads"/>
    /// (from <see cref="ModelParameters{T}.ZerosLike"/>).</summary>
    public static F Gradients(ModelParameters<F> p, int[] inputs, int[] targets, ModelParameters<F> grads)
    {
        foreach (var (_, g) in grads.Tensors()) Array.Clear(g);
        return Run(p, inputs, targets, grads);
    }

    sealed class Acts
    {
        public required F[] X0, Xn1, Q0, Q, K0, K, V, P, O, X1, Xn2, G, U, H;
    }

    static F Run(ModelParameters<F> p, int[] inputs, int[] targets, ModelParameters<F>? grads)
    {
        var s = p.Shape;
        int T = inputs.Length, d = s.Hidden, H = s.Heads, Hkv = s.KvHeads, dh = s.HeadDim, f = s.Ffn, V = s.Vocab;
        int qd = s.QDim, kvd = s.KvDim;
        if (targets.Length != T) throw new ArgumentException("targets must match inputs");
        F eps = F.CreateChecked(s.Eps);

        var x = new F[T * d];                                        // [T, d] residual stream
        for (int t = 0; t < T; t++) Array.Copy(p.Embed, inputs[t] * d, x, t * d, d);
        var acts = new Acts[s.Layers];
        for (int l = 0; l < s.Layers; l++)
        {
            var L = p.Layers[l];
            var a = acts[l] = new Acts
            {
                X0 = (F[])x.Clone(), Xn1 = new F[T * d], Q0 = new F[T * qd], Q = new F[T * qd], K0 = new F[T * kvd], K = new F[T * kvd],
                V = new F[T * kvd], P = new F[H * T * T], O = new F[T * qd], X1 = new F[T * d], Xn2 = new F[T * d],
                G = new F[T * f], U = new F[T * f], H = new F[T * f],
            };
            ReferenceOps<F>.RmsNorm(a.X0, L.InputNorm, a.Xn1, T, d, eps);
            ReferenceOps<F>.Linear(a.Xn1, L.Wq, L.Bq, a.Q0, T, d, qd);
            ReferenceOps<F>.Linear(a.Xn1, L.Wk, L.Bk, a.K0, T, d, kvd);
            ReferenceOps<F>.Linear(a.Xn1, L.Wv, L.Bv, a.V, T, d, kvd);
            if (L.QNorm != null) ReferenceOps<F>.RmsNorm(a.Q0, L.QNorm, a.Q, T * H, dh, eps); else Array.Copy(a.Q0, a.Q, a.Q.Length);
            if (L.KNorm != null) ReferenceOps<F>.RmsNorm(a.K0, L.KNorm, a.K, T * Hkv, dh, eps); else Array.Copy(a.K0, a.K, a.K.Length);
            ReferenceOps<F>.Rope(a.Q, T, H, dh, s.Rope);
            ReferenceOps<F>.Rope(a.K, T, Hkv, dh, s.Rope);
            ReferenceOps<F>.Attention(a.Q, a.K, a.V, a.O, a.P, T, H, Hkv, dh, s.Window);
            var attn = new F[T * d];                                 // [T, d]
            ReferenceOps<F>.Linear(a.O, L.Wo, L.Bo, attn, T, qd, d);
            for (int i = 0; i < T * d; i++) a.X1[i] = a.X0[i] + attn[i];
            ReferenceOps<F>.RmsNorm(a.X1, L.PostNorm, a.Xn2, T, d, eps);
            ReferenceOps<F>.Linear(a.Xn2, L.Wg, L.Bg, a.G, T, d, f);
            ReferenceOps<F>.Linear(a.Xn2, L.Wu, L.Bu, a.U, T, d, f);
            ReferenceOps<F>.SwiGlu(a.G, a.U, a.H);
            var mlp = new F[T * d];                                  // [T, d]
            ReferenceOps<F>.Linear(a.H, L.Wd, L.Bd, mlp, T, f, d);
            for (int i = 0; i < T * d; i++) x[i] = a.X1[i] + mlp[i];
        }
        var xf = new F[T * d];                                       // [T, d] final-normed
        ReferenceOps<F>.RmsNorm(x, p.FinalNorm, xf, T, d, eps);
        var z = new F[T * V];                                        // [T, V] logits
        ReferenceOps<F>.Linear(xf, p.Head, null, z, T, d, V);
        var dz = new F[T * V];                                       // [T, V]
        F loss = ReferenceOps<F>.CrossEntropy(z, targets, dz, T, V);
        if (grads == null) return loss;

        // backward
        var dxf = new F[T * d];                                      // [T, d]
        ReferenceOps<F>.LinearBackward(xf, p.Head, dz, dxf, grads.Head, null, T, d, V);
        var dx = new F[T * d];                                       // [T, d] gradient of the residual stream
        ReferenceOps<F>.RmsNormBackward(x, p.FinalNorm, dxf, dx, grads.FinalNorm, T, d, eps);
        for (int l = s.Layers - 1; l >= 0; l--)
        {
            var L = p.Layers[l];
            var gL = grads.Layers[l];
            var a = acts[l];
            // MLP: x2 = x1 + down(swiglu(gate(xn2), up(xn2)))
            var dh_ = new F[T * f];                                  // [T, ffn]
            ReferenceOps<F>.LinearBackward(a.H, L.Wd, dx, dh_, gL.Wd, gL.Bd, T, f, d);
            var dg = new F[T * f]; var du = new F[T * f];            // [T, ffn]
            ReferenceOps<F>.SwiGluBackward(a.G, a.U, dh_, dg, du);
            var dxn2 = new F[T * d];                                 // [T, d]
            ReferenceOps<F>.LinearBackward(a.Xn2, L.Wg, dg, dxn2, gL.Wg, gL.Bg, T, d, f);
            ReferenceOps<F>.LinearBackward(a.Xn2, L.Wu, du, dxn2, gL.Wu, gL.Bu, T, d, f);
            ReferenceOps<F>.RmsNormBackward(a.X1, L.PostNorm, dxn2, dx, gL.PostNorm, T, d, eps);   // dx is now d/dx1
            // attention: x1 = x0 + o_proj(attn(rope(norm(q)), rope(norm(k)), v))
            var dO = new F[T * qd];                                  // [T, H·dh]
            ReferenceOps<F>.LinearBackward(a.O, L.Wo, dx, dO, gL.Wo, gL.Bo, T, qd, d);
            var dq = new F[T * qd]; var dk = new F[T * kvd]; var dv = new F[T * kvd];
            ReferenceOps<F>.AttentionBackward(a.Q, a.K, a.V, a.P, dO, dq, dk, dv, T, H, Hkv, dh, s.Window);
            ReferenceOps<F>.Rope(dq, T, H, dh, s.Rope, transpose: true);
            ReferenceOps<F>.Rope(dk, T, Hkv, dh, s.Rope, transpose: true);
            var dq0 = dq; var dk0 = dk;                              // gradients w.r.t. the projections' outputs
            if (L.QNorm != null) { dq0 = new F[T * qd]; ReferenceOps<F>.RmsNormBackward(a.Q0, L.QNorm, dq, dq0, gL.QNorm!, T * H, dh, eps); }
            if (L.KNorm != null) { dk0 = new F[T * kvd]; ReferenceOps<F>.RmsNormBackward(a.K0, L.KNorm, dk, dk0, gL.KNorm!, T * Hkv, dh, eps); }
            var dxn1 = new F[T * d];                                 // [T, d]
            ReferenceOps<F>.LinearBackward(a.Xn1, L.Wq, dq0, dxn1, gL.Wq, gL.Bq, T, d, qd);
            ReferenceOps<F>.LinearBackward(a.Xn1, L.Wk, dk0, dxn1, gL.Wk, gL.Bk, T, d, kvd);
            ReferenceOps<F>.LinearBackward(a.Xn1, L.Wv, dv, dxn1, gL.Wv, gL.Bv, T, d, kvd);
            ReferenceOps<F>.RmsNormBackward(a.X0, L.InputNorm, dxn1, dx, gL.InputNorm, T, d, eps); // dx is now d/dx0
        }
        for (int t = 0; t < T; t++)
            for (int i = 0; i < d; i++) grads.Embed[inputs[t] * d + i] += dx[t * d + i];
        return loss;
    }
}
