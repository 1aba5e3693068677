using Palu.Kernels.Cpu;
using Palu.Models;

namespace Palu.Training;

/// <summary>Geometry and switches of the training forward (from config.json).</summary>
public sealed record TrainingShape(int Hidden, int Heads, int KvHeads, int HeadDim, int Ffn, int Vocab, int Layers,
    float Eps, int? Window, RopeTable Rope)
{
    public int QDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>[out, in] of a linear of this shape.</summary>
    public (int Out, int In) Dims(LinearKind k) => k switch
    {
        LinearKind.Q => (QDim, Hidden),
        LinearKind.K or LinearKind.V => (KvDim, Hidden),
        LinearKind.O => (Hidden, QDim),
        LinearKind.Gate or LinearKind.Up => (Ffn, Hidden),
        _ => (Hidden, Ffn),
    };

    public static TrainingShape From(CausalLM lm)
    {
        var c = lm.Config;
        return new TrainingShape(c.HiddenSize, c.NumHeads, c.NumKvHeads, c.HeadDim, c.IntermediateSize, c.VocabSize,
            c.NumLayers, (float)c.RmsNormEps, c.SlidingWindow, lm.Rope);
    }
}

/// <summary>Which token each position of a training/calibration sequence predicts.</summary>
public enum LabelObjective
{
    /// <summary>
    /// The standard causal-LM loss (default): inputs = tokens [0, T−1), position t predicts tokens[t + 1]; T − 1 terms.
    /// </summary>
    NextToken,
    /// <summary>
    /// The Palu reference's quirk (ALGORITHMS.md §1.5): labels passed pre-shifted to a loss that shifts again, so
    /// position t predicts tokens[t + 2]; inputs = tokens [0, T−1), the last input position is not scored; T − 2 terms.
    /// </summary>
    DoubleShift,
}

public static class LabelObjectives
{
    public static string Name(LabelObjective o) => o == LabelObjective.NextToken ? "next_token" : "double_shift";

    public static LabelObjective Parse(string s) => s switch
    {
        "next_token" or "next-token" => LabelObjective.NextToken,
        "double_shift" or "double-shift" => LabelObjective.DoubleShift,
        _ => throw new ArgumentException($"objective must be next_token or double_shift, not '{s}'"),
    };

    /// <summary>
    /// The model inputs [T−1] and per-position targets [T−1] (−1 = not scored) of one sequence of T ≥ 3 tokens.
    /// </summary>
    public static (int[] Inputs, int[] Targets) Split(ReadOnlySpan<int> tokens, LabelObjective o)
    {
        int T = tokens.Length;
        if (T < 3) throw new ArgumentException($"a training sequence needs at least 3 tokens, got {T}");
        var inputs = tokens[..(T - 1)].ToArray();
        var targets = new int[T - 1];
        for (int t = 0; t < T - 1; t++)
        {
            int y = o == LabelObjective.NextToken ? t + 1 : t + 2;
            targets[t] = y < T ? tokens[y] : -1;
        }
        return (inputs, targets);
    }
}
