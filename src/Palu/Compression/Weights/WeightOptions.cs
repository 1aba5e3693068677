namespace Palu.Compression.Weights;

/// <summary>SVD-LLM (whitened truncated SVD per linear) or SkipCat (Cat: shared projections, Skip: identity blocks).</summary>
public enum WeightMethod { SvdLlm, SkipCat }

/// <summary>Options of weight compression (<c>palu compress --weights-keep …</c>).</summary>
public sealed record WeightOptions
{
    /// <summary>Fraction of the compressed linears' weight parameters kept, in (0, 1] (0.8 = "20 % compression").</summary>
    public double Keep { get; init; } = 0.8;
    public WeightMethod Method { get; init; } = WeightMethod.SkipCat;
    /// <summary>SkipCat: share one projection among q/k/v and among gate/up (off with --no-cat).</summary>
    public bool Cat { get; init; } = true;
    /// <summary>SkipCat: identity block in every projection (off with --no-skip).</summary>
    public bool Skip { get; init; } = true;
    /// <summary>Calibrate each layer on the outputs of the already-compressed layers before it (SVD-LLM's sequential
    /// calibration) instead of on the dense model.</summary>
    public bool Sequential { get; init; }
    /// <summary>SVD-LLM's "whitening + local update" (its step 2): the factorisation whitens with the dense model's
    /// Grams, then each linear's left factor is refitted by least squares, min ‖B·A·X − W·X‖ with A fixed, on the inputs
    /// X of the first <c>UpdateSamples</c> calibration sequences run through the layers already compressed. Null: off.</summary>
    public int? UpdateSamples { get; init; }
    public required string CalibrationFile { get; init; }
    public int CalibrationSamples { get; init; } = 512;
    public int CalibrationSeqLen { get; init; } = 2048;
    public int Seed { get; init; } = 3;
    /// <summary>ε of the Cholesky jitter fallback.</summary>
    public double WhiteningEpsilon { get; init; } = 1e-3;
    /// <summary>Largest condition number of an identity block A_J accepted after column pivoting.</summary>
    public double MaxBlockCondition { get; init; } = 1e6;
    /// <summary>Storage of the factors; null = the dtype of the model's own linear weights.</summary>
    public Tensors.DType? FactorDType { get; init; }
    public bool Overwrite { get; init; }
    /// <summary>Folder where the dense model's calibration Grams are kept, keyed by model, calibration text and
    /// settings, so that several compressions of one model calibrate once; null = no cache.</summary>
    public string? GramCacheDir { get; init; }

    public bool UsesCat => Method == WeightMethod.SkipCat && Cat;
    public bool UsesSkip => Method == WeightMethod.SkipCat && Skip;
    public string MethodName => Method == WeightMethod.SvdLlm ? "svdllm" : "skipcat";
}
