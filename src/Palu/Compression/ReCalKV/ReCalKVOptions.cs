namespace Palu.Compression;

/// <summary>The ablation variants of the reference code (ALGORITHMS.md §5.5); values are one joint group in all four.</summary>
public enum ReCalKVVariant
{
    /// <summary>HSR keys + OVC values (<c>ours</c>).</summary>
    Full,
    /// <summary>HSR keys, values by joint whitened SVD only (<c>ours_reorder</c>).</summary>
    ReorderOnly,
    /// <summary>Consecutive key groups, OVC values (<c>ours_calib</c>).</summary>
    CalibrateOnly,
    /// <summary>Consecutive key groups, joint whitened-SVD values (<c>ours_baseline</c>).</summary>
    Baseline,
}

/// <summary>Whose activations OVC fits layer ℓ's values to.</summary>
public enum OvcActivations
{
    /// <summary>The model with layers &lt; ℓ already compressed (the reference's layer-wise propagation, §5.1).</summary>
    Propagated,
    /// <summary>The uncompressed model (one pass for all layers; cheaper).</summary>
    Dense,
}

/// <summary>ReCalKV's own options; rank allocation, whitening Grams and group size come from <see cref="PaluOptions"/>.</summary>
public sealed record ReCalKVOptions
{
    public ReCalKVVariant Variant { get; init; } = ReCalKVVariant.Full;
    /// <summary>Calibration windows for OVC (the reference: 256 × 2048 tokens).</summary>
    public int OvcSamples { get; init; } = 256;
    /// <summary>Tokens per OVC window; null = the whitening calibration's sequence length.</summary>
    public int? OvcSeqLen { get; init; }
    /// <summary>Seed of the OVC window draw (the reference: 42).</summary>
    public int OvcSeed { get; init; } = 42;
    /// <summary>Refit rounds (B by least squares, then A = pinv(B)·W); 0 keeps the SVD factors.</summary>
    public int OvcIterations { get; init; } = 1;
    public OvcActivations Activations { get; init; } = OvcActivations.Propagated;
    /// <summary>Record in palu.json that the model loads with values fused into o_proj.</summary>
    public bool FuseValues { get; init; }
    /// <summary>Memory the fused o_proj may take at most; null = half of what the machine has available.</summary>
    public long? FuseMemoryLimitBytes { get; init; }

    public bool Reorder => Variant is ReCalKVVariant.Full or ReCalKVVariant.ReorderOnly;
    public bool Calibrate => Variant is ReCalKVVariant.Full or ReCalKVVariant.CalibrateOnly;

    public static readonly string[] VariantNames = ["full", "reorder-only", "calibrate-only", "baseline"];

    public static string Name(ReCalKVVariant v) => VariantNames[(int)v];

    public static ReCalKVVariant ParseVariant(string s)
    {
        int i = Array.IndexOf(VariantNames, s);
        if (i < 0) throw new ArgumentException($"--method-variant '{s}' is not a ReCalKV variant; use one of {string.Join(", ", VariantNames)}");
        return (ReCalKVVariant)i;
    }

    public static string Name(OvcActivations a) => a == OvcActivations.Propagated ? "propagated" : "dense";
}
