using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Palu.LinearAlgebra;

/// <summary>
/// Hadamard rotations (ALGORITHMS.md §1.7): the fast Walsh–Hadamard transform for power-of-two sizes and explicit
/// orthogonal matrices M [r, r] for r = b·2^k.
/// <para>
/// Constructions (all computed here, no stored tables): Sylvester H_{2^k}; Paley I, order q + 1 for a prime
/// q ≡ 3 (mod 4) (e.g. 12, 20, 44, 60, 68, 84, 104, 108, 140, 180, 200); Paley II, order 2(q + 1) for a prime
/// q ≡ 1 (mod 4) (e.g. 12, 28, 36, 60, 76, 108); and Kronecker products H_b ⊗ H_{2^k}. The smallest constructible b
/// is used (Paley I before Paley II), so e.g. 12 → Paley I (q = 11), 28 → Paley II (q = 13), 416 = 104·4, 800 = 200·4. Orders needing GF(p^k) with k &gt; 1 or
/// Williamson-type matrices (e.g. 52, 92, 156, 172) are not constructed.
/// </para>
/// <para>
/// Unsupported r fall back to a deterministic Haar-random orthogonal matrix (Householder QR of a seeded Gaussian,
/// R's diagonal made positive). That keeps the offline fusion A ← M·A, B ← B·Mᵀ exact, but unlike a Hadamard matrix its
/// entries are not all ±1/√r, so it spreads outliers only on average rather than uniformly.
/// </para>
/// </summary>
public static class Hadamard
{
    /// <summary>Seed of the random orthogonal fallback of <see cref="Matrix"/>.</summary>
    public const ulong DefaultFallbackSeed = 0x4AD4;

    /// <summary>In place orthonormal fast Walsh–Hadamard transform x ← H_n·x/√n (natural/Sylvester order); length a power of two.</summary>
    public static void Transform(Span<float> x)
    {
        Butterflies(x);
        TensorPrimitives.Multiply(x, 1f / MathF.Sqrt(x.Length), x);
    }

    /// <inheritdoc cref="Transform(Span{float})"/>
    public static void Transform(Span<double> x)
    {
        Butterflies(x);
        TensorPrimitives.Multiply(x, 1 / Math.Sqrt(x.Length), x);
    }

    /// <summary>Applies <see cref="Transform(Span{float})"/> to each contiguous block of length n of data [rows, n].</summary>
    public static void TransformRows(Span<float> data, int n)
    {
        if (n <= 0 || data.Length % n != 0) throw new ArgumentException($"data length {data.Length} is not a multiple of {n}");
        for (int i = 0; i < data.Length; i += n) Transform(data.Slice(i, n));
    }

    static void Butterflies<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Length;
        if (n == 0 || !BitOperations.IsPow2(n)) throw new ArgumentException($"fast Walsh–Hadamard transform needs a power-of-two length, got {n}");
        int w = Vector512<T>.Count;
        for (int h = 1; h < n; h *= 2)
            for (int i = 0; i < n; i += 2 * h)
            {
                var lo = x.Slice(i, h);
                var hi = x.Slice(i + h, h);
                int j = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (; j + w <= h; j += w)
                    {
                        var a = Vector512.Create<T>(lo[j..]);
                        var b = Vector512.Create<T>(hi[j..]);
                        (a + b).CopyTo(lo[j..]);
                        (a - b).CopyTo(hi[j..]);
                    }
                for (; j < h; j++)
                {
                    T a = lo[j], b = hi[j];
                    lo[j] = a + b;
                    hi[j] = a - b;
                }
            }
    }

    /// <summary>True when a ±1 Hadamard matrix of order r can be constructed (see class remarks).</summary>
    public static bool IsSupported(int r) => r > 0 && FindConstruction(r) is not null;

    /// <summary>How order r is built, e.g. "Paley I (q = 11) ⊗ Sylvester 8", or null when unsupported.</summary>
    public static string? Describe(int r)
    {
        var c = r > 0 ? FindConstruction(r) : null;
        if (c is null) return null;
        var (b, k) = c.Value;
        string baseName = b == 1 ? "Sylvester 1" : IsPaleyI(b) ? $"Paley I (q = {b - 1})" : $"Paley II (q = {b / 2 - 1})";
        return k == 0 ? baseName : b == 1 ? $"Sylvester {1 << k}" : $"{baseName} ⊗ Sylvester {1 << k}";
    }

    /// <summary>The ±1 Hadamard matrix H [r, r] (H·Hᵀ = r·I). Throws <see cref="NotSupportedException"/> for unsupported r.</summary>
    public static sbyte[] SignMatrix(int r)
    {
        var c = (r > 0 ? FindConstruction(r) : null) ?? throw new NotSupportedException($"no Hadamard construction for order {r}");
        return SignMatrix(r, c.B, c.K);
    }

    /// <summary>H [r, r] = BaseMatrix(b) ⊗ Sylvester(2^k), r = b·2^k.</summary>
    static sbyte[] SignMatrix(int r, int b, int k)
    {
        var core = BaseMatrix(b); // [b, b]
        int p = 1 << k;
        var h = new sbyte[(long)r * r]; // [r, r] = core ⊗ Sylvester(p)
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
            {
                int sylvester = (BitOperations.PopCount((uint)((i % p) & (j % p))) & 1) == 0 ? 1 : -1;
                h[(long)i * r + j] = (sbyte)(core[(i / p) * b + j / p] * sylvester);
            }
        return h;
    }

    /// <summary>
    /// Orthogonal M [r, r]: H_r/√r when a Hadamard matrix of order r is constructible, otherwise the seeded
    /// random orthogonal fallback (<see cref="RandomOrthogonal"/>).
    /// </summary>
    public static double[] Matrix(int r, ulong fallbackSeed = DefaultFallbackSeed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(r);
        if (FindConstruction(r) is not { } c) return RandomOrthogonal(r, fallbackSeed);
        var h = SignMatrix(r, c.B, c.K);
        var m = new double[h.Length]; // [r, r]
        double scale = 1 / Math.Sqrt(r);
        for (int i = 0; i < h.Length; i++) m[i] = h[i] * scale;
        return m;
    }

    /// <summary>Haar-distributed orthogonal Q [r, r] from the QR of a seeded Gaussian (diag(R) made positive); always computed by the managed provider, so it is identical everywhere.</summary>
    public static double[] RandomOrthogonal(int r, ulong seed)
    {
        var f = ManagedQr.Factor(new Gaussian(seed).Matrix(r, r), r, r);
        var q = ManagedQr.FormQ(f); // [r, r]
        for (int j = 0; j < r; j++)
            if (f.RDiag[j] < 0)
                for (int i = 0; i < r; i++) q[(long)i * r + j] = -q[(long)i * r + j];
        return q;
    }

    /// <summary>(b, k) with r = b·2^k and b constructible (1 or Paley), smallest b first.</summary>
    static (int B, int K)? FindConstruction(int r)
    {
        int k = BitOperations.TrailingZeroCount(r);
        for (; k >= 0; k--)
        {
            int b = r >> k;
            if (b == 1 || IsPaleyI(b) || IsPaleyII(b)) return (b, k);
        }
        return null;
    }

    static bool IsPaleyI(int b) => b >= 4 && (b - 1) % 4 == 3 && IsPrime(b - 1);
    static bool IsPaleyII(int b) => b >= 12 && b % 2 == 0 && (b / 2 - 1) % 4 == 1 && IsPrime(b / 2 - 1);

    static bool IsPrime(int q)
    {
        if (q < 2) return false;
        for (int d = 2; (long)d * d <= q; d++) if (q % d == 0) return false;
        return true;
    }

    /// <summary>±1 Hadamard matrix [b, b] for b = 1 or a Paley order.</summary>
    static sbyte[] BaseMatrix(int b)
    {
        if (b == 1) return [1];
        if (IsPaleyI(b))
        {
            // H = I + S, S = [[0, 1ᵀ], [−1, Q]] with the Jacobsthal matrix Q[i, j] = χ(j − i) (antisymmetric for q ≡ 3 mod 4).
            int q = b - 1;
            var chi = QuadraticCharacter(q);
            var h = new sbyte[b * b]; // [b, b]
            for (int i = 0; i < b; i++)
                for (int j = 0; j < b; j++)
                {
                    int s = i == 0 ? (j == 0 ? 0 : 1) : j == 0 ? -1 : chi[((j - i) % q + q) % q];
                    h[i * b + j] = (sbyte)((i == j ? 1 : 0) + s);
                }
            return h;
        }
        else
        {
            // Conference matrix C = [[0, 1ᵀ], [1, Q]] (symmetric for q ≡ 1 mod 4), H = C ⊗ [[1, −1], [−1, −1]] + I ⊗ [[1, 1], [1, −1]].
            int q = b / 2 - 1, c = q + 1;
            var chi = QuadraticCharacter(q);
            var h = new sbyte[b * b]; // [b, b]
            for (int i = 0; i < c; i++)
                for (int j = 0; j < c; j++)
                {
                    int cij = i == 0 ? (j == 0 ? 0 : 1) : j == 0 ? 1 : chi[((j - i) % q + q) % q];
                    for (int u = 0; u < 2; u++)
                        for (int v = 0; v < 2; v++)
                        {
                            int conf = u == 0 && v == 0 ? 1 : -1;      // [[1, −1], [−1, −1]]
                            int diag = u == 1 && v == 1 ? -1 : 1;      // [[1, 1], [1, −1]]
                            h[(2 * i + u) * b + 2 * j + v] = (sbyte)(cij * conf + (i == j ? diag : 0));
                        }
                }
            return h;
        }
    }

    /// <summary>Legendre symbol χ(x) mod prime q: 0 for x = 0, 1 for non-zero squares, −1 otherwise.</summary>
    static int[] QuadraticCharacter(int q)
    {
        var chi = new int[q];
        Array.Fill(chi, -1);
        chi[0] = 0;
        for (long x = 1; x < q; x++) chi[x * x % q] = 1;
        return chi;
    }
}
