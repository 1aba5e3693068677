using System.Text.Json.Serialization;

namespace Palu.IO;

/// <summary>
/// What ReCalKV did (ALGORITHMS.md §5): the variant, how keys were grouped (the groups themselves are in the modules'
/// group maps) and how values were calibrated, with the calibration errors OVC minimised, per layer.
/// </summary>
public sealed record ReCalKVInfo
{
    /// <summary>full | reorder-only | calibrate-only | baseline (§5.5).</summary>
    [JsonPropertyName("variant")] public required string Variant { get; init; }
    /// <summary>Keys grouped by HSR (CKA of whitened heads) rather than consecutively.</summary>
    [JsonPropertyName("head_reordering")] public required bool HeadReordering { get; init; }
    /// <summary>Values refitted on calibration pairs (OVC).</summary>
    [JsonPropertyName("value_calibration")] public required bool ValueCalibration { get; init; }
    [JsonPropertyName("ovc_samples")] public int OvcSamples { get; init; }
    [JsonPropertyName("ovc_seq_len")] public int OvcSeqLen { get; init; }
    [JsonPropertyName("ovc_seed")] public int OvcSeed { get; init; }
    [JsonPropertyName("ovc_iterations")] public int OvcIterations { get; init; }
    /// <summary>propagated (layer ℓ calibrated on the activations of the model with layers &lt; ℓ already compressed, as
    /// the reference) or dense (activations of the uncompressed model).</summary>
    [JsonPropertyName("ovc_activations")] public string? OvcActivations { get; init; }
    /// <summary>Per layer: relative value error ‖X(W_V − B·A)ᵀ‖/‖X W_Vᵀ‖ on the OVC data before calibration.</summary>
    [JsonPropertyName("ovc_error_before")] public double[]? OvcErrorBefore { get; init; }
    /// <summary>Per layer: the same after calibration.</summary>
    [JsonPropertyName("ovc_error_after")] public double[]? OvcErrorAfter { get; init; }
    /// <summary>Per layer: mean CKA between the key heads grouped together, and between consecutive groups' heads (for comparison).</summary>
    [JsonPropertyName("hsr_group_cka")] public double[]? HsrGroupCka { get; init; }
    [JsonPropertyName("hsr_consecutive_cka")] public double[]? HsrConsecutiveCka { get; init; }
    [JsonPropertyName("hsr_seconds")] public double HsrSeconds { get; init; }
    [JsonPropertyName("ovc_seconds")] public double OvcSeconds { get; init; }
}
