using Palu.Compression;
using Palu.LinearAlgebra;

namespace Palu.Tests.Quantization;

/// <summary>The rotation fused into a group's factors keeps B·A (exact at full precision) and spreads the latents.</summary>
public class RotationTests
{
    [Theory]
    [InlineData(16, "walsh-hadamard")]      // power of two: fast transform
    [InlineData(24, "hadamard Paley")]      // 12·2
    [InlineData(22, "random-orthogonal")]   // 2·11: no construction
    public void RotatedFactorsKeepTheProduct(int r, string kind)
    {
        const int d = 40, width = 32;
        var g = new Gaussian((ulong)r);
        var a = g.Floats(r * d, 1f);          // [r, d]
        var b = g.Floats(width * r, 1f);      // [width, r]
        var want = Product(b, a, width, r, d);
        var (ra, rb) = ((float[])a.Clone(), (float[])b.Clone());
        string how = LatentRotation.Apply(ra, rb, r, d, width);
        Assert.StartsWith(kind, how);
        var got = Product(rb, ra, width, r, d);
        double max = want.Max(Math.Abs), diff = want.Zip(got, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(diff / max < 1e-5, $"r={r}: B'A' differs from BA by {diff / max:E2}");
        Assert.False(ra.AsSpan().SequenceEqual(a), "the factors were not rotated");
    }

    static double[] Product(float[] b, float[] a, int m, int r, int d)
    {
        var y = new double[m * d];
        for (int i = 0; i < m; i++)
            for (int k = 0; k < r; k++)
                for (int j = 0; j < d; j++) y[i * d + j] += (double)b[i * r + k] * a[k * d + j];
        return y;
    }

    [Fact]
    public void HadamardSpreadsAnOutlierChannel()
    {
        // a latent with all its energy in channel 0 (what SVD's first direction looks like) comes out flat
        const int r = 32, d = 1;
        var a = new float[r * d];
        a[0] = 1f;
        var b = new float[r];
        LatentRotation.Apply(a, b, r, d, 1);
        Assert.All(a, v => Assert.Equal(1 / MathF.Sqrt(r), Math.Abs(v), 5));
    }
}
