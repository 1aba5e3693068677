using Palu.IO;
using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// Builds each linear layer in the form its checkpoint stores it: dense unless the compression plan lists the module,
/// low-rank (with its identity block and active rank) where it says so. Every tensor's shape is checked against the
/// config and the plan.
/// </summary>
public sealed class LinearFactory(ModelDirectory md, CompressionPlan? plan, Backend backend)
{
    string PlanPath => System.IO.Path.Combine(md.Path, CompressionPlan.FileName);

    /// <summary>The module's plan entry, or null when the module is stored dense.</summary>
    public ModulePlan? Entry(string module) => plan?.Module(module);

    /// <summary>Linear <paramref name="module"/> of shape [out, in] (bias [out] when <paramref name="bias"/>).</summary>
    public Linear Build(string module, int outputs, int inputs, bool bias)
    {
        var e = Entry(module);
        if (e is null) return Dense(module + ".weight", outputs, inputs, bias ? module + ".bias" : null);
        return PlanErrors.Blame(PlanPath, module, () => BuildPlanned(module, e, outputs, inputs, bias));
    }

    Linear BuildPlanned(string module, ModulePlan e, int outputs, int inputs, bool bias)
    {
        if (e.Kind != ModulePlan.LowRank)
            throw new ModelFormatException(PlanPath, $"module {module} is of kind {e.Kind}, which is not a linear layer here");
        int r = e.Rank ?? throw new ModelFormatException(PlanPath, $"module {module}: a lowrank entry needs \"rank\"");
        int most = e.Shared != null ? inputs : Math.Min(outputs, inputs);   // a shared rank may exceed one member's rows (GQA k/v)
        if (r < 1 || r > most) throw new ModelFormatException(PlanPath, $"module {module}: rank {r} outside [1, {most}]");
        var bBias = (bias || e.Bias != null) ? Vector(e.Bias ?? module + ".bias", outputs) : default;
        var B = backend.Load(md.Matrix(e.B!, outputs, r));
        _projections.TryGetValue(e.A!, out var projection);
        bool first = plan!.Modules.First(m => m.Kind == ModulePlan.LowRank && m.A == e.A).Name == module;   // counts A (plan order)
        if (projection is null)
        {
            int members = plan!.Modules.Count(m => m.Kind == ModulePlan.LowRank && m.A == e.A);
            projection = Projection(module, e, r, inputs, members);
            _projections[e.A!] = projection;
        }
        else if (projection.In != inputs)
            throw new ModelFormatException(PlanPath, $"module {module}: shares projection {e.A} with a module of {projection.In} inputs, but has {inputs}");
        var lin = new LowRankLinear(projection, B, bBias, countsProjection: first);
        return e.ActiveRank is int k ? lin.WithActiveRank(k) : lin;
    }

    /// <summary>Projections by their A tensor: the modules of a Cat group name the same one and share it.</summary>
    readonly Dictionary<string, LowRankProjection> _projections = new(StringComparer.Ordinal);

    LowRankProjection Projection(string module, ModulePlan e, int r, int inputs, int members)
    {
        if (e.Identity is null) return new LowRankProjection(backend.Load(md.Matrix(e.A!, r, inputs)), inputs: inputs, members: members);
        var J = md.Indices(e.Identity, r, inputs);
        var rest = md.Indices(e.Rest!, inputs - r, inputs);
        if (J.Concat(rest).Distinct().Count() != inputs)
            throw new ModelFormatException(PlanPath, $"module {module}: identity and rest channels must together name every input channel once");
        return new LowRankProjection(backend.Load(md.Matrix(e.A!, r, inputs - r)), backend.Load(J), backend.Load(rest), inputs, members);
    }

    /// <summary>A dense linear from tensor <paramref name="weight"/> [out, in] and optional bias tensor [out].</summary>
    public DenseLinear Dense(string weight, int outputs, int inputs, string? bias) =>
        new(backend.Load(md.Matrix(weight, outputs, inputs)), bias is null ? default : Vector(bias, outputs));

    /// <summary>A float vector tensor [n] on the backend.</summary>
    public Buf Vector(string name, int n) => backend.Load(md.Floats(name, n));
}
