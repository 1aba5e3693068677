using System.Text.Json.Nodes;
using Palu.IO;

namespace Palu.Compression;

/// <summary>
/// Writes a compressed checkpoint, whatever the method: the source's tensors minus the weights and biases of the
/// modules the plan replaces, plus the new factor tensors; the tokenizer files; config.json with the architecture
/// renamed <c>Palu&lt;Original&gt;</c> (so other tools refuse the factors instead of loading random weights); palu.json.
/// Everything goes to a staging folder that is renamed into place, so an interrupted run leaves nothing behind.
/// </summary>
public static class CheckpointWriter
{
    const long MaxShardBytes = 4L << 30;

    public static void Write(ModelDirectory source, string outDir, IEnumerable<TensorToWrite> factors, IEnumerable<string> replacedModules,
        CompressionPlan plan, bool overwrite, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        using var stage = new AtomicDirectory(outDir, overwrite);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in replacedModules) { replaced.Add(m + ".weight"); replaced.Add(m + ".bias"); }
        var tensors = source.TensorNames.Where(n => !replaced.Contains(n)).Select(n =>
        {
            var info = source.Info(n);
            // cancellation is honoured between tensors: the staging folder is then removed and nothing is left
            return new TensorToWrite(n, info.DType, info.Shape, () => { ct.ThrowIfCancellationRequested(); return source.GetBytes(n).ToArray(); });
        }).Concat(factors).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();

        long bytes = tensors.Sum(t => t.ByteLength);
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["palu"] = CompressionPlan.Format };
        if (bytes > MaxShardBytes) SafetensorsWriter.WriteSharded(stage.Path, tensors, MaxShardBytes, meta);
        else SafetensorsWriter.Write(Path.Combine(stage.Path, "model.safetensors"), tensors, meta);

        string dir = source.Path;
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.model" })
            if (File.Exists(Path.Combine(dir, f))) File.Copy(Path.Combine(dir, f), Path.Combine(stage.Path, f));
        File.WriteAllText(Path.Combine(stage.Path, "config.json"), CompressedConfig(Path.Combine(dir, "config.json"), plan));
        File.WriteAllText(Path.Combine(stage.Path, CompressionPlan.FileName), plan.ToJson());
        ct.ThrowIfCancellationRequested();
        stage.Commit();
    }

    /// <summary>The source config.json with the architecture renamed and a "palu" block naming the original.</summary>
    static string CompressedConfig(string path, CompressionPlan m)
    {
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        o["architectures"] = new JsonArray("Palu" + m.OriginalArchitecture);
        string type = o["model_type"]?.GetValue<string>() ?? m.OriginalModelType;
        o["model_type"] = type.StartsWith("palu_", StringComparison.Ordinal) ? type : "palu_" + type;   // a compressed source keeps one prefix
        o["palu"] = new JsonObject
        {
            ["original_architecture"] = m.OriginalArchitecture,
            ["original_model_type"] = m.OriginalModelType,
            ["manifest"] = CompressionPlan.FileName,
            ["note"] = "Some modules are low-rank factors (palu.json says which). Load with Palu.NET (palu); transformers cannot load this directory.",
        };
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
