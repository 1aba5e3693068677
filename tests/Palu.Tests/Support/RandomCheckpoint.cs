using System.Text.Json;
using System.Text.Json.Nodes;
using Palu.IO;
using Palu.Tensors;

namespace Palu.Tests;

/// <summary>Shape and switches of a random-weight test model.</summary>
public sealed record RandomModelSpec
{
    public string Architecture { get; init; } = "LlamaForCausalLM";
    public int Hidden { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int HeadDim { get; init; } = 16;
    public int Ffn { get; init; } = 128;
    public int Vocab { get; init; } = 256;
    public int MaxPositions { get; init; } = 256;
    public double RopeTheta { get; init; } = 10000;
    /// <summary>Raw JSON of rope_scaling, e.g. {"rope_type":"llama3",...}; null for none.</summary>
    public string? RopeScalingJson { get; init; }
    public bool AttentionBias { get; init; }
    public bool TieEmbeddings { get; init; } = true;
    public int? SlidingWindow { get; init; }
    public DType DType { get; init; } = DType.F32;
    public float Std { get; init; } = 0.08f;
}

/// <summary>
/// Writes a deterministic random-weight HF checkpoint (config.json + safetensors) of any Llama-family shape, for tests
/// and benchmarks. Same spec and seed → same bytes. Qwen2 gets q/k/v biases, Qwen3 q_norm/k_norm.
/// </summary>
public static class RandomCheckpoint
{
    public static void Write(string dir, RandomModelSpec s, int seed, long? maxShardBytes = null)
    {
        Directory.CreateDirectory(dir);
        var rng = new Palu.LinearAlgebra.Gaussian((ulong)seed);
        var tensors = new List<TensorToWrite>();
        void Mat(string name, int rows, int cols) =>
            tensors.Add(TensorToWrite.FromFloats(name, rng.Floats(rows * cols, s.Std), [rows, cols], s.DType));
        void Vec(string name, int n, float center, float std) =>
            tensors.Add(TensorToWrite.FromFloats(name, rng.Floats(n, std).Select(v => v + center).ToArray(), [n], s.DType));

        bool qwen2 = s.Architecture == "Qwen2ForCausalLM", qwen3 = s.Architecture == "Qwen3ForCausalLM";
        bool llamaBias = s.AttentionBias && !qwen2 && !qwen3;
        int q = s.Heads * s.HeadDim, kv = s.KvHeads * s.HeadDim;
        Mat("model.embed_tokens.weight", s.Vocab, s.Hidden);
        for (int i = 0; i < s.Layers; i++)
        {
            string p = $"model.layers.{i}.";
            Vec(p + "input_layernorm.weight", s.Hidden, 1f, 0.1f);
            Mat(p + "self_attn.q_proj.weight", q, s.Hidden);
            Mat(p + "self_attn.k_proj.weight", kv, s.Hidden);
            Mat(p + "self_attn.v_proj.weight", kv, s.Hidden);
            Mat(p + "self_attn.o_proj.weight", s.Hidden, q);
            if (qwen2 || llamaBias)
            {
                Vec(p + "self_attn.q_proj.bias", q, 0f, 0.2f);
                Vec(p + "self_attn.k_proj.bias", kv, 0f, 0.2f);
                Vec(p + "self_attn.v_proj.bias", kv, 0f, 0.2f);
            }
            if (llamaBias) Vec(p + "self_attn.o_proj.bias", s.Hidden, 0f, 0.2f);
            if (qwen3)
            {
                Vec(p + "self_attn.q_norm.weight", s.HeadDim, 1f, 0.1f);
                Vec(p + "self_attn.k_norm.weight", s.HeadDim, 1f, 0.1f);
            }
            Vec(p + "post_attention_layernorm.weight", s.Hidden, 1f, 0.1f);
            Mat(p + "mlp.gate_proj.weight", s.Ffn, s.Hidden);
            Mat(p + "mlp.up_proj.weight", s.Ffn, s.Hidden);
            Mat(p + "mlp.down_proj.weight", s.Hidden, s.Ffn);
        }
        Vec("model.norm.weight", s.Hidden, 1f, 0.1f);
        if (!s.TieEmbeddings) Mat("lm_head.weight", s.Vocab, s.Hidden);

        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        if (maxShardBytes is long m) SafetensorsWriter.WriteSharded(dir, tensors, m, meta);
        else SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors, meta);
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), ConfigJson(s));
    }

    public static string ConfigJson(RandomModelSpec s)
    {
        string modelType = s.Architecture switch
        {
            "MistralForCausalLM" => "mistral", "Qwen2ForCausalLM" => "qwen2", "Qwen3ForCausalLM" => "qwen3", _ => "llama",
        };
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(s.Architecture),
            ["model_type"] = modelType,
            ["hidden_size"] = s.Hidden,
            ["intermediate_size"] = s.Ffn,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["head_dim"] = s.HeadDim,
            ["vocab_size"] = s.Vocab,
            ["max_position_embeddings"] = s.MaxPositions,
            ["rms_norm_eps"] = 1e-6,
            ["rope_theta"] = s.RopeTheta,
            ["hidden_act"] = "silu",
            ["attention_bias"] = s.AttentionBias || s.Architecture == "Qwen2ForCausalLM",
            ["tie_word_embeddings"] = s.TieEmbeddings,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = s.DType switch { DType.BF16 => "bfloat16", DType.F16 => "float16", _ => "float32" },
        };
        if (s.RopeScalingJson != null) o["rope_scaling"] = JsonNode.Parse(s.RopeScalingJson);
        if (s.Architecture == "MistralForCausalLM") o["sliding_window"] = s.SlidingWindow;
        if (s.Architecture is "Qwen2ForCausalLM" or "Qwen3ForCausalLM") o["use_sliding_window"] = false;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
