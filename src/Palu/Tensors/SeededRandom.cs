namespace Palu.Tensors;

/// <summary>
/// The one seeded random generator of the library (SplitMix64, Steele et al. 2014): the same seed gives the same
/// numbers on every platform and .NET version, unlike System.Random, whose algorithm for a given seed is not promised
/// across versions. Calibration sampling, sketches, random rotations, seeded token sampling and test models all draw
/// from it. Not for cryptography.
/// </summary>
public sealed class SeededRandom(ulong seed)
{
    ulong _state = seed;

    /// <summary>A generator seeded from the OS's entropy (unseeded sampling).</summary>
    public static SeededRandom FromEntropy() => new(BitConverter.ToUInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)));

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in (0, 1] with 53 random bits (safe under a logarithm).</summary>
    public double NextDoubleOpenZero() => ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [<paramref name="min"/>, <paramref name="max"/>), unbiased (Lemire's multiply-and-reject).</summary>
    public int Next(int min, int max)
    {
        if (max <= min) throw new ArgumentOutOfRangeException(nameof(max), $"empty range [{min}, {max})");
        ulong range = (ulong)((long)max - min);
        UInt128 m = (UInt128)NextUInt64() * range;
        ulong low = (ulong)m;
        if (low < range)
        {
            ulong threshold = (0UL - range) % range;
            while (low < threshold) { m = (UInt128)NextUInt64() * range; low = (ulong)m; }
        }
        return (int)((long)min + (long)(ulong)(m >> 64));
    }
}
