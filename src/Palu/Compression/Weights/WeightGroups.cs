using Palu.IO;
using Palu.Models;

namespace Palu.Compression.Weights;

/// <summary>
/// Linears factorised together: one input of width <see cref="In"/>, members stacked along the output (Cat: q/k/v,
/// gate/up), or a single linear. <see cref="Name"/> names the shared projection (the module itself when alone).
/// </summary>
public sealed record WeightGroup(int Layer, string Name, LinearKind[] Members, int[] Outs, int In, LinearInput Input)
{
    public int Out => Outs.Sum();
    public long DenseParameters => (long)Out * In;
    public bool Shared => Members.Length > 1;
}

/// <summary>Which linears of each layer are compressed, in which groups.</summary>
public static class WeightGroups
{
    /// <summary>
    /// The groups of every layer. k_proj and v_proj that are already Palu latents (a KV-compressed model) are left to
    /// Palu: q_proj is then factorised alone, so the cache keeps Palu's small latents (sharing one projection with q
    /// would need the full k and v again).
    /// </summary>
    public static List<WeightGroup> For(ModelConfig c, CompressionPlan? plan, bool cat)
    {
        var groups = new List<WeightGroup>();
        int d = c.HiddenSize;
        for (int l = 0; l < c.NumLayers; l++)
        {
            bool latentKv = plan?.Module(LinearKinds.Module(l, LinearKind.K))?.Kind == ModulePlan.KvLatent;
            var attn = latentKv ? new[] { LinearKind.Q } : new[] { LinearKind.Q, LinearKind.K, LinearKind.V };
            Add(groups, l, c, attn, d, LinearInput.Attention, cat, "self_attn.qkv");
            Add(groups, l, c, [LinearKind.O], c.QDim, LinearInput.AttentionOutput, cat, "");
            Add(groups, l, c, [LinearKind.Gate, LinearKind.Up], d, LinearInput.Mlp, cat, "mlp.gate_up");
            Add(groups, l, c, [LinearKind.Down], c.IntermediateSize, LinearInput.MlpDown, cat, "");
        }
        return groups;
    }

    static void Add(List<WeightGroup> groups, int l, ModelConfig c, LinearKind[] kinds, int n, LinearInput input, bool cat, string catName)
    {
        if (cat && kinds.Length > 1)
            groups.Add(new WeightGroup(l, LinearKinds.LayerPrefix(l) + catName, kinds, kinds.Select(k => Rows(c, k)).ToArray(), n, input));
        else
            foreach (var k in kinds) groups.Add(new WeightGroup(l, LinearKinds.Module(l, k), [k], [Rows(c, k)], n, input));
    }

    public static int Rows(ModelConfig c, LinearKind k) => k switch
    {
        LinearKind.Q => c.QDim,
        LinearKind.K or LinearKind.V => c.KvDim,
        LinearKind.O or LinearKind.Down => c.HiddenSize,
        _ => c.IntermediateSize,
    };

    public static bool HasBias(ModelConfig c, LinearKind k) => k switch
    {
        LinearKind.Q or LinearKind.K or LinearKind.V => c.QkvBias,
        LinearKind.O => c.OutputBias,
        _ => c.MlpBias,
    };
}
