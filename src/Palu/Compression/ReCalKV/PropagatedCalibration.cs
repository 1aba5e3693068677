using Palu.LinearAlgebra;
using Palu.Models;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Compression;

/// <summary>
/// Layer-wise calibration through already-compressed layers (ALGORITHMS.md §1.2, §5.1): holds the dense model with the
/// layers compressed so far swapped in (latent attention built from the factors in memory) and gives the Gram of layer
/// ℓ's k/v_proj input on that model. A pass stops at layer ℓ (the layers above it do not run), so calibrating all L
/// layers costs about (L + 1)/2 forward passes over the data, not L.
/// </summary>
public sealed class PropagatedCalibration
{
    readonly CausalLM _dense;
    readonly DecoderLayer[] _layers;
    readonly ILinearAlgebra _la;

    public PropagatedCalibration(CausalLM dense, ILinearAlgebra la)
    {
        _dense = dense; _la = la;
        _layers = dense.Layers.ToArray();
    }

    /// <summary>One K or V projection in memory: A [Σr, d], per group B_g [|heads|·d_h, r_g] and bias rows (or null).</summary>
    public sealed record Projection(float[] Down, int[][] Groups, int[] Ranks, float[][] Up, float[]?[] Bias);

    /// <summary>From now on layer <paramref name="l"/> runs with latent attention of these factors.</summary>
    public void Replace(int l, Projection k, Projection v)
    {
        var old = _layers[l];
        var dense = (DenseAttention)old.Attention;
        var be = _dense.Backend;
        var shape = _dense.AttentionShape;
        _layers[l] = new DecoderLayer
        {
            InputNorm = old.InputNorm, Q = old.Q, QNorm = old.QNorm, PostAttentionNorm = old.PostAttentionNorm,
            Gate = old.Gate, Up = old.Up, Down = old.Down,
            Attention = new LatentAttention(Load(be, k, shape.HeadDim, shape.KvHeads, _dense.Hidden), Load(be, v, shape.HeadDim, shape.KvHeads, _dense.Hidden),
                dense.O, dense.KNorm, shape),
        };
    }

    static LatentProjection Load(Backend be, Projection p, int dh, int kvHeads, int d)
    {
        var up = p.Up.Select((b, g) => be.Load(WeightMatrix.FromFloats(b, p.Groups[g].Length * dh, p.Ranks[g]))).ToArray();
        var bias = p.Bias.Select(b => b is null ? default : be.Load(b)).ToArray();
        return new LatentProjection(dh, kvHeads, p.Groups, new DenseLinear(be.Load(WeightMatrix.FromFloats(p.Down, p.Ranks.Sum(), d))), up, bias);
    }

    /// <summary>G = Σ xᵀx [d, d] (f64) of layer <paramref name="l"/>'s attention input over <paramref name="samples"/>, with the current layers.</summary>
    public double[] Gram(int l, IReadOnlyList<int[]> samples, CancellationToken ct)
    {
        var c = _dense.Config;
        // not disposed: it shares the dense model's checkpoint and weights (host memory, left to the collector)
        var lm = new CausalLM(c, _dense.Path, _dense.Backend, null, _dense.Embed, _layers.ToArray(), _dense.FinalNorm, _dense.LmHead,
            _dense.AttentionShape, _dense.DefaultKvDType, _dense.Checkpoint, new object());
        var stop = new StopAt(l, new GramCollector(1, c.HiddenSize, LinearInput.Attention, _la));
        int seqLen = samples.Max(s => s.Length);
        var hidden = new float[CausalLM.PrefillChunk * c.HiddenSize];
        using var seq = lm.NewSequence(seqLen);
        foreach (var tokens in samples)
        {
            ct.ThrowIfCancellationRequested();
            seq.RewindTo(0);
            for (int s = 0; s < tokens.Length; s += CausalLM.PrefillChunk)
            {
                int n = Math.Min(CausalLM.PrefillChunk, tokens.Length - s);
                try { lm.Forward(tokens.AsSpan(s, n), seq, hidden, stop); }
                catch (StopAt.Reached) { seq.Advance(n); }   // layers < ℓ have cached the chunk; layers ≥ ℓ never run
            }
        }
        return stop.Grams.Gram(0);
    }

    /// <summary>Adds layer ℓ's attention input to a one-layer Gram, then ends the pass.</summary>
    sealed class StopAt(int layer, GramCollector grams) : IActivationObserver
    {
        public sealed class Reached : Exception;
        public GramCollector Grams { get; } = grams;

        public void OnLinearInput(int l, LinearInput which, ReadOnlySpan<float> x, int T)
        {
            if (l != layer || which != LinearInput.Attention) return;
            Grams.OnLinearInput(0, which, x, T);
            throw new Reached();
        }
    }
}
