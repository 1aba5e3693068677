using Palu.IO;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Cli.Commands;

/// <summary>
/// inspect's parameter and weight-byte accounting: parameters as stored (float tensors; channel indices are not
/// parameters), parameters of the dense original, bytes, and per compressed module its rank, sharing and counts.
/// </summary>
public static class InspectWeights
{
    public static void Add(Dictionary<string, object?> o, ModelDirectory md, CausalLM lm)
    {
        var c = md.Config;
        bool Floating(DType t) => t is DType.F32 or DType.F16 or DType.BF16 or DType.F64;
        var infos = md.TensorNames.Select(n => (Name: n, Info: md.Info(n))).ToList();
        long stored = infos.Where(t => Floating(t.Info.DType)).Sum(t => t.Info.ElementCount);
        long indices = infos.Where(t => !Floating(t.Info.DType)).Sum(t => t.Info.ElementCount);
        long factorElements = 0, denseElements = 0;
        var modules = new List<Dictionary<string, object?>>();
        var seenA = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in lm.Plan?.Modules ?? [])
        {
            var kind = LinearKinds.Parse(m.Name)!.Value;
            int layer = int.Parse(m.Name.Split('.')[2]);
            long dense = (long)Compression.Weights.WeightGroups.Rows(c, kind) * In(c, kind);
            denseElements += dense;
            long elems = m.Kind == ModulePlan.LowRank
                ? (seenA.Add(m.A!) ? md.Info(m.A!).ElementCount : 0) + md.Info(m.B!).ElementCount
                : md.Info(m.Down!).ElementCount + m.Groups!.Sum(g => md.Info(g.Up).ElementCount);
            factorElements += elems;
            var e = new Dictionary<string, object?> { ["name"] = m.Name, ["kind"] = m.Kind, ["parameters"] = elems, ["parameters_dense"] = dense };
            if (m.Kind == ModulePlan.LowRank)
            {
                e["rank"] = m.Rank;
                e["identity_block"] = m.Identity != null;
                e["shared"] = m.Shared;
                e["weight_bytes"] = lm.Layers[layer].LinearOf(kind)?.WeightBytes;
            }
            else e["ranks"] = m.Groups!.Select(g => g.Rank).ToArray();
            modules.Add(e);
        }
        o["parameters"] = stored;
        o["parameters_dense"] = stored - factorElements + denseElements;
        o["index_elements"] = indices;
        o["weight_bytes"] = infos.Where(t => Floating(t.Info.DType)).Sum(t => t.Info.ElementCount * DTypes.Size(t.Info.DType));
        o["decode_weight_bytes_per_token"] = lm.DecodeWeightBytes;
        if (lm.Plan is { } plan)
        {
            o["modules"] = modules.ToArray();
            if (plan.Weights is { } w) o["weights"] = w;
        }
    }

    static int In(ModelConfig c, LinearKind k) => k switch
    {
        LinearKind.O => c.QDim,
        LinearKind.Down => c.IntermediateSize,
        _ => c.HiddenSize,
    };
}
