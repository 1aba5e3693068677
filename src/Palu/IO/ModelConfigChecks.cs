using System.Text.Json;

namespace Palu.IO;

/// <summary>Range checks of every config.json field the engine reads: a bad value is an error naming it, never NaN later.</summary>
public sealed partial record ModelConfig
{
    static readonly string[] NumericFields =
    [
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
        "rms_norm_eps", "rope_theta", "max_position_embeddings", "sliding_window", "bos_token_id",
    ];

    /// <summary>A numeric field written as a string (or object, array) is an error, not "missing".</summary>
    static void CheckTypes(string path, JsonElement r)
    {
        foreach (var f in NumericFields)
            if (r.TryGetProperty(f, out var v) && v.ValueKind is not (JsonValueKind.Number or JsonValueKind.Null))
                throw InputError.Field(path, f, v.GetRawText(), "must be a JSON number", $"write it without quotes, e.g. \"{f}\": {Example(f)}");
    }

    static string Example(string f) => f switch { "rms_norm_eps" => "1e-05", "rope_theta" => "10000.0", _ => "512" };

    void CheckRanges(string path)
    {
        void Int(string field, long value, long min, long max, string fix)
        {
            if (value < min || value > max)
                throw InputError.Field(path, field, value.ToString(), $"must be in [{min}, {max}]", fix);
        }
        void Real(string field, double value, double min, double max, string fix)
        {
            if (!double.IsFinite(value) || value <= min || value > max)
                throw InputError.Field(path, field, value.ToString("R"), $"must be in ({min}, {max}]", fix);
        }
        const string restore = "restore the value from the model's original config.json";
        Int("hidden_size", HiddenSize, 1, 1 << 18, restore);
        Int("intermediate_size", IntermediateSize, 1, 1 << 20, restore);
        Int("num_hidden_layers", NumLayers, 1, 4096, restore);
        Int("num_attention_heads", NumHeads, 1, 4096, restore);
        Int("num_key_value_heads", NumKvHeads, 1, NumHeads, "it must divide num_attention_heads; " + restore);
        Int("head_dim", HeadDim, 2, 4096, restore);
        if (HeadDim % 2 != 0) throw InputError.Field(path, "head_dim", HeadDim.ToString(), "must be even (RoPE rotates pairs)", restore);
        Int("vocab_size", VocabSize, 1, 1 << 24, restore);
        Int("max_position_embeddings", MaxPositionEmbeddings, 1, 1 << 22, restore);
        Real("rms_norm_eps", RmsNormEps, 0, 1, "use a small positive value such as 1e-05 or 1e-06 (" + restore + ")");
        Real("rope_theta", RopeTheta, 1, 1e12, "use the model's base, e.g. 10000.0 (Llama 2) or 500000.0 (Llama 3)");
        if (RopeScaling is { } rs)
        {
            Real("rope_scaling.factor", rs.Factor, 0, 1e6, restore);
            if (rs.Type == "llama3")
            {
                Real("rope_scaling.low_freq_factor", rs.LowFreqFactor, 0, 1e6, restore);
                Real("rope_scaling.high_freq_factor", rs.HighFreqFactor, rs.LowFreqFactor, 1e6, "it must exceed low_freq_factor; " + restore);
                Int("rope_scaling.original_max_position_embeddings", rs.OriginalMaxPositionEmbeddings, 1, 1 << 22, restore);
            }
        }
        if (SlidingWindow is int w) Int("sliding_window", w, 1, int.MaxValue, "remove it or set a positive window");
        if (BosTokenId is int b) Int("bos_token_id", b, 0, VocabSize - 1, $"it must be a token id below vocab_size {VocabSize}");
        foreach (var e in EosTokenIds) Int("eos_token_id", e, 0, VocabSize - 1, $"it must be a token id below vocab_size {VocabSize}");
        if ((long)NumHeads * HeadDim > 1 << 20) throw InputError.Field(path, "num_attention_heads × head_dim", ((long)NumHeads * HeadDim).ToString(), "is implausibly large", restore);
    }
}
