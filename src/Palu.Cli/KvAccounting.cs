using Palu.IO;

namespace Palu.Cli;

/// <summary>
/// What <c>inspect</c> reports about a quantised latent cache, both accountings labelled: bytes per token as stored
/// (measured from the cache's layout: codes + f16 scales + f16 zero-points) against a dense fp16 cache, and the Palu
/// paper's 1 − ρ·b/16 (scales and zero-points excluded).
/// </summary>
public static class KvAccounting
{
    public static void Add(Dictionary<string, object?> o, CompressionPlan plan, long kvBytesPerToken, long denseFp16BytesPerToken)
    {
        var latent = plan.Modules.Where(m => m.Kind == ModulePlan.KvLatent).ToArray();
        if (latent.Length == 0) return;
        int bits = latent[0].Bits;
        double keep = plan.Kv?.RealizedKeep ?? double.NaN;
        o["kv_values_per_token"] = latent.Sum(m => (long)m.Groups!.Sum(g => g.Rank));
        o["kv_bits"] = latent.Select(m => m.Bits).Distinct().Count() == 1 ? bits : latent.Select(m => m.Bits).Distinct().ToArray();
        o["quant_group"] = latent[0].QuantGroup;
        o["hadamard"] = latent.All(m => m.Hadamard);
        o["rotations"] = latent.SelectMany(m => m.Groups!).Select(g => g.Rotation).OfType<string>().Distinct().ToArray();
        o["kv_compression_stored_vs_fp16"] = Math.Round(1 - (double)kvBytesPerToken / denseFp16BytesPerToken, 6);
        o["kv_compression_paper"] = Math.Round(1 - keep * bits / 16, 6);
        o["kv_compression_note"] = "stored: 1 − kv_bytes_per_token / kv_bytes_per_token_dense_fp16 (codes + f16 scales + f16 zero-points, as the cache holds them); " +
                                   "paper: 1 − ρ·b/16 with ρ the realized keep (scales and zero-points excluded, as the Palu paper counts)";
    }
}
