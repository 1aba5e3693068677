using Palu.IO;

namespace Palu.Models;

/// <summary>
/// Every forward result we use is checked where it is cheap (the logits of each step: V floats against a V×d GEMV):
/// a NaN or Inf becomes an error that names the first non-finite activation (found by re-running a short probe with
/// an observer), never "ppl NaN" or an empty completion with exit 0.
/// </summary>
public static class NonFiniteCheck
{
    /// <summary>Throws when <paramref name="logits"/> holds a NaN or Inf; <paramref name="where"/> says which step.</summary>
    public static void Logits(CausalLM lm, ReadOnlySpan<float> logits, string where)
    {
        if (AllFinite(logits)) return;
        throw Error(lm, $"non-finite logits ({First(logits)}) {where}");
    }

    /// <summary>Throws when <paramref name="values"/> (e.g. Fisher scores, SVD factors) holds a NaN or Inf.</summary>
    public static void Values(ReadOnlySpan<float> values, string file, string what)
    {
        if (!AllFinite(values))
            throw InputError.File(file, $"{what} holds non-finite values ({First(values)}); nothing was written",
                "check the model with palu doctor MODEL (NaN/Inf weights) and the calibration text");
    }

    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        // x·0 is 0 for finite x and NaN for NaN/Inf: one vectorised pass
        float s = 0;
        foreach (var v in x) s += v * 0f;
        return s == 0f;
    }

    static string First(ReadOnlySpan<float> x)
    {
        for (int i = 0; i < x.Length; i++) if (!float.IsFinite(x[i])) return $"{x[i]} at index {i}";
        return "none";
    }

    static ModelFormatException Error(CausalLM lm, string what) =>
        InputError.File(lm.Path, $"{what}; {Diagnose(lm)}",
            "run palu doctor on the model (it scans every weight) and check config.json (rms_norm_eps, rope_theta); do not use --no-check-weights on this model");

    /// <summary>Runs a short probe sequence and names the first linear input that is not finite.</summary>
    public static string Diagnose(CausalLM lm)
    {
        try
        {
            int T = Math.Min(8, lm.Config.MaxPositionEmbeddings);
            var tokens = Enumerable.Range(0, T).Select(i => i % lm.Vocab).ToArray();
            var hidden = new float[T * lm.Hidden];   // [T, d]
            using var seq = lm.NewSequence(T);
            var probe = new Probe();
            lm.Forward(tokens, seq, hidden, probe);
            if (probe.Found is { } f) return $"the first non-finite activation is {f}";
            return AllFinite(hidden) ? "the hidden states are finite, so the final norm or lm_head (model.norm / lm_head weights) overflows"
                : "every layer input is finite but the final hidden states are not: the last layer's down_proj or model.norm overflows";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"(the probe to find the layer failed: {e.Message})";
        }
    }

    sealed class Probe : IActivationObserver
    {
        public string? Found;

        public void OnLinearInput(int layer, LinearInput which, ReadOnlySpan<float> x, int T)
        {
            if (Found != null || AllFinite(x)) return;
            Found = which switch
            {
                LinearInput.Attention => $"the input of layer {layer}'s q/k/v_proj (after input_layernorm): check layer {layer}'s input_layernorm" +
                    (layer > 0 ? $" and layer {layer - 1}'s weights" : " and model.embed_tokens"),
                LinearInput.AttentionOutput => $"the attention output of layer {layer} (input of o_proj): check layer {layer}'s q/k/v_proj",
                LinearInput.Mlp => $"the input of layer {layer}'s gate/up_proj: check layer {layer}'s o_proj and post_attention_layernorm",
                _ => $"the input of layer {layer}'s down_proj: check layer {layer}'s gate_proj and up_proj",
            };
        }
    }
}
