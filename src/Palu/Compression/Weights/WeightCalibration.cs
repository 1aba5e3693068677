using Palu.LinearAlgebra;
using Palu.Models;

namespace Palu.Compression.Weights;

/// <summary>
/// Grams G = Σ xᵀx of the four linear inputs of a decoder layer (q/k/v, o, gate/up, down), for all layers or one.
/// With one layer the forward is stopped once that layer's last input has been seen (sequential calibration re-runs
/// the calibration text through the layers compressed so far, and needs nothing beyond the layer at hand).
/// </summary>
public sealed class WeightCalibration : IActivationObserver
{
    static readonly LinearInput[] Inputs = [LinearInput.Attention, LinearInput.AttentionOutput, LinearInput.Mlp, LinearInput.MlpDown];
    readonly GramCollector[] _grams;
    readonly int? _only;

    /// <summary>Thrown by the observer to end a forward early (caught by <see cref="Run"/>).</summary>
    sealed class Done : Exception;

    public WeightCalibration(Palu.IO.ModelConfig c, ILinearAlgebra la, int? onlyLayer = null)
    {
        _only = onlyLayer;
        _grams = Inputs.Select(i => new GramCollector(c.NumLayers, Width(c, i), i, la)).ToArray();
    }

    public static int Width(Palu.IO.ModelConfig c, LinearInput i) => i switch
    {
        LinearInput.AttentionOutput => c.QDim,
        LinearInput.MlpDown => c.IntermediateSize,
        _ => c.HiddenSize,
    };

    /// <summary>G [n, n] of input <paramref name="which"/> of layer <paramref name="layer"/>.</summary>
    public double[] Gram(int layer, LinearInput which) => _grams[Array.IndexOf(Inputs, which)].Gram(layer);

    public void OnLinearInput(int layer, LinearInput which, ReadOnlySpan<float> x, int T)
    {
        if (_only is int l && layer != l) return;
        _grams[Array.IndexOf(Inputs, which)].OnLinearInput(layer, which, x, T);
        if (_only == layer && which == LinearInput.MlpDown) throw new Done();
    }

    /// <summary>Writes every Gram (float64, layer by layer, the four inputs in order) to <paramref name="path"/>.</summary>
    public void Save(string path, int layers)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + ".tmp";
        using (var f = File.Create(tmp))
            for (int l = 0; l < layers; l++)
                foreach (var g in _grams) f.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(g.Gram(l).AsSpan()));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads Grams written by <see cref="Save"/>; false when the file does not hold this model's shapes.</summary>
    public bool TryLoad(string path, int layers)
    {
        if (!File.Exists(path)) return false;
        using var f = File.OpenRead(path);
        if (f.Length != _grams.Sum(g => (long)g.Dim * g.Dim) * layers * sizeof(double)) return false;
        for (int l = 0; l < layers; l++)
            foreach (var g in _grams) f.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(g.Gram(l).AsSpan()));
        return true;
    }

    /// <summary>Runs every sample through <paramref name="lm"/> (from position 0), collecting the Grams.</summary>
    public void Run(CausalLM lm, IReadOnlyList<int[]> samples, Action<int>? progress, CancellationToken ct)
    {
        int len = samples.Max(s => s.Length);
        var hidden = new float[len * lm.Hidden];
        using var seq = lm.NewSequence(len);
        for (int i = 0; i < samples.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            seq.RewindTo(0);
            try { lm.Forward(samples[i], seq, hidden, this); }
            catch (Done) { }
            progress?.Invoke(i + 1);
        }
    }
}
