using System.Text.Json;
using System.Text.Json.Serialization;

namespace Palu.IO;

/// <summary>How the calibration data was drawn.</summary>
public sealed record CalibrationInfo(
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("samples")] int Samples,
    [property: JsonPropertyName("seq_len")] int SeqLen,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("tokens")] long Tokens);

/// <summary>Fisher rank allocation (ALGORITHMS.md §4.3): where the Fisher information came from and the budget.</summary>
public sealed record FisherAllocationInfo
{
    /// <summary>file (--fisher), cache (reused) or computed (then cached).</summary>
    [JsonPropertyName("source")] public required string Source { get; init; }
    [JsonPropertyName("path")] public required string Path { get; init; }
    [JsonPropertyName("model_sha256")] public required string ModelSha256 { get; init; }
    [JsonPropertyName("calibration_file")] public required string CalibrationFile { get; init; }
    [JsonPropertyName("calibration_sha256")] public required string CalibrationSha256 { get; init; }
    [JsonPropertyName("samples")] public required int Samples { get; init; }
    [JsonPropertyName("seq_len")] public required int SeqLen { get; init; }
    [JsonPropertyName("seed")] public required int Seed { get; init; }
    [JsonPropertyName("objective")] public required string Objective { get; init; }
    [JsonPropertyName("deficit")] public required string Deficit { get; init; }
    [JsonPropertyName("remainder_order")] public required string RemainderOrder { get; init; }
    /// <summary>T = ρ·Σ full rank.</summary>
    [JsonPropertyName("target_rank")] public required double TargetRank { get; init; }
    /// <summary>Σ ranks after the deficit distribution, before §1.6 rounding.</summary>
    [JsonPropertyName("allocated_rank")] public required long AllocatedRank { get; init; }
    /// <summary>Σ full ranks (Σ s·d_h over all groups of all K and V projections).</summary>
    [JsonPropertyName("full_rank")] public required long FullRank { get; init; }
    /// <summary>Σ ranks after rounding.</summary>
    [JsonPropertyName("rounded_rank")] public required long RoundedRank { get; init; }
    /// <summary>Seconds of the Fisher pass when it ran now.</summary>
    [JsonPropertyName("pass_seconds")] public double? PassSeconds { get; init; }
}

/// <summary>What was done to the KV cache as a whole (the per-module detail is in <see cref="CompressionPlan.Modules"/>).</summary>
public sealed record KvCompressionInfo
{
    /// <summary>palu or recalkv.</summary>
    [JsonPropertyName("method")] public string Method { get; init; } = "palu";
    [JsonPropertyName("kv_keep")] public required double KvKeep { get; init; }
    /// <summary>KV heads per group when all groups are equal; the modules' group maps are what counts.</summary>
    [JsonPropertyName("group_size")] public required int GroupSize { get; init; }
    [JsonPropertyName("rank_allocation")] public required string RankAllocation { get; init; }
    [JsonPropertyName("decomposition")] public required string Decomposition { get; init; }
    [JsonPropertyName("rank_multiple")] public required int RankMultiple { get; init; }
    [JsonPropertyName("realized_keep")] public required double RealizedKeep { get; init; }
    [JsonPropertyName("factor_dtype")] public required string FactorDType { get; init; }
    [JsonPropertyName("fisher")] public FisherAllocationInfo? Fisher { get; init; }
    /// <summary>ReCalKV's settings and calibration record (method recalkv), or null.</summary>
    [JsonPropertyName("recalkv")] public ReCalKVInfo? ReCalKV { get; init; }
    /// <summary>Load with the value up-projection folded into o_proj (compress --fuse-values), unless told otherwise.</summary>
    [JsonPropertyName("fuse_values")] public bool FuseValues { get; init; }
}

/// <summary>One head group of a latent K or V projection: its KV heads in slot order and its factor B_g.</summary>
public sealed record LatentGroupPlan
{
    /// <summary>Original KV-head indices, in the order their rows sit in <see cref="Up"/> (slot i = rows [i·d_h, (i+1)·d_h)).</summary>
    [JsonPropertyName("heads")] public required int[] Heads { get; init; }
    [JsonPropertyName("rank")] public required int Rank { get; init; }
    /// <summary>Tensor B_g [|heads|·d_h, rank].</summary>
    [JsonPropertyName("up")] public required string Up { get; init; }
    /// <summary>Tensor b_g [|heads|·d_h] (the projection's bias rows of these heads), or null.</summary>
    [JsonPropertyName("bias")] public string? Bias { get; init; }
    /// <summary>The rotation fused into this group's factors (module flag <c>hadamard</c>): e.g. "walsh-hadamard 128",
    /// "hadamard Paley I (q = 11) ⊗ Sylvester 16", or "random-orthogonal seed 19156 (no Hadamard matrix of order r)".</summary>
    [JsonPropertyName("rotation")] public string? Rotation { get; init; }
}

/// <summary>
/// What was done to one module. Kinds: <c>kv_latent</c> (a k_proj or v_proj whose cache holds latents A·x per head
/// group: <see cref="Down"/> and <see cref="Groups"/>), <c>lowrank</c> (y = B·(A·x) + b: <see cref="A"/>,
/// <see cref="B"/>, optional identity block <see cref="Identity"/>/<see cref="Rest"/> and <see cref="ActiveRank"/>).
/// Modules the plan does not list are dense, as in the original checkpoint.
/// </summary>
public sealed record ModulePlan
{
    public const string KvLatent = "kv_latent", LowRank = "lowrank";

    /// <summary>HF module name, e.g. <c>model.layers.0.self_attn.k_proj</c>.</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("kind")] public required string Kind { get; init; }

    // kv_latent
    /// <summary>Tensor A [Σr, d]: the groups' down-projections stacked in group order.</summary>
    [JsonPropertyName("down")] public string? Down { get; init; }
    [JsonPropertyName("groups")] public LatentGroupPlan[]? Groups { get; init; }
    /// <summary>Hadamard rotation fused into the factors.</summary>
    [JsonPropertyName("hadamard")] public bool Hadamard { get; init; }
    /// <summary>Bits per stored latent value (16 = float, no quantization).</summary>
    [JsonPropertyName("bits")] public int Bits { get; init; } = 16;
    /// <summary>Latent channels per quantisation scale and zero-point (0 = each group's whole rank); with bits &lt; 16.</summary>
    [JsonPropertyName("quant_group")] public int QuantGroup { get; init; }

    // lowrank
    [JsonPropertyName("rank")] public int? Rank { get; init; }
    /// <summary>Tensor A [r, in] (or A' [r, in − r] with an identity block).</summary>
    [JsonPropertyName("a")] public string? A { get; init; }
    /// <summary>Tensor B [out, r].</summary>
    [JsonPropertyName("b")] public string? B { get; init; }
    [JsonPropertyName("bias")] public string? Bias { get; init; }
    /// <summary>Tensor (I32/I64) of the r input channels J that form the identity block, or null.</summary>
    [JsonPropertyName("identity")] public string? Identity { get; init; }
    /// <summary>Tensor (I32/I64) of the other in − r channels J̄ that A' reads, or null.</summary>
    [JsonPropertyName("rest")] public string? Rest { get; init; }
    /// <summary>Rank used at run time when below the stored rank (a prefix of the factors), or null.</summary>
    [JsonPropertyName("active_rank")] public int? ActiveRank { get; init; }
    /// <summary>Name of the projection group whose A (and identity block) this module shares with the other modules
    /// that name it (SkipCat's Cat, e.g. <c>model.layers.0.self_attn.qkv</c>); they list the same a/identity/rest
    /// tensors, and h = A·x is computed once for all of them. Null = not shared.</summary>
    [JsonPropertyName("shared")] public string? Shared { get; init; }
}

/// <summary>What was done to the weights as a whole (SVD-LLM / SkipCat); per-module detail in <see cref="CompressionPlan.Modules"/>.</summary>
public sealed record WeightCompressionInfo
{
    /// <summary>svdllm or skipcat.</summary>
    [JsonPropertyName("method")] public required string Method { get; init; }
    /// <summary>Requested fraction of the compressed linears' parameters kept.</summary>
    [JsonPropertyName("weights_keep")] public required double WeightsKeep { get; init; }
    [JsonPropertyName("cat")] public required bool Cat { get; init; }
    [JsonPropertyName("skip")] public required bool Skip { get; init; }
    [JsonPropertyName("sequential")] public required bool Sequential { get; init; }
    /// <summary>SVD-LLM's local update: the calibration sequences the left factors were refitted on (absent: no update).</summary>
    [JsonPropertyName("update_samples")] public int? UpdateSamples { get; init; }
    /// <summary>Dense parameters of the linears that were compressed (weights, no biases).</summary>
    [JsonPropertyName("parameters_dense")] public required long ParametersDense { get; init; }
    /// <summary>Their parameters as stored now (factors, without indices or biases).</summary>
    [JsonPropertyName("parameters_stored")] public required long ParametersStored { get; init; }
    /// <summary>parameters_stored / parameters_dense.</summary>
    [JsonPropertyName("realized_keep")] public required double RealizedKeep { get; init; }
    /// <summary>Largest condition number of an identity block A_J (Skip), after column pivoting.</summary>
    [JsonPropertyName("max_block_condition")] public double? MaxBlockCondition { get; init; }
    [JsonPropertyName("factor_dtype")] public required string FactorDType { get; init; }
    [JsonPropertyName("calibration")] public CalibrationInfo? Calibration { get; init; }
}

/// <summary>
/// palu.json, version 2: the compression plan. Per module, what was done (kind, factor tensors, head groups and their
/// order, Hadamard flag, latent bits, identity block, active rank), plus the calibration record; the loader builds the
/// model from it and the checkpoint's tensors alone. Version-1 files (K/V low rank only, groups of consecutive heads)
/// are read and converted.
/// </summary>
public sealed record CompressionPlan
{
    public const string FileName = "palu.json";
    public const string Format = "palu.net/plan";
    public const string FormatV1 = "palu.net/kv-lowrank";
    public const int CurrentVersion = 2;

    [JsonPropertyName("format")] public string FormatName { get; init; } = Format;
    [JsonPropertyName("version")] public int Version { get; init; } = CurrentVersion;
    [JsonPropertyName("tool_version")] public string ToolVersion { get; init; } = ToolInfo.Version;
    [JsonPropertyName("original_architecture")] public required string OriginalArchitecture { get; init; }
    [JsonPropertyName("original_model_type")] public required string OriginalModelType { get; init; }
    [JsonPropertyName("kv")] public KvCompressionInfo? Kv { get; init; }
    [JsonPropertyName("weights")] public WeightCompressionInfo? Weights { get; init; }
    [JsonPropertyName("calibration")] public CalibrationInfo? Calibration { get; init; }
    [JsonPropertyName("whitening_jitter")] public double[]? WhiteningJitter { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    [JsonPropertyName("modules")] public required ModulePlan[] Modules { get; init; }

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, FileName));

    /// <summary>The module entry called <paramref name="name"/>, or null (dense).</summary>
    public ModulePlan? Module(string name) => Modules.FirstOrDefault(m => m.Name == name);

    /// <summary>The group ranks of latent module <paramref name="module"/> (empty when it is not one).</summary>
    public int[] GroupRanks(string module) => Module(module)?.Groups?.Select(g => g.Rank).ToArray() ?? [];

    /// <param name="qkvBias">whether the model's K/V projections have biases (version 1 did not record it).</param>
    public static CompressionPlan Load(string dir, bool qkvBias)
    {
        string path = Path.Combine(dir, FileName);
        try
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)) as System.Text.Json.Nodes.JsonObject
                       ?? throw new ModelFormatException(path, "palu.json is not a JSON object");
            string? format = node["format"]?.GetValue<string>();
            int version = node["version"]?.GetValue<int>() ?? 0;
            if (format == FormatV1 && version == 1)
                return FromV1(JsonSerializer.Deserialize<PlanV1>(node, Options) ?? throw new ModelFormatException(path, "empty palu.json"), qkvBias, path);
            if (format != Format) throw new ModelFormatException(path, $"format '{format}' is neither '{Format}' nor '{FormatV1}'");
            if (version != CurrentVersion)
                throw new ModelFormatException(path, $"palu.json version {version} is not supported by this tool (reads 1 and {CurrentVersion}){(version > CurrentVersion ? "; upgrade palu" : "")}");
            var plan = JsonSerializer.Deserialize<CompressionPlan>(node, Options) ?? throw new ModelFormatException(path, "empty palu.json");
            plan.Check(path);
            return plan;
        }
        catch (JsonException e) { throw new ModelFormatException(path, $"not a valid palu.json ({e.Message})", e); }
        catch (InvalidOperationException e) { throw new ModelFormatException(path, $"not a valid palu.json ({e.Message})", e); }
        catch (Exception e) when (e is ArgumentException or FormatException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            throw InputError.File(path, $"not a valid palu.json ({e.Message})", "restore the palu.json written by palu compress, or compress the model again", e);
        }
    }

    /// <summary>Structural checks that need no model: known kinds, the fields each kind needs, no module twice.</summary>
    void Check(string path)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in Modules ?? throw new ModelFormatException(path, "no \"modules\" list"))
        {
            if (m is null) throw InputError.File(path, "\"modules\" holds a null entry", "restore the palu.json written by palu compress");
            if (m.Name is null || !seen.Add(m.Name)) throw new ModelFormatException(path, $"module '{m.Name}' listed twice or without a name");
            switch (m.Kind)
            {
                case ModulePlan.KvLatent:
                    if (m.Down is null || m.Groups is null || m.Groups.Length == 0)
                        throw new ModelFormatException(path, $"module {m.Name}: kind kv_latent needs \"down\" and \"groups\"");
                    foreach (var g in m.Groups)
                        if (g is null || g.Heads is null || g.Heads.Length == 0 || g.Rank < 1 || g.Rank > 1 << 20 || g.Up is null)
                            throw new ModelFormatException(path, $"module {m.Name}: every group needs \"heads\", \"rank\" in [1, 2^20] and \"up\"");
                    if (m.Bits != 16 && !Kernels.Cpu.QuantLayout.IsSupported(m.Bits))
                        throw new ModelFormatException(path, $"module {m.Name}: {m.Bits}-bit latents are not supported (this version stores 2, 3, 4, 8 or 16)");
                    if (m.Bits != 16 && m.Groups.FirstOrDefault(g => m.QuantGroup < 0 || (m.QuantGroup > 0 && g.Rank % m.QuantGroup != 0)) is { } bad)
                        throw new ModelFormatException(path, $"module {m.Name}: quant_group {m.QuantGroup} does not divide a group's rank {bad.Rank}");
                    break;
                case ModulePlan.LowRank:
                    if (m.A is null || m.B is null) throw new ModelFormatException(path, $"module {m.Name}: kind lowrank needs \"a\" and \"b\"");
                    if ((m.Identity is null) != (m.Rest is null)) throw new ModelFormatException(path, $"module {m.Name}: an identity block needs both \"identity\" and \"rest\"");
                    if (Modules.FirstOrDefault(o => o.Kind == ModulePlan.LowRank && o.A == m.A && (o.Shared != m.Shared || o.Identity != m.Identity || o.Rank != m.Rank)) is { } other)
                        throw new ModelFormatException(path, $"modules {other.Name} and {m.Name} read the same tensor {m.A} but differ in \"shared\", \"identity\" or \"rank\"");
                    break;
                default:
                    throw new ModelFormatException(path, $"module {m.Name}: unknown kind '{m.Kind}' (this version knows {ModulePlan.KvLatent}, {ModulePlan.LowRank}); upgrade palu");
            }
        }
        // keys and values of one attention block share one cache layout (the quantisation group matters below 16 bits only)
        foreach (var block in Modules.Where(m => m.Kind == ModulePlan.KvLatent).GroupBy(m => m.Name[..Math.Max(0, m.Name.LastIndexOf('.'))]))
        {
            var (first, layout) = (block.First(), Layout(block.First()));
            if (block.FirstOrDefault(m => Layout(m) != layout) is { } twin)
                throw new ModelFormatException(path, $"modules {first.Name} and {twin.Name}: keys and values of one layer must be stored alike " +
                    $"({first.Bits} bits, quant_group {first.QuantGroup} vs {twin.Bits} bits, quant_group {twin.QuantGroup}); restore the palu.json written by palu compress");
        }
    }

    static (int Bits, int Group) Layout(ModulePlan m) => (m.Bits, m.Bits == 16 ? 0 : m.QuantGroup);

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    static CompressionPlan FromV1(PlanV1 v1, bool qkvBias, string path)
    {
        if (v1.Layers is null || v1.GroupSize < 1) throw new ModelFormatException(path, "version-1 palu.json without \"layers\" or \"group_size\"");
        var modules = new List<ModulePlan>();
        for (int l = 0; l < v1.Layers.Length; l++)
        {
            var (k, v) = (v1.Layers[l].KRanks, v1.Layers[l].VRanks);
            if (k is null || v is null) throw new ModelFormatException(path, $"layer {l}: no k_ranks/v_ranks");
            modules.Add(V1Module(l, 'k', v1.GroupSize, k, qkvBias));
            modules.Add(V1Module(l, 'v', v1.GroupSize, v, qkvBias));
        }
        return new CompressionPlan
        {
            Version = 1,
            FormatName = FormatV1,
            ToolVersion = v1.ToolVersion,
            OriginalArchitecture = v1.OriginalArchitecture,
            OriginalModelType = v1.OriginalModelType,
            Kv = new KvCompressionInfo
            {
                Method = v1.Method, KvKeep = v1.KvKeep, GroupSize = v1.GroupSize, RankAllocation = v1.RankAllocation,
                Decomposition = v1.Decomposition, RankMultiple = v1.RankMultiple, RealizedKeep = v1.RealizedKeep,
                FactorDType = v1.FactorDType, Fisher = v1.Fisher,
            },
            Calibration = v1.Calibration,
            WhiteningJitter = v1.WhiteningJitter,
            Seconds = v1.Seconds,
            Modules = modules.ToArray(),
        };
    }

    /// <summary>A version-1 K or V entry: groups of <paramref name="groupSize"/> consecutive heads, tensors named as palu 0.1 wrote them.</summary>
    static ModulePlan V1Module(int layer, char kv, int groupSize, int[] ranks, bool bias)
    {
        string m = $"model.layers.{layer}.self_attn.{kv}_proj";
        return new ModulePlan
        {
            Name = m, Kind = ModulePlan.KvLatent, Down = m + ".down.weight",
            Groups = ranks.Select((r, g) => new LatentGroupPlan
            {
                Heads = Enumerable.Range(g * groupSize, groupSize).ToArray(), Rank = r,
                Up = $"{m}.up.{g}.weight", Bias = bias ? $"{m}.up.{g}.bias" : null,
            }).ToArray(),
        };
    }

    /// <summary>palu.json version 1 as written by palu 0.1 (read only).</summary>
    sealed record PlanV1
    {
        [JsonPropertyName("tool_version")] public string ToolVersion { get; init; } = "";
        [JsonPropertyName("method")] public string Method { get; init; } = "palu";
        [JsonPropertyName("original_architecture")] public string OriginalArchitecture { get; init; } = "";
        [JsonPropertyName("original_model_type")] public string OriginalModelType { get; init; } = "";
        [JsonPropertyName("kv_keep")] public double KvKeep { get; init; }
        [JsonPropertyName("group_size")] public int GroupSize { get; init; }
        [JsonPropertyName("rank_allocation")] public string RankAllocation { get; init; } = "";
        [JsonPropertyName("decomposition")] public string Decomposition { get; init; } = "";
        [JsonPropertyName("rank_multiple")] public int RankMultiple { get; init; }
        [JsonPropertyName("realized_keep")] public double RealizedKeep { get; init; }
        [JsonPropertyName("factor_dtype")] public string FactorDType { get; init; } = "F32";
        [JsonPropertyName("calibration")] public CalibrationInfo? Calibration { get; init; }
        [JsonPropertyName("whitening_jitter")] public double[]? WhiteningJitter { get; init; }
        [JsonPropertyName("fisher")] public FisherAllocationInfo? Fisher { get; init; }
        [JsonPropertyName("layers")] public RanksV1[]? Layers { get; init; }
        [JsonPropertyName("seconds")] public double Seconds { get; init; }
    }

    sealed record RanksV1(
        [property: JsonPropertyName("k_ranks")] int[]? KRanks,
        [property: JsonPropertyName("v_ranks")] int[]? VRanks);
}

public static class ToolInfo
{
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
