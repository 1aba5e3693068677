using Palu.IO;
using Palu.Models;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Compression.Weights;

/// <summary>
/// One group's factors as floats: a (shared) projection A [r, ACols] (A' [r, n − r] with identity channels J and the
/// rest J̄), and each member's B [out_i, r] and bias; its checkpoint tensors, plan entries and run-time linears.
/// </summary>
public sealed record GroupFactors(WeightGroup Group, int Rank, float[] A, int ACols, float[][] B, float[]?[] Bias, int[]? Identity, int[]? Rest, double? Condition)
{
    string Module(int i) => LinearKinds.Module(Group.Layer, Group.Members[i]);
    string AName => Group.Name + ".a.weight";

    public IEnumerable<TensorToWrite> Tensors(DType dtype)
    {
        yield return TensorToWrite.FromFloats(AName, A, [Rank, ACols], dtype);
        if (Identity != null)
        {
            yield return TensorToWrite.FromInt64(Group.Name + ".identity", Identity.Select(x => (long)x).ToArray(), [Identity.Length]);
            yield return TensorToWrite.FromInt64(Group.Name + ".rest", Rest!.Select(x => (long)x).ToArray(), [Rest!.Length]);
        }
        for (int i = 0; i < B.Length; i++)
        {
            yield return TensorToWrite.FromFloats(Module(i) + ".b.weight", B[i], [Group.Outs[i], Rank], dtype);
            if (Bias[i] is { } b) yield return TensorToWrite.FromFloats(Module(i) + ".b.bias", b, [b.Length], DType.F32);
        }
    }

    public IEnumerable<ModulePlan> Modules() => Group.Members.Select((_, i) => new ModulePlan
    {
        Name = Module(i), Kind = ModulePlan.LowRank, Rank = Rank, A = AName, B = Module(i) + ".b.weight",
        Bias = Bias[i] != null ? Module(i) + ".b.bias" : null,
        Identity = Identity != null ? Group.Name + ".identity" : null, Rest = Identity != null ? Group.Name + ".rest" : null,
        Shared = Group.Shared ? Group.Name : null,
    });

    /// <summary>The members as run-time linears on <paramref name="be"/> (sequential calibration runs through them).</summary>
    public IEnumerable<(LinearKind, LowRankLinear)> Linears(Backend be)
    {
        var p = new LowRankProjection(be.Load(WeightMatrix.FromFloats(A, Rank, ACols)),
            Identity is null ? null : be.Load(Identity), Rest is null ? null : be.Load(Rest), Group.In, Group.Members.Length);
        for (int i = 0; i < B.Length; i++)
            yield return (Group.Members[i], new LowRankLinear(p, be.Load(WeightMatrix.FromFloats(B[i], Group.Outs[i], Rank)),
                Bias[i] is { } b ? be.Load(b) : default, countsProjection: i == 0));
    }
}
