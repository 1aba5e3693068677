using Palu.IO;
using Palu.Models;

namespace Palu.Compression;

/// <summary>How a Palu factorisation is stored: its tensor names and its plan entries.</summary>
public static class PaluPlan
{
    /// <summary>A [Σr, d]: the groups' down-projections of layer <paramref name="layer"/>'s K or V, stacked in group order.</summary>
    public static string DownName(int layer, LinearKind kind) => LinearKinds.Module(layer, kind) + ".down.weight";
    /// <summary>B_g [s_g·d_h, r_g].</summary>
    public static string UpName(int layer, LinearKind kind, int g) => $"{LinearKinds.Module(layer, kind)}.up.{g}.weight";
    /// <summary>b_g [s_g·d_h]: the bias rows of the group's heads.</summary>
    public static string UpBiasName(int layer, LinearKind kind, int g) => $"{LinearKinds.Module(layer, kind)}.up.{g}.bias";

    /// <summary>A kv_latent module entry for <paramref name="groups"/> (each a list of KV heads in slot order) of the given ranks.</summary>
    public static ModulePlan LatentModule(int layer, LinearKind kind, int[][] groups, int[] ranks, bool bias) => new()
    {
        Name = LinearKinds.Module(layer, kind),
        Kind = ModulePlan.KvLatent,
        Down = DownName(layer, kind),
        Groups = groups.Select((heads, g) => new LatentGroupPlan
        {
            Heads = heads, Rank = ranks[g], Up = UpName(layer, kind, g), Bias = bias ? UpBiasName(layer, kind, g) : null,
        }).ToArray(),
    };

    /// <summary>Groups of <paramref name="groupSize"/> consecutive KV heads (Palu's G-LRD order).</summary>
    public static int[][] ConsecutiveGroups(int kvHeads, int groupSize) =>
        Enumerable.Range(0, kvHeads / groupSize).Select(g => Enumerable.Range(g * groupSize, groupSize).ToArray()).ToArray();

    /// <summary>The group ranks of layer <paramref name="layer"/>'s latent k_proj and v_proj.</summary>
    public static (int[] K, int[] V) KvRanks(this CompressionPlan plan, int layer) =>
        (plan.GroupRanks(LinearKinds.Module(layer, LinearKind.K)), plan.GroupRanks(LinearKinds.Module(layer, LinearKind.V)));
}
