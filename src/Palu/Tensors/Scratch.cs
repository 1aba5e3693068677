namespace Palu.Tensors;

/// <summary>Grow-only scratch arrays (one user at a time per array).</summary>
internal static class Scratch
{
    /// <summary>The first <paramref name="n"/> elements of <paramref name="a"/>, reallocated first (by at least half
    /// again, contents dropped) when shorter.</summary>
    public static Span<float> Grow(ref float[] a, int n)
    {
        if (a.Length < n) a = new float[Math.Max(n, a.Length * 3 / 2)];
        return a.AsSpan(0, n);
    }
}
