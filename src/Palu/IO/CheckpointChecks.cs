namespace Palu.IO;

/// <summary>Consistency of a checkpoint with its config.json beyond the shapes the loader checks tensor by tensor.</summary>
public static class CheckpointChecks
{
    /// <summary>
    /// Every <c>model.layers.{i}.</c> tensor has i &lt; num_hidden_layers: a config that says fewer layers than the file
    /// holds would silently drop layers.
    /// </summary>
    public static void Layers(ModelDirectory md)
    {
        int n = md.Config.NumLayers, max = -1;
        string? example = null;
        foreach (var name in md.TensorNames)
            if (LayerIndex(name) is int l && l > max) { max = l; example = name; }
        if (max >= 0 && max + 1 < n && !md.Config.PaluCompressed)
            throw InputError.Field(System.IO.Path.Combine(md.Path, "config.json"), "num_hidden_layers", n.ToString(),
                $"the checkpoint holds only {max + 1} layers (model.layers.0 to model.layers.{max})", $"set num_hidden_layers to {max + 1}");
        if (!md.Config.TieWordEmbeddings && !md.Contains("lm_head.weight") && md.Contains("model.embed_tokens.weight"))
            throw InputError.Field(System.IO.Path.Combine(md.Path, "config.json"), "tie_word_embeddings", "false",
                "the checkpoint has no lm_head.weight, so the output head must be the tied embed_tokens",
                "set tie_word_embeddings to true, or add lm_head.weight to the checkpoint");
        if (max >= n)
            throw InputError.Field(System.IO.Path.Combine(md.Path, "config.json"), "num_hidden_layers", n.ToString(),
                $"the checkpoint holds {max + 1} layers (e.g. {example}); the extra layers would be silently dropped",
                $"set num_hidden_layers to {max + 1}");
    }

    /// <summary>i of <c>model.layers.{i}.…</c>, or null.</summary>
    public static int? LayerIndex(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int end = name.IndexOf('.', prefix.Length);
        return end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), out int l) && l >= 0 ? l : null;
    }
}
