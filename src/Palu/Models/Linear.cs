using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>A linear layer y = x·Wᵀ + b on a batch of rows. x [T, In], y [T, Out].</summary>
public abstract class Linear
{
    public abstract int In { get; }
    public abstract int Out { get; }
    /// <summary>Bytes of weights read per forward (what a decode step streams from memory).</summary>
    public abstract long WeightBytes { get; }
    public abstract void Forward(ReadOnlySpan<float> x, Span<float> y, int T);
}

/// <summary>A dense weight W [Out, In] (F32/F16/BF16, usually a zero-copy view of the checkpoint) and optional bias [Out].</summary>
public sealed class DenseLinear(WeightMatrix weight, float[]? bias = null) : Linear
{
    public WeightMatrix Weight { get; } = weight;
    public float[]? Bias { get; } = bias;
    public override int In => Weight.Cols;
    public override int Out => Weight.Rows;
    public override long WeightBytes => Weight.Bytes + (Bias?.Length ?? 0) * sizeof(float);

    public override void Forward(ReadOnlySpan<float> x, Span<float> y, int T)
    {
        SimdKernels.MatMul(x[..(T * In)], Weight, y[..(T * Out)], T);
        if (Bias != null) SimdKernels.AddBias(y[..(T * Out)], Bias, T);
    }
}
