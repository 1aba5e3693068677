using System.Text.Json;
using System.Text.Json.Serialization;

namespace Palu.IO;

/// <summary>Ranks of one layer's K and V factorisations, per head group.</summary>
public sealed record LayerRanks(
    [property: JsonPropertyName("k_ranks")] int[] KRanks,
    [property: JsonPropertyName("v_ranks")] int[] VRanks);

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

/// <summary>
/// palu.json: what was done to a checkpoint. Factor tensors live in the safetensors files under the original module
/// names: <c>model.layers.{i}.self_attn.{k,v}_proj.down.weight</c> [Σr, d] and <c>….up.{g}.weight</c> [s·d_h, r_g]
/// (+ <c>….up.{g}.bias</c>).
/// </summary>
public sealed record PaluManifest
{
    public const string FileName = "palu.json";
    public const string Format = "palu.net/kv-lowrank";

    [JsonPropertyName("format")] public string FormatName { get; init; } = Format;
    [JsonPropertyName("version")] public int Version { get; init; } = 1;
    [JsonPropertyName("tool_version")] public string ToolVersion { get; init; } = ToolInfo.Version;
    [JsonPropertyName("method")] public string Method { get; init; } = "palu";
    [JsonPropertyName("original_architecture")] public required string OriginalArchitecture { get; init; }
    [JsonPropertyName("original_model_type")] public required string OriginalModelType { get; init; }
    [JsonPropertyName("kv_keep")] public required double KvKeep { get; init; }
    [JsonPropertyName("group_size")] public required int GroupSize { get; init; }
    [JsonPropertyName("rank_allocation")] public required string RankAllocation { get; init; }
    [JsonPropertyName("decomposition")] public required string Decomposition { get; init; }
    [JsonPropertyName("rank_multiple")] public required int RankMultiple { get; init; }
    [JsonPropertyName("realized_keep")] public required double RealizedKeep { get; init; }
    [JsonPropertyName("factor_dtype")] public required string FactorDType { get; init; }
    [JsonPropertyName("calibration")] public CalibrationInfo? Calibration { get; init; }
    [JsonPropertyName("whitening_jitter")] public double[]? WhiteningJitter { get; init; }
    [JsonPropertyName("fisher")] public FisherAllocationInfo? Fisher { get; init; }
    [JsonPropertyName("layers")] public required LayerRanks[] Layers { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public static bool Exists(string dir) => System.IO.File.Exists(Path.Combine(dir, FileName));

    public static PaluManifest Load(string dir)
    {
        string path = Path.Combine(dir, FileName);
        try
        {
            var m = JsonSerializer.Deserialize<PaluManifest>(System.IO.File.ReadAllText(path), Options)
                    ?? throw new ModelFormatException(path, "empty palu.json");
            if (m.FormatName != Format) throw new ModelFormatException(path, $"format '{m.FormatName}' is not '{Format}'");
            if (m.Version != 1) throw new ModelFormatException(path, $"palu.json version {m.Version} is newer than this tool supports (1); upgrade palu");
            return m;
        }
        catch (JsonException e) { throw new ModelFormatException(path, $"not a valid palu.json ({e.Message})", e); }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public static string DownName(int layer, char kv) => $"model.layers.{layer}.self_attn.{kv}_proj.down.weight";
    public static string UpName(int layer, char kv, int g) => $"model.layers.{layer}.self_attn.{kv}_proj.up.{g}.weight";
    public static string UpBiasName(int layer, char kv, int g) => $"model.layers.{layer}.self_attn.{kv}_proj.up.{g}.bias";
}

public static class ToolInfo
{
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
