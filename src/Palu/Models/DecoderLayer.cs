namespace Palu.Models;

/// <summary>One Llama-family decoder layer's weights (HF names in comments).</summary>
public sealed class DecoderLayer
{
    public required float[] InputNorm { get; init; }          // input_layernorm.weight [d]
    public required Linear Q { get; init; }                    // self_attn.q_proj [H·d_h, d] (+ bias for Qwen2)
    public float[]? QNorm { get; init; }                       // self_attn.q_norm.weight [d_h] (Qwen3)
    public required KvAttention Attention { get; set; }        // k_proj, v_proj, o_proj and the cache they fill
    public required float[] PostAttentionNorm { get; init; }   // post_attention_layernorm.weight [d]
    public required Linear Gate { get; init; }                 // mlp.gate_proj [ffn, d]
    public required Linear Up { get; init; }                   // mlp.up_proj [ffn, d]
    public required Linear Down { get; init; }                 // mlp.down_proj [d, ffn]
}
