using Palu.Runtime;

namespace Palu.Models;

/// <summary>
/// A linear layer y = x·Wᵀ + b on a batch of rows, x [T, In], y [T, Out], whatever W's form: <see cref="DenseLinear"/>
/// or <see cref="LowRankLinear"/> (quantized kinds join here). Built by <see cref="LinearFactory"/> from the checkpoint
/// and its compression plan; callers never ask which kind they hold.
/// </summary>
public abstract class Linear
{
    public abstract int In { get; }
    public abstract int Out { get; }
    /// <summary>The kind's name in palu.json and inspect: dense, lowrank.</summary>
    public abstract string Kind { get; }
    /// <summary>Bytes of weights read per forward (what a decode step streams from memory).</summary>
    public abstract long WeightBytes { get; }
    /// <summary>Stored parameters (elements of every factor and bias).</summary>
    public abstract long Parameters { get; }

    /// <summary>y [T, Out] = x [T, In]·Wᵀ + b. <paramref name="ws"/> holds intermediate rows where the kind needs them.</summary>
    public abstract void Forward(Backend be, Buf x, Buf y, int T, Workspace ws);
}

/// <summary>A dense weight W [Out, In] (F32/F16/BF16; on the CPU a zero-copy view of the checkpoint) and optional bias [Out].</summary>
public sealed class DenseLinear(DeviceWeight weight, Buf bias = default) : Linear
{
    public DeviceWeight Weight { get; } = weight;
    public Buf Bias { get; } = bias;
    public override int In => Weight.Cols;
    public override int Out => Weight.Rows;
    public override string Kind => "dense";
    public override long WeightBytes => Weight.Bytes + (long)Bias.Length * sizeof(float);
    public override long Parameters => (long)Weight.Rows * Weight.Cols + Bias.Length;

    public override void Forward(Backend be, Buf x, Buf y, int T, Workspace ws)
    {
        be.MatMul(x, Weight, y, T);
        if (!Bias.IsEmpty) be.AddBias(y, Bias, T);
    }
}
