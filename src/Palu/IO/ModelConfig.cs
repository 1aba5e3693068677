using System.Text.Json;
using static Palu.IO.JsonFields;

namespace Palu.IO;

/// <summary>Architecture family. One forward pass serves all; the differences are the switches below.</summary>
public enum ModelFamily { Llama, Mistral, Qwen2, Qwen3 }

/// <summary>RoPE frequency scaling from config.json <c>rope_scaling</c> (or transformers-5 <c>rope_parameters</c>).</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4,
    int OriginalMaxPositionEmbeddings = 8192);

/// <summary>The parts of a Hugging Face config.json that the engine uses, validated.</summary>
public sealed partial record ModelConfig
{
    const string SupportedArchitectures = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM";

    public required string Architecture { get; init; }
    public required ModelFamily Family { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required double RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>q/k/v projections have a bias (Qwen2; Llama with attention_bias).</summary>
    public bool QkvBias { get; init; }
    /// <summary>o_proj has a bias (Llama with attention_bias).</summary>
    public bool OutputBias { get; init; }
    public bool MlpBias { get; init; }
    /// <summary>Per-head RMSNorm on q and k before RoPE (Qwen3).</summary>
    public bool QkNorm { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public int MaxPositionEmbeddings { get; init; }
    /// <summary>Attend only to the last SlidingWindow keys (Mistral v0.1); null = full causal attention.</summary>
    public int? SlidingWindow { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public string TorchDtype { get; init; } = "float32";
    /// <summary>config.json carries a "palu" block: K/V projections are stored as low-rank factors (see palu.json).</summary>
    public bool PaluCompressed { get; init; }

    public int QDim => NumHeads * HeadDim;
    public int KvDim => NumKvHeads * HeadDim;

    /// <summary>Dense KV-cache bytes per token at <paramref name="bytesPerValue"/> (2 for fp16 caches).</summary>
    public long KvBytesPerToken(int bytesPerValue) => 2L * NumLayers * KvDim * bytesPerValue;

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "config.json not found: a Hugging Face model directory needs one");
        using var doc = ParseFile(path);
        return Parse(path, doc.RootElement);
    }

    public static ModelConfig Parse(string path, JsonElement r)
    {
        if (r.ValueKind != JsonValueKind.Object)
            throw InputError.File(path, $"config.json must be a JSON object, not {r.ValueKind}", "restore the model's config.json");
        CheckTypes(path, r);
        ModelConfig c;
        try { c = ParseFields(path, r); }
        catch (FormatException e) { throw InputError.File(path, e.Message, "write the value as a plain integer, as transformers does", e); }
        catch (InvalidOperationException e) { throw InputError.File(path, $"a field has the wrong JSON type ({e.Message})", "restore the model's config.json", e); }
        c.CheckRanges(path);
        return c;
    }

    static ModelConfig ParseFields(string path, JsonElement r)
    {
        string arch = r.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0
            ? a[0].GetString() ?? "" : "";
        string modelType = Str(r, "model_type") ?? "";
        // A Palu-compressed checkpoint renames its architecture (so other tools refuse it) and keeps the original here.
        bool compressed = false;
        if (r.TryGetProperty("palu", out var palu) && palu.ValueKind == JsonValueKind.Object)
        {
            arch = Str(palu, "original_architecture") ?? throw Missing(path, "palu.original_architecture");
            modelType = Str(palu, "original_model_type") ?? modelType;
            compressed = true;
        }
        else if (arch.StartsWith("Palu", StringComparison.Ordinal))
            throw new ModelFormatException(path, $"architecture '{arch}' is a Palu-compressed model but the 'palu' block with the original architecture is missing");
        ModelFamily family = arch switch
        {
            "LlamaForCausalLM" => ModelFamily.Llama,
            "MistralForCausalLM" => ModelFamily.Mistral,
            "Qwen2ForCausalLM" => ModelFamily.Qwen2,
            "Qwen3ForCausalLM" => ModelFamily.Qwen3,
            "" => modelType switch
            {
                "llama" => ModelFamily.Llama, "mistral" => ModelFamily.Mistral,
                "qwen2" => ModelFamily.Qwen2, "qwen3" => ModelFamily.Qwen3,
                _ => throw new ModelFormatException(path, $"field 'architectures' missing and model_type '{modelType}' is not supported (supported: {SupportedArchitectures})"),
            },
            _ => throw new ModelFormatException(path, $"field 'architectures' = '{arch}' is not supported (supported: {SupportedArchitectures})"),
        };
        if (string.IsNullOrEmpty(arch)) arch = family + "ForCausalLM";

        int hidden = ReqInt(path, r, "hidden_size");
        int heads = ReqInt(path, r, "num_attention_heads");
        int kvHeads = Int(r, "num_key_value_heads") ?? heads;
        int headDim = Int(r, "head_dim") ?? (hidden % heads == 0 ? hidden / heads
            : throw new ModelFormatException(path, $"field 'head_dim' missing and hidden_size {hidden} is not divisible by num_attention_heads {heads}"));
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw InputError.Field(path, "num_key_value_heads", kvHeads.ToString(), $"must be positive and divide num_attention_heads = {heads}",
                "restore the value from the model's original config.json");
        string act = Str(r, "hidden_act") ?? "silu";
        if (act != "silu")
            throw new ModelFormatException(path, $"field 'hidden_act' = '{act}' is not supported (only silu / SwiGLU)");

        var (theta, scaling) = ParseRope(path, r, family);
        bool attnBias = Bool(r, "attention_bias") ?? false;
        int? window = null;
        if (family == ModelFamily.Mistral && Int(r, "sliding_window") is int w) window = w;
        if (family is ModelFamily.Qwen2 or ModelFamily.Qwen3 && (Bool(r, "use_sliding_window") ?? false))
            throw new ModelFormatException(path, "field 'use_sliding_window' = true is not supported (per-layer sliding windows of Qwen); set it to false");

        return new ModelConfig
        {
            Architecture = arch,
            Family = family,
            HiddenSize = hidden,
            IntermediateSize = ReqInt(path, r, "intermediate_size"),
            NumLayers = ReqInt(path, r, "num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = ReqInt(path, r, "vocab_size"),
            RmsNormEps = Num(r, "rms_norm_eps") ?? 1e-6,
            RopeTheta = theta,
            RopeScaling = scaling,
            QkvBias = family == ModelFamily.Qwen2 || attnBias,
            OutputBias = family is ModelFamily.Llama or ModelFamily.Mistral && attnBias,
            MlpBias = Bool(r, "mlp_bias") ?? false,
            QkNorm = family == ModelFamily.Qwen3,
            TieWordEmbeddings = Bool(r, "tie_word_embeddings") ?? false,
            MaxPositionEmbeddings = Int(r, "max_position_embeddings") ?? 2048,
            SlidingWindow = window,
            BosTokenId = Int(r, "bos_token_id"),
            EosTokenIds = IntOrInts(r, "eos_token_id"),
            TorchDtype = Str(r, "torch_dtype") ?? Str(r, "dtype") ?? "float32",
            PaluCompressed = compressed,
        };
    }

    static (double theta, RopeScaling? scaling) ParseRope(string path, JsonElement r, ModelFamily family)
    {
        double theta = Num(r, "rope_theta") ?? 10000.0;
        JsonElement sc = default;
        bool hasScaling = r.TryGetProperty("rope_scaling", out sc) && sc.ValueKind == JsonValueKind.Object;
        // transformers >= 5 writes rope_parameters {rope_type, rope_theta, factor, ...}.
        if (r.TryGetProperty("rope_parameters", out var rp) && rp.ValueKind == JsonValueKind.Object)
        {
            if (Num(rp, "rope_theta") is double t) theta = t;
            if (!hasScaling) { sc = rp; hasScaling = true; }
        }
        if (!hasScaling) return (theta, null);
        string type = Str(sc, "rope_type") ?? Str(sc, "type") ?? "default";
        switch (type)
        {
            case "default": return (theta, null);
            case "linear":
                return (theta, new RopeScaling("linear", Num(sc, "factor") ?? throw Missing(path, "rope_scaling.factor")));
            case "llama3":
                return (theta, new RopeScaling("llama3",
                    Num(sc, "factor") ?? throw Missing(path, "rope_scaling.factor"),
                    Num(sc, "low_freq_factor") ?? throw Missing(path, "rope_scaling.low_freq_factor"),
                    Num(sc, "high_freq_factor") ?? throw Missing(path, "rope_scaling.high_freq_factor"),
                    Int(sc, "original_max_position_embeddings") ?? throw Missing(path, "rope_scaling.original_max_position_embeddings")));
            default:
                throw new ModelFormatException(path, $"field 'rope_scaling.rope_type' = '{type}' is not supported (supported: default, linear, llama3)");
        }
    }

    static ModelFormatException Missing(string path, string field) =>
        InputError.File(path, $"required field '{field}' is missing", "restore config.json from the original Hugging Face checkpoint");

    static int ReqInt(string path, JsonElement r, string name) =>
        Int(r, name) ?? throw Missing(path, name);
}
