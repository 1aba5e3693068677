using Palu.IO;

namespace Palu.Tests;

/// <summary>Rewrites a small f32 checkpoint tensor by tensor (test models with planted structure).</summary>
public static class CheckpointEdit
{
    /// <summary>
    /// dst = src with every tensor passed through <paramref name="edit"/> (name, values → values), config.json from src
    /// and the tokenizer files of <paramref name="tokenizerFrom"/>.
    /// </summary>
    public static void Rewrite(string src, string dst, string tokenizerFrom, Func<string, float[], float[]> edit)
    {
        Directory.CreateDirectory(dst);
        using (var md = ModelDirectory.Open(src))
        {
            var tensors = md.TensorNames.Select(n =>
            {
                var shape = md.Info(n).Shape;
                return TensorToWrite.FromFloats(n, edit(n, md.Floats(n, shape)), shape);
            }).ToList();
            SafetensorsWriter.Write(Path.Combine(dst, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        File.Copy(Path.Combine(src, "config.json"), Path.Combine(dst, "config.json"), overwrite: true);
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json", "tokenizer.model" })
            if (File.Exists(Path.Combine(tokenizerFrom, f))) File.Copy(Path.Combine(tokenizerFrom, f), Path.Combine(dst, f), overwrite: true);
    }

    /// <summary>
    /// The tensor of an equivalent model whose KV head p is the original's head order[p]: k/v_proj rows and biases by
    /// KV head, q_proj rows and bias by the query heads of each KV head (<paramref name="queriesPerKv"/> each), o_proj
    /// columns likewise. Other tensors unchanged.
    /// </summary>
    public static float[] PermuteHeads(string name, float[] w, int[] order, int queriesPerKv, int dh, int hidden)
    {
        bool kv = name.Contains("k_proj") || name.Contains("v_proj"), q = name.Contains("q_proj"), o = name.Contains("o_proj.weight");
        if (!kv && !q && !o) return w;
        int block = kv ? 1 : queriesPerKv;                       // heads per KV head in this tensor
        int cols = name.EndsWith(".bias") ? 1 : hidden;
        var r = new float[w.Length];
        if (o)
        {
            int width = w.Length / hidden;                        // o_proj [d, H·d_h]: permute column blocks
            for (int row = 0; row < hidden; row++)
                for (int p = 0; p < order.Length; p++)
                    Array.Copy(w, row * width + order[p] * block * dh, r, row * width + p * block * dh, block * dh);
            return r;
        }
        int span = block * dh * cols;                             // rows of one KV head's block × columns
        for (int p = 0; p < order.Length; p++) Array.Copy(w, order[p] * span, r, p * span, span);
        return r;
    }
}
