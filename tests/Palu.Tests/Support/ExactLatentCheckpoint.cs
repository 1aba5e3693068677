using Palu.Compression;
using Palu.IO;
using Palu.Models;

namespace Palu.Tests;

/// <summary>
/// Writes a Palu checkpoint (plan version 2) of a dense one whose K/V factorisation is exact: group g's A_g is the rows
/// of W for its heads in slot order and B_g = I, so the latent model must give the dense model's outputs. The groups
/// are given explicitly, in any head order, so the runtime's head → (group, slot) map is exercised too.
/// </summary>
public static class ExactLatentCheckpoint
{
    public static void Write(string src, string dst, int[][] groups)
    {
        using var md = ModelDirectory.Open(src);
        var c = md.Config;
        int d = c.HiddenSize, dh = c.HeadDim;
        var factors = new List<TensorToWrite>();
        var modules = new List<ModulePlan>();
        for (int l = 0; l < c.NumLayers; l++)
            foreach (var kind in new[] { LinearKind.K, LinearKind.V })
            {
                string m = LinearKinds.Module(l, kind);
                var w = md.Matrix(m + ".weight", c.KvDim, d).ToFloats();            // [H_kv·d_h, d]
                var b = c.QkvBias ? md.Floats(m + ".bias", c.KvDim) : null;
                var down = new List<float>();                                       // [Σr, d]
                var ranks = new int[groups.Length];
                for (int g = 0; g < groups.Length; g++)
                {
                    int width = groups[g].Length * dh;
                    ranks[g] = width;
                    var up = new float[width * width];                             // I [s·d_h, s·d_h]
                    for (int i = 0; i < width; i++) up[i * width + i] = 1f;
                    var bias = new float[width];
                    foreach (var (h, slot) in groups[g].Select((h, i) => (h, i)))
                    {
                        down.AddRange(w.AsSpan(h * dh * d, dh * d).ToArray());
                        if (b != null) b.AsSpan(h * dh, dh).CopyTo(bias.AsSpan(slot * dh, dh));
                    }
                    factors.Add(TensorToWrite.FromFloats(PaluPlan.UpName(l, kind, g), up, [width, width], Tensors.DType.F32));
                    if (b != null) factors.Add(TensorToWrite.FromFloats(PaluPlan.UpBiasName(l, kind, g), bias, [width], Tensors.DType.F32));
                }
                factors.Add(TensorToWrite.FromFloats(PaluPlan.DownName(l, kind), down.ToArray(), [ranks.Sum(), d], Tensors.DType.F32));
                modules.Add(PaluPlan.LatentModule(l, kind, groups, ranks, b != null));
            }
        var plan = new CompressionPlan
        {
            OriginalArchitecture = c.Architecture, OriginalModelType = c.Family.ToString().ToLowerInvariant(), Modules = modules.ToArray(),
        };
        CheckpointWriter.Write(md, dst, factors, modules.Select(m => m.Name), plan, overwrite: true);
    }
}
