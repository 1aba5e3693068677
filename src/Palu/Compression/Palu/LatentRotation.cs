using System.Numerics;
using Palu.LinearAlgebra;

namespace Palu.Compression;

/// <summary>
/// Fuses an orthogonal rotation M [r, r] into one head group's factors offline (ALGORITHMS.md §1.7): A_g ← M·A_g,
/// B_g ← B_g·Mᵀ, so that the cached latent is M·h and B_g·Mᵀ·M·h = B_g·h (exact at full precision). M spreads the
/// outliers SVD puts in the first latent channels over all channels before per-token quantisation. Power-of-two r: the
/// fast Walsh–Hadamard transform; other r: a Sylvester ⊗ Paley Hadamard matrix (<see cref="Hadamard"/>); where none is
/// constructed, a seeded random orthogonal matrix (stated in palu.json).
/// </summary>
public static class LatentRotation
{
    /// <summary>Rotates a [r, d] and b [width, r] in place; returns how (for the group's "rotation" entry).</summary>
    public static string Apply(float[] a, float[] b, int r, int d, int width, ulong fallbackSeed = Hadamard.DefaultFallbackSeed)
    {
        if (a.Length != r * d || b.Length != width * r) throw new ArgumentException($"factors [{a.Length}], [{b.Length}] are not [{r}, {d}] and [{width}, {r}]");
        if (BitOperations.IsPow2(r))
        {
            // (M·A)[:, j] = FWHT(A[:, j]); (B·Mᵀ)[i, :] = FWHT(B[i, :]) since Sylvester's M is symmetric
            var col = new double[r];
            for (int j = 0; j < d; j++)
            {
                for (int i = 0; i < r; i++) col[i] = a[i * d + j];
                Hadamard.Transform(col);
                for (int i = 0; i < r; i++) a[i * d + j] = (float)col[i];
            }
            var row = new double[r];
            for (int i = 0; i < width; i++)
            {
                for (int k = 0; k < r; k++) row[k] = b[i * r + k];
                Hadamard.Transform(row);
                for (int k = 0; k < r; k++) b[i * r + k] = (float)row[k];
            }
            return $"walsh-hadamard {r} (fast transform)";
        }
        var m = Hadamard.Matrix(r, fallbackSeed);   // [r, r]
        var na = new double[d];
        var rotated = new float[a.Length];          // [r, d] M·A
        for (int i = 0; i < r; i++)
        {
            Array.Clear(na);
            for (int k = 0; k < r; k++)
            {
                double mik = m[i * r + k];
                for (int j = 0; j < d; j++) na[j] += mik * a[k * d + j];
            }
            for (int j = 0; j < d; j++) rotated[i * d + j] = (float)na[j];
        }
        rotated.CopyTo(a, 0);
        var nb = new double[r];
        for (int i = 0; i < width; i++)
        {
            for (int j = 0; j < r; j++)
            {
                double acc = 0;
                for (int k = 0; k < r; k++) acc += b[i * r + k] * m[j * r + k];
                nb[j] = acc;
            }
            for (int j = 0; j < r; j++) b[i * r + j] = (float)nb[j];
        }
        return Hadamard.Describe(r) is string how
            ? $"hadamard {how}"
            : $"random-orthogonal seed {fallbackSeed} (no Hadamard construction for order {r})";
    }
}
