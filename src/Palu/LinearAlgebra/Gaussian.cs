namespace Palu.LinearAlgebra;

/// <summary>
/// Deterministic standard-normal generator (SplitMix64 + Box–Muller): the same seed gives the same numbers on every
/// platform and .NET version (unlike System.Random), so sketches and fallback rotations are reproducible.
/// </summary>
public sealed class Gaussian(ulong seed)
{
    ulong _state = seed;
    double _spare;
    bool _hasSpare;

    ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in (0, 1].</summary>
    double NextUniform() => ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));

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
