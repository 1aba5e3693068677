namespace Palu.LinearAlgebra;

/// <summary>
/// Deterministic standard-normal generator (<see cref="Tensors.SeededRandom"/> + Box–Muller): the same seed gives the
/// same numbers on every platform and .NET version, so sketches and fallback rotations are reproducible.
/// </summary>
public sealed class Gaussian(ulong seed)
{
    readonly Tensors.SeededRandom _rng = new(seed);
    double _spare;
    bool _hasSpare;

    double NextUniform() => _rng.NextDoubleOpenZero();

    public double Next()
    {
        if (_hasSpare) { _hasSpare = false; return _spare; }
        double r = Math.Sqrt(-2 * Math.Log(NextUniform())), theta = 2 * Math.PI * NextUniform();
        _spare = r * Math.Sin(theta);
        _hasSpare = true;
        return r * Math.Cos(theta);
    }

    public void Fill(Span<double> x) { for (int i = 0; i < x.Length; i++) x[i] = Next(); }

    public void Fill(Span<float> x) { for (int i = 0; i < x.Length; i++) x[i] = (float)Next(); }

    /// <summary>A new array of <paramref name="n"/> floats: each N(0, 1) draw rounded to float, times <paramref name="std"/>.</summary>
    public float[] Floats(int n, float std)
    {
        var a = new float[n];
        Fill(a);
        for (int i = 0; i < n; i++) a[i] *= std;
        return a;
    }

    /// <summary>A new [rows, cols] matrix of N(0, 1) entries.</summary>
    public double[] Matrix(int rows, int cols)
    {
        var a = new double[(long)rows * cols]; // [rows, cols]
        Fill(a);
        return a;
    }
}
