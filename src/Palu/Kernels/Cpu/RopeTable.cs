using Palu.IO;

namespace Palu.Kernels.Cpu;

/// <summary>
/// cos/sin of HF "rotate-half" RoPE for positions [0, MaxPositions): pair (j, j + d/2) at position p rotates by p·ω_j.
/// ω_j = θ^(−2j/d) computed in float32 as transformers does, then adjusted by <c>rope_scaling</c> (linear, llama3).
/// </summary>
public sealed class RopeTable
{
    public int HeadDim { get; }
    public int MaxPositions { get; }
    public float[] Cos { get; }       // [MaxPositions, HeadDim/2]
    public float[] Sin { get; }       // [MaxPositions, HeadDim/2]
    public float[] InvFreq { get; }   // [HeadDim/2]

    public RopeTable(int headDim, int maxPositions, double theta, RopeScaling? scaling = null)
    {
        if (headDim % 2 != 0) throw new ArgumentException($"head_dim {headDim} must be even for RoPE");
        HeadDim = headDim; MaxPositions = maxPositions;
        int half = headDim / 2;
        InvFreq = new float[half];
        for (int j = 0; j < half; j++)
        {
            float exponent = (float)(2 * j) / headDim;
            InvFreq[j] = 1.0f / MathF.Pow((float)theta, exponent);
        }
        if (scaling != null) ApplyScaling(InvFreq, scaling);
        Cos = new float[(long)maxPositions * half];
        Sin = new float[(long)maxPositions * half];
        for (int p = 0; p < maxPositions; p++)
            for (int j = 0; j < half; j++)
            {
                float angle = p * InvFreq[j];   // float32 product, as the reference computes it
                Cos[p * half + j] = MathF.Cos(angle);
                Sin[p * half + j] = MathF.Sin(angle);
            }
    }

    static void ApplyScaling(float[] invFreq, RopeScaling s)
    {
        switch (s.Type)
        {
            case "linear":
                for (int j = 0; j < invFreq.Length; j++) invFreq[j] = (float)(invFreq[j] / s.Factor);
                break;
            case "llama3":
                {
                    double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
                    double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
                    for (int j = 0; j < invFreq.Length; j++)
                    {
                        double f = invFreq[j], wavelen = 2 * Math.PI / f;
                        if (wavelen > lowWavelen) f /= s.Factor;
                        else if (wavelen >= highWavelen)
                        {
                            double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                            f = (1 - smooth) * f / s.Factor + smooth * f;
                        }
                        invFreq[j] = (float)f;
                    }
                    break;
                }
            default: throw new NotSupportedException($"rope scaling '{s.Type}'");
        }
    }
}
