namespace Palu.Models;

/// <summary>Which linear inputs of a decoder layer an observer sees. One input feeds several linears.</summary>
public enum LinearInput
{
    /// <summary>Output of input_layernorm: the input of q_proj, k_proj and v_proj.</summary>
    Attention,
    /// <summary>Attention output before o_proj: the input of o_proj.</summary>
    AttentionOutput,
    /// <summary>Output of post_attention_layernorm: the input of gate_proj and up_proj.</summary>
    Mlp,
    /// <summary>silu(gate)·up: the input of down_proj.</summary>
    MlpDown,
}

/// <summary>Sees the inputs of linear layers during a forward pass (calibration statistics such as Gram matrices).</summary>
public interface IActivationObserver
{
    /// <summary>x [T, n]: the input of the <paramref name="which"/> linears of decoder layer <paramref name="layer"/>.</summary>
    void OnLinearInput(int layer, LinearInput which, ReadOnlySpan<float> x, int T);
}
