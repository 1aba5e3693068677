using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Palu.Kernels.Cpu;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Training;

/// <summary>Receives the gradient of each linear weight as back-propagation produces it (last layer first).</summary>
public interface IWeightGradientSink
{
    /// <summary>grad [out, in] of <paramref name="kind"/> in <paramref name="layer"/>; valid only during the call.</summary>
    void Add(int layer, LinearKind kind, ReadOnlySpan<float> grad);
}

/// <summary>
/// The fast f32 training forward and backward of a dense <see cref="CausalLM"/> (weights read in place through
/// <see cref="WeightMatrix"/>): the same composition as <see cref="ReferenceBackprop{F}"/>, with the products on the
/// packed GEMM (<see cref="SimdKernels.MatMul"/> forward, <see cref="TrainingGemm"/> backward), attention by
/// <see cref="TrainingAttention"/>, and the cross-entropy over the vocabulary in blocks of rows.
/// Activations of every layer are kept (≈ (8d + 3·ffn)·T floats per layer, plus 2·(q+kv) with q/k-norm); with
/// <c>recompute</c> only each layer's input is kept and the layer's forward is run again during the backward.
/// Produces the gradients of the seven linear weights of every layer (biases, norms and embeddings are not needed
/// by Fisher and are left out). One call at a time per instance.
/// </summary>
public sealed class Backprop
{
    /// <summary>Rows of logits computed at once for the cross-entropy ([rows, V] floats).</summary>
    const int LogitRows = 128;

    /// <summary>What one layer's backward needs from its forward.</summary>
    sealed class Acts(TrainingShape s, int T, bool qkNorm)
    {
        public readonly float[] Xn1 = new float[T * s.Hidden];                   // [T, d] normed input
        public readonly float[]? Q0 = qkNorm ? new float[T * s.QDim] : null;     // [T, H·dh] q before q-norm
        public readonly float[] Q = new float[T * s.QDim];                       // [T, H·dh] after norm and RoPE
        public readonly float[]? K0 = qkNorm ? new float[T * s.KvDim] : null;    // [T, Hkv·dh] k before k-norm
        public readonly float[] K = new float[T * s.KvDim];                      // [T, Hkv·dh] after norm and RoPE
        public readonly float[] V = new float[T * s.KvDim];                      // [T, Hkv·dh]
        public readonly float[] O = new float[T * s.QDim];                       // [T, H·dh] attention output
        public readonly float[] Lse = new float[s.Heads * T];                    // [H, T]
        public readonly float[] X1 = new float[T * s.Hidden];                    // [T, d] after the attention residual
        public readonly float[] Xn2 = new float[T * s.Hidden];                   // [T, d]
        public readonly float[] G = new float[T * s.Ffn];                        // [T, ffn] gate pre-activation
        public readonly float[] U = new float[T * s.Ffn];                        // [T, ffn]
        public readonly float[] H = new float[T * s.Ffn];                        // [T, ffn] silu(g)·u
    }

    /// <summary>Per-length buffers: layer inputs, activations, gradients.</summary>
    sealed class Buffers
    {
        public required int T;
        public required float[][] X;        // [L + 1][T, d]: X[l] = input of layer l, X[L] = last layer's output
        public required Acts[] Acts;        // [L] (stored) or [1] (recompute)
        public required float[] Xf;         // [T, d] final-normed
        public required float[] Logits;     // [LogitRows, V]
        public required float[] Dx;         // [T, d] gradient of the residual stream
        public required float[] Dxn;        // [T, d]
        public required float[] Tmp;        // [T, d]
        public required float[] DO;         // [T, H·dh]
        public required float[] Dq, Dq0;    // [T, H·dh]
        public required float[] Dk, Dk0, Dv;// [T, Hkv·dh]
        public required float[] Delta;      // [H, T]
        public required float[] Dg, Du, Dh; // [T, ffn]
        public required float[] DyT;        // [max out, T]
        public required float[] Dw;         // [max out·in]
    }

    readonly HostWeights _hw;
    readonly TrainingShape _s;
    readonly HostLayer[] _w;
    readonly bool _recompute;
    Buffers? _b;

    public TrainingShape Shape => _s;

    public Backprop(CausalLM lm, bool recompute = false)
    {
        _recompute = recompute;
        _s = TrainingShape.From(lm);
        _hw = HostWeights.From(lm);
        _w = _hw.Layers;
    }

    /// <summary>Mean cross-entropy of <paramref name="targets"/> (−1 = not scored) given <paramref name="inputs"/>.</summary>
    public double Loss(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets) => Run(inputs, targets, null);

    /// <summary>The loss, and the gradient of every linear weight handed to <paramref name="sink"/>.</summary>
    public double LossAndGradients(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, IWeightGradientSink sink) => Run(inputs, targets, sink);

    /// <summary>Bytes of the buffers for sequences of <paramref name="T"/> tokens (what <see cref="Run"/> allocates).</summary>
    public long BufferBytes(int T)
    {
        var b = Ensure(T);
        long n = b.X.Sum(x => (long)x.Length) + b.Xf.Length + b.Logits.Length + b.Dx.Length + b.Dxn.Length + b.Tmp.Length
                 + b.DO.Length + b.Dq.Length + b.Dq0.Length + b.Dk.Length + b.Dk0.Length + b.Dv.Length + b.Delta.Length
                 + b.Dg.Length + b.Du.Length + b.Dh.Length + b.DyT.Length + b.Dw.Length;
        foreach (var a in b.Acts)
            n += a.Xn1.Length + (a.Q0?.Length ?? 0) + a.Q.Length + (a.K0?.Length ?? 0) + a.K.Length + a.V.Length + a.O.Length
                 + a.Lse.Length + a.X1.Length + a.Xn2.Length + a.G.Length + a.U.Length + a.H.Length;
        return n * sizeof(float);
    }

    double Run(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, IWeightGradientSink? sink)
    {
        int T = inputs.Length, d = _s.Hidden;
        if (T == 0 || targets.Length != T) throw new ArgumentException("inputs and targets must have the same non-zero length");
        if (T > _s.Rope.MaxPositions) throw new ArgumentException($"sequence of {T} tokens exceeds max_position_embeddings {_s.Rope.MaxPositions}");
        foreach (int id in inputs)
            if ((uint)id >= (uint)_s.Vocab) throw new ArgumentOutOfRangeException(nameof(inputs), $"token id {id} outside the vocabulary [0, {_s.Vocab})");
        foreach (int y in targets)
            if (y >= _s.Vocab) throw new ArgumentOutOfRangeException(nameof(targets), $"target id {y} outside the vocabulary [0, {_s.Vocab})");
        var b = Ensure(T);

        for (int t = 0; t < T; t++) _hw.Embed.RowToSingle(inputs[t], b.X[0].AsSpan(t * d, d));
        for (int l = 0; l < _s.Layers; l++) LayerForward(l, b.Acts[_recompute ? 0 : l], b.X[l], b.X[l + 1], b);
        SimdKernels.RmsNorm(b.X[_s.Layers], _hw.FinalNorm, b.Xf, T, _s.Eps);
        double loss = CrossEntropy(b, targets, grad: sink != null);
        if (sink == null) return loss;

        BackpropOps.RmsNormBackward(b.X[_s.Layers], _hw.FinalNorm, b.Dxn, b.Dx, T, _s.Eps, accumulate: false);
        for (int l = _s.Layers - 1; l >= 0; l--)
        {
            var a = b.Acts[_recompute ? 0 : l];
            if (_recompute) LayerForward(l, a, b.X[l], b.Tmp, b);
            LayerBackward(l, a, b.X[l], b, sink);
        }
        return loss;
    }

    Buffers Ensure(int T)
    {
        if (_b?.T == T) return _b;
        _b = null;   // let the old buffers go first
        var s = _s;
        bool norm = _w.Any(w => w.QNorm != null || w.KNorm != null);
        int maxOut = LinearKinds.All.Max(k => s.Dims(k).Out);
        long maxW = LinearKinds.All.Max(k => (long)s.Dims(k).Out * s.Dims(k).In);
        return _b = new Buffers
        {
            T = T,
            X = Enumerable.Range(0, s.Layers + 1).Select(_ => new float[T * s.Hidden]).ToArray(),
            Acts = Enumerable.Range(0, _recompute ? 1 : s.Layers).Select(_ => new Acts(s, T, norm)).ToArray(),
            Xf = new float[T * s.Hidden], Logits = new float[Math.Min(T, LogitRows) * s.Vocab],
            Dx = new float[T * s.Hidden], Dxn = new float[T * s.Hidden], Tmp = new float[T * s.Hidden],
            DO = new float[T * s.QDim], Dq = new float[T * s.QDim], Dq0 = new float[T * s.QDim],
            Dk = new float[T * s.KvDim], Dk0 = new float[T * s.KvDim], Dv = new float[T * s.KvDim], Delta = new float[s.Heads * T],
            Dg = new float[T * s.Ffn], Du = new float[T * s.Ffn], Dh = new float[T * s.Ffn],
            DyT = new float[maxOut * T], Dw = new float[maxW],
        };
    }

    /// <summary>One decoder layer: x0 [T, d] → output [T, d], filling <paramref name="a"/>.</summary>
    void LayerForward(int l, Acts a, float[] x0, float[] output, Buffers b)
    {
        var w = _w[l];
        int T = b.T, H = _s.Heads, Hkv = _s.KvHeads;
        var tmp = b.Tmp.AsSpan(0, T * _s.Hidden);                              // [T, d]
        SimdKernels.RmsNorm(x0, w.InputNorm, a.Xn1, T, _s.Eps);
        w.Q.Forward(a.Xn1, a.Q0 ?? a.Q, T);
        w.K.Forward(a.Xn1, a.K0 ?? a.K, T);
        w.V.Forward(a.Xn1, a.V, T);
        if (w.QNorm != null) SimdKernels.RmsNorm(a.Q0!, w.QNorm, a.Q, T * H, _s.Eps);
        else if (a.Q0 != null) a.Q0.AsSpan(0, a.Q.Length).CopyTo(a.Q);
        if (w.KNorm != null) SimdKernels.RmsNorm(a.K0!, w.KNorm, a.K, T * Hkv, _s.Eps);
        else if (a.K0 != null) a.K0.AsSpan(0, a.K.Length).CopyTo(a.K);
        SimdKernels.Rope(a.Q, T, H, 0, _s.Rope);
        SimdKernels.Rope(a.K, T, Hkv, 0, _s.Rope);
        TrainingAttention.Forward(a.Q, a.K, a.V, a.O, a.Lse, T, H, Hkv, _s.HeadDim, _s.Window);
        w.O.Forward(a.O, tmp, T);
        TensorPrimitives.Add(x0, tmp, a.X1);
        SimdKernels.RmsNorm(a.X1, w.PostNorm, a.Xn2, T, _s.Eps);
        w.Gate.Forward(a.Xn2, a.G, T);
        w.Up.Forward(a.Xn2, a.U, T);
        a.G.CopyTo(a.H, 0);
        SimdKernels.SwiGlu(a.H, a.U);
        w.Down.Forward(a.H, tmp, T);
        TensorPrimitives.Add(a.X1, tmp, output);
    }

    /// <summary>b.Dx [T, d]: gradient w.r.t. the layer's output on entry, w.r.t. its input x0 on return.</summary>
    void LayerBackward(int l, Acts a, float[] x0, Buffers b, IWeightGradientSink sink)
    {
        var w = _w[l];
        int T = b.T, H = _s.Heads, Hkv = _s.KvHeads, dh = _s.HeadDim;
        Span<float> dx = b.Dx, dxn = b.Dxn, tmp = b.Tmp;                         // [T, d]
        // MLP: out = x1 + down(silu(gate(xn2))·up(xn2))
        TrainingGemm.InputGradient(dx, w.Down.Weight, b.Dh, T);
        Emit(l, LinearKind.Down, dx, a.H, b, sink);
        BackpropOps.SwiGluBackward(a.G, a.U, b.Dh, b.Dg, b.Du);
        Emit(l, LinearKind.Gate, b.Dg, a.Xn2, b, sink);
        Emit(l, LinearKind.Up, b.Du, a.Xn2, b, sink);
        TrainingGemm.InputGradient(b.Dg, w.Gate.Weight, dxn, T);
        TrainingGemm.InputGradient(b.Du, w.Up.Weight, tmp, T);
        TensorPrimitives.Add(dxn, tmp, dxn);
        BackpropOps.RmsNormBackward(a.X1, w.PostNorm, dxn, dx, T, _s.Eps, accumulate: true);    // dx = d/dx1
        // attention: x1 = x0 + o_proj(attn(rope(norm(q)), rope(norm(k)), v))
        TrainingGemm.InputGradient(dx, w.O.Weight, b.DO, T);
        Emit(l, LinearKind.O, dx, a.O, b, sink);
        TrainingAttention.Backward(a.Q, a.K, a.V, a.O, a.Lse, b.DO, b.Dq, b.Dk, b.Dv, b.Delta, T, H, Hkv, dh, _s.Window);
        ElementwiseKernels.Rope(b.Dq, T, H, 0, _s.Rope, inverse: true);
        ElementwiseKernels.Rope(b.Dk, T, Hkv, 0, _s.Rope, inverse: true);
        float[] dq = b.Dq, dk = b.Dk;                                            // d/d(projection outputs)
        if (w.QNorm != null) { BackpropOps.RmsNormBackward(a.Q0!, w.QNorm, b.Dq, b.Dq0, T * H, _s.Eps, accumulate: false); dq = b.Dq0; }
        if (w.KNorm != null) { BackpropOps.RmsNormBackward(a.K0!, w.KNorm, b.Dk, b.Dk0, T * Hkv, _s.Eps, accumulate: false); dk = b.Dk0; }
        Emit(l, LinearKind.Q, dq, a.Xn1, b, sink);
        Emit(l, LinearKind.K, dk, a.Xn1, b, sink);
        Emit(l, LinearKind.V, b.Dv, a.Xn1, b, sink);
        TrainingGemm.InputGradient(dq, w.Q.Weight, dxn, T);
        TrainingGemm.InputGradient(dk, w.K.Weight, tmp, T);
        TensorPrimitives.Add(dxn, tmp, dxn);
        TrainingGemm.InputGradient(b.Dv, w.V.Weight, tmp, T);
        TensorPrimitives.Add(dxn, tmp, dxn);
        BackpropOps.RmsNormBackward(x0, w.InputNorm, dxn, dx, T, _s.Eps, accumulate: true);     // dx = d/dx0
    }

    /// <summary>dW [out, in] = dyᵀ·x, handed to the sink.</summary>
    void Emit(int l, LinearKind k, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Buffers b, IWeightGradientSink sink)
    {
        var (m, n) = _s.Dims(k);
        TrainingGemm.WeightGradient(dy, x, b.Dw, b.DyT, b.T, m, n);
        sink.Add(l, k, b.Dw.AsSpan(0, m * n));
    }

    /// <summary>
    /// Mean cross-entropy over scored rows; with <paramref name="grad"/>, b.Dxn [T, d] = d loss / d xf, through
    /// dz = (softmax(z) − onehot(y))/N and dxf = dz·LmHead.
    /// </summary>
    double CrossEntropy(Buffers b, ReadOnlySpan<int> targets, bool grad)
    {
        int T = b.T, d = _s.Hidden, V = _s.Vocab, N = 0;
        foreach (int y in targets) if (y >= 0) N++;
        if (N == 0) throw new ArgumentException("no position has a target");
        float invN = 1f / N;
        double loss = 0;
        for (int r0 = 0; r0 < T; r0 += LogitRows)
        {
            int rows = Math.Min(LogitRows, T - r0);
            var z = b.Logits.AsSpan(0, rows * V);                               // [rows, V]
            SimdKernels.MatMul(b.Xf.AsSpan(r0 * d, rows * d), _hw.LmHead, z, rows);
            for (int i = 0; i < rows; i++)
            {
                var row = z.Slice(i * V, V);
                int y = targets[r0 + i];
                if (y < 0) { row.Clear(); continue; }
                float zy = row[y];
                var (max, sum) = ExpInPlace(row);
                loss -= zy - max - Math.Log(sum);
                TensorPrimitives.Multiply(row, (float)(1.0 / sum) * invN, row);
                row[y] -= invN;
            }
            if (grad) TrainingGemm.InputGradient(z, _hw.LmHead, b.Dxn.AsSpan(r0 * d, rows * d), rows);
        }
        return loss / N;
    }

    /// <summary>row ← e^(row − max); returns max and the sum of the exponentials.</summary>
    static unsafe (float Max, double Sum) ExpInPlace(Span<float> row)
    {
        float max = TensorPrimitives.Max(row);
        int n = row.Length, i = 0;
        fixed (float* p = row)
        {
            var vm = Vector512.Create(max);
            var vs = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var e = SimdMath.Exp(Vector512.Load(p + i) - vm);
                e.Store(p + i);
                vs += e;
            }
            double sum = Vector512.Sum(vs);
            for (; i < n; i++) { p[i] = MathF.Exp(p[i] - max); sum += p[i]; }
            return (max, sum);
        }
    }
}
