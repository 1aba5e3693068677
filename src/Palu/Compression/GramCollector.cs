using Palu.LinearAlgebra;
using Palu.Models;

namespace Palu.Compression;

/// <summary>
/// Accumulates G = Σ xᵀx over calibration tokens for the chosen linear input of every layer (the input of k_proj and
/// v_proj is one tensor, so one Gram serves both). Each forward chunk's XᵀX is formed in f32 by GEMM and added to an
/// f64 accumulator, so rounding does not grow with the number of tokens.
/// </summary>
public sealed class GramCollector : IActivationObserver
{
    readonly ILinearAlgebra _la;
    readonly LinearInput _which;
    readonly double[][] _grams;   // per layer [d, d]
    float[] _chunk = [];          // [d, d]

    public int Dim { get; }
    public long Tokens { get; private set; }

    public GramCollector(int layers, int dim, LinearInput which, ILinearAlgebra la)
    {
        Dim = dim; _which = which; _la = la;
        _grams = Enumerable.Range(0, layers).Select(_ => new double[(long)dim * dim]).ToArray();
    }

    public double[] Gram(int layer) => _grams[layer];

    public void OnLinearInput(int layer, LinearInput which, ReadOnlySpan<float> x, int T)
    {
        if (which != _which) return;
        int d = Dim;
        if (_chunk.Length < d * d) _chunk = new float[d * d];
        var c = _chunk.AsSpan(0, d * d);
        _la.Gemm(true, false, d, d, T, 1f, x[..(T * d)], x[..(T * d)], 0f, c);   // Xᵀ X, X [T, d]
        var g = _grams[layer];
        for (int i = 0; i < c.Length; i++) g[i] += c[i];
        if (layer == 0) Tokens += T;
    }
}
