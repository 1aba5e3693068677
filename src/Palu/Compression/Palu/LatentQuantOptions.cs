using Palu.IO;
using Palu.Kernels.Cpu;

namespace Palu.Compression;

/// <summary>Checks and plan entries of Palu's latent quantisation options (--kv-bits, --quant-group, --hadamard).</summary>
public static class LatentQuantOptions
{
    /// <summary>Before any work: bits and group size on their own.</summary>
    public static void Validate(PaluOptions o)
    {
        if (o.KvBits != 16 && !QuantLayout.IsSupported(o.KvBits))
            throw new ArgumentException($"--kv-bits {o.KvBits} is not supported: choose 16 (float latents, the default) or 8, 4, 3, 2 (quantised per token, packed)");
        if (o.QuantGroup < 0) throw new ArgumentException($"--quant-group must be 0 (one scale per head group's latent) or a positive number of channels, got {o.QuantGroup}");
        if (o.QuantGroup > 0 && o.KvBits == 16)
            throw new ArgumentException($"--quant-group {o.QuantGroup} needs --kv-bits 2, 3, 4 or 8 (16-bit latents are not quantised)");
    }

    /// <summary>Once the ranks are known (before calibration and decomposition): the quantisation group divides every rank.</summary>
    public static void CheckRanks(PaluOptions o, IReadOnlyList<LayerRanks> ranks)
    {
        if (o.QuantGroup == 0 || o.KvBits == 16) return;
        var all = ranks.SelectMany(r => r.KRanks.Concat(r.VRanks)).Distinct().Order().ToArray();
        if (all.FirstOrDefault(r => r % o.QuantGroup != 0) is int bad and > 0)
            throw new ArgumentException($"--quant-group {o.QuantGroup} does not divide the rank {bad} (ranks here: {string.Join(", ", all)}); " +
                $"choose a divisor of every rank, e.g. {CommonDivisors(all)}, or 0 (one scale per head group)");
    }

    static string CommonDivisors(int[] ranks)
    {
        int g = ranks.Aggregate(0, (a, b) => (int)System.Numerics.BigInteger.GreatestCommonDivisor(a, b));
        return string.Join(", ", Enumerable.Range(1, g).Where(x => g % x == 0 && x >= 8).DefaultIfEmpty(g));
    }

    /// <summary>The module entry with the bits, quantisation group and rotation of each group.</summary>
    public static ModulePlan Annotate(ModulePlan m, PaluOptions o, string?[] rotations) => m with
    {
        Bits = o.KvBits,
        QuantGroup = o.KvBits == 16 ? 0 : o.QuantGroup,
        Hadamard = o.Hadamard,
        Groups = m.Groups!.Select((g, i) => g with { Rotation = o.Hadamard ? rotations[i] : null }).ToArray(),
    };
}
