using Palu.Runtime;

namespace Palu.Models;

/// <summary>One Llama-family decoder layer's weights (HF names in comments), on the model's backend.</summary>
public sealed class DecoderLayer
{
    public required Buf InputNorm { get; init; }              // input_layernorm.weight [d]
    public required Linear Q { get; init; }                    // self_attn.q_proj [H·d_h, d] (+ bias for Qwen2)
    public Buf QNorm { get; init; }                            // self_attn.q_norm.weight [d_h] (Qwen3) or empty
    public required KvAttention Attention { get; init; }       // k_proj, v_proj, o_proj and the cache they fill
    public required Buf PostAttentionNorm { get; init; }       // post_attention_layernorm.weight [d]
    public required Linear Gate { get; init; }                 // mlp.gate_proj [ffn, d]
    public required Linear Up { get; init; }                   // mlp.up_proj [ffn, d]
    public required Linear Down { get; init; }                 // mlp.down_proj [d, ffn]

    /// <summary>The linear layer of <paramref name="kind"/>, or null where the module is not one (k_proj and v_proj
    /// of latent attention produce latents, not keys and values).</summary>
    public Linear? LinearOf(LinearKind kind) => kind switch
    {
        LinearKind.Q => Q,
        LinearKind.K or LinearKind.V or LinearKind.O => Attention.Projection(kind),
        LinearKind.Gate => Gate,
        LinearKind.Up => Up,
        _ => Down,
    };
}
