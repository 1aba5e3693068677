namespace Palu.Compression;

/// <summary>How to decompose each head group: whitened by the calibration Gram (SVD-LLM/Palu default) or plain SVD.</summary>
public enum DecompositionMethod { Whiten, Svd }

/// <summary>Options of <c>palu compress</c> (defaults as in the Palu reference code, ALGORITHMS.md §4.7).</summary>
public sealed record PaluOptions
{
    /// <summary>ρ: fraction of KV rank kept, in (0, 1].</summary>
    public double KvKeep { get; init; } = 0.5;
    /// <summary>s: KV heads per group (1 = M-LRD, H_kv = J-LRD).</summary>
    public int GroupSize { get; init; } = 4;
    public RankAllocationMethod RankAllocation { get; init; } = RankAllocationMethod.Uniform;
    public DecompositionMethod Decomposition { get; init; } = DecompositionMethod.Whiten;
    /// <summary>How the Gram is factorised for whitening: Cholesky (Palu) or symmetric square root (ReCalKV).</summary>
    public WhiteningKind Whitening { get; init; } = WhiteningKind.Cholesky;
    public string? CalibrationFile { get; init; }
    public int CalibrationSamples { get; init; } = 256;
    public int CalibrationSeqLen { get; init; } = 2048;
    public int Seed { get; init; } = 3;
    /// <summary>ε of the Cholesky jitter fallback (Palu 1e-3).</summary>
    public double WhiteningEpsilon { get; init; } = 1e-3;
    /// <summary>Storage of the factor tensors: "F32" (default, exact) or "BF16"/"F16" (half the bytes).</summary>
    public Tensors.DType FactorDType { get; init; } = Tensors.DType.F32;
    /// <summary>A Fisher file (from <c>palu fisher</c>) to use for fisher/fisher_uniform allocation.</summary>
    public string? FisherFile { get; init; }
    /// <summary>Fisher pass when no file is given (computed once, then cached): samples of the calibration text.</summary>
    public int FisherSamples { get; init; } = 256;
    /// <summary>Fisher pass: tokens per sample (Palu's --calib_seqlen default).</summary>
    public int FisherSeqLen { get; init; } = 1024;
    public Training.LabelObjective FisherObjective { get; init; } = Training.LabelObjective.NextToken;
    /// <summary>Fisher cache directory; null = <see cref="Training.FisherCache.DefaultDirectory"/>.</summary>
    public string? FisherCacheDir { get; init; }
    public DeficitMode FisherDeficit { get; init; } = DeficitMode.StopAtZero;
    public RemainderOrder FisherOrder { get; init; } = RemainderOrder.Ascending;
    public bool Overwrite { get; init; }
    /// <summary>Bits per cached latent value: 16 (float latents) or 2, 3, 4, 8 (quantised per token, packed).</summary>
    public int KvBits { get; init; } = 16;
    /// <summary>Fuse a Hadamard rotation into each group's factors (exact at any bits; helps quantisation).</summary>
    public bool Hadamard { get; init; }
    /// <summary>Latent channels per quantisation scale; 0 = each group's whole rank (Palu's default).</summary>
    public int QuantGroup { get; init; }
}
