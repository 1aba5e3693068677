namespace Palu.Models;

/// <summary>The seven linear layers of a Llama-family decoder layer, in HF order.</summary>
public enum LinearKind { Q, K, V, O, Gate, Up, Down }

/// <summary>HF module names of the linear layers: the one place they are spelled.</summary>
public static class LinearKinds
{
    public static readonly LinearKind[] All = [LinearKind.Q, LinearKind.K, LinearKind.V, LinearKind.O, LinearKind.Gate, LinearKind.Up, LinearKind.Down];

    /// <summary>HF module name inside a layer, e.g. <c>self_attn.k_proj</c>.</summary>
    public static string Module(LinearKind k) => k switch
    {
        LinearKind.Q => "self_attn.q_proj",
        LinearKind.K => "self_attn.k_proj",
        LinearKind.V => "self_attn.v_proj",
        LinearKind.O => "self_attn.o_proj",
        LinearKind.Gate => "mlp.gate_proj",
        LinearKind.Up => "mlp.up_proj",
        _ => "mlp.down_proj",
    };

    /// <summary>Full HF module name, e.g. <c>model.layers.3.self_attn.k_proj</c>.</summary>
    public static string Module(int layer, LinearKind k) => $"{LayerPrefix(layer)}{Module(k)}";

    /// <summary><c>model.layers.{i}.</c></summary>
    public static string LayerPrefix(int layer) => $"model.layers.{layer}.";

    /// <summary>The kind whose module name is <paramref name="module"/> (a full or in-layer name), or null.</summary>
    public static LinearKind? Parse(string module)
    {
        foreach (var k in All)
            if (module.EndsWith(Module(k), StringComparison.Ordinal)) return k;
        return null;
    }
}
