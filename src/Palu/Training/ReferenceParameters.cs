using System.Numerics;
using Palu.Models;

namespace Palu.Training;

/// <summary>One decoder layer's parameters as plain arrays of <typeparamref name="T"/> (f32 or f64), HF layout.</summary>
public sealed class LayerParameters<T> where T : struct, IFloatingPointIeee754<T>
{
    public required T[] InputNorm { get; init; }   // [d]
    public required T[] Wq { get; init; }          // [H·dh, d]
    public T[]? Bq { get; init; }                  // [H·dh]
    public T[]? QNorm { get; init; }               // [dh]
    public required T[] Wk { get; init; }          // [Hkv·dh, d]
    public T[]? Bk { get; init; }                  // [Hkv·dh]
    public required T[] Wv { get; init; }          // [Hkv·dh, d]
    public T[]? Bv { get; init; }                  // [Hkv·dh]
    public T[]? KNorm { get; init; }               // [dh]
    public required T[] Wo { get; init; }          // [d, H·dh]
    public T[]? Bo { get; init; }                  // [d]
    public required T[] PostNorm { get; init; }    // [d]
    public required T[] Wg { get; init; }          // [ffn, d]
    public T[]? Bg { get; init; }                  // [ffn]
    public required T[] Wu { get; init; }          // [ffn, d]
    public T[]? Bu { get; init; }                  // [ffn]
    public required T[] Wd { get; init; }          // [d, ffn]
    public T[]? Bd { get; init; }                  // [d]

    public T[] Weight(LinearKind k) => k switch
    {
        LinearKind.Q => Wq, LinearKind.K => Wk, LinearKind.V => Wv, LinearKind.O => Wo,
        LinearKind.Gate => Wg, LinearKind.Up => Wu, _ => Wd,
    };

    /// <summary>Every tensor with its HF name inside the layer (nulls skipped).</summary>
    public IEnumerable<(string Name, T[] Values)> Tensors()
    {
        (string, T[]?)[] all =
        [
            ("input_layernorm.weight", InputNorm),
            ("self_attn.q_proj.weight", Wq), ("self_attn.q_proj.bias", Bq), ("self_attn.q_norm.weight", QNorm),
            ("self_attn.k_proj.weight", Wk), ("self_attn.k_proj.bias", Bk),
            ("self_attn.v_proj.weight", Wv), ("self_attn.v_proj.bias", Bv), ("self_attn.k_norm.weight", KNorm),
            ("self_attn.o_proj.weight", Wo), ("self_attn.o_proj.bias", Bo),
            ("post_attention_layernorm.weight", PostNorm),
            ("mlp.gate_proj.weight", Wg), ("mlp.gate_proj.bias", Bg),
            ("mlp.up_proj.weight", Wu), ("mlp.up_proj.bias", Bu),
            ("mlp.down_proj.weight", Wd), ("mlp.down_proj.bias", Bd),
        ];
        foreach (var (n, v) in all)
            if (v != null) yield return (n, v);
    }

    public LayerParameters<T> ZerosLike()
    {
        static T[]? Z(T[]? a) => a == null ? null : new T[a.Length];
        return new LayerParameters<T>
        {
            InputNorm = Z(InputNorm)!, Wq = Z(Wq)!, Bq = Z(Bq), QNorm = Z(QNorm), Wk = Z(Wk)!, Bk = Z(Bk), Wv = Z(Wv)!, Bv = Z(Bv),
            KNorm = Z(KNorm), Wo = Z(Wo)!, Bo = Z(Bo), PostNorm = Z(PostNorm)!, Wg = Z(Wg)!, Bg = Z(Bg), Wu = Z(Wu)!, Bu = Z(Bu),
            Wd = Z(Wd)!, Bd = Z(Bd),
        };
    }
}

/// <summary>
/// A whole model's parameters as plain arrays (a copy, widened from the checkpoint), for the reference forward and
/// backward of <see cref="ReferenceBackprop{T}"/>. With <c>T = double</c> it is the finite-difference oracle.
/// </summary>
public sealed class ModelParameters<T> where T : struct, IFloatingPointIeee754<T>
{
    public required TrainingShape Shape { get; init; }
    public required T[] Embed { get; init; }        // [V, d]
    public T[]? LmHead { get; init; }               // [V, d]; null = tied to Embed
    public required T[] FinalNorm { get; init; }    // [d]
    public required LayerParameters<T>[] Layers { get; init; }

    /// <summary>The LM head matrix [V, d] (the embeddings when tied).</summary>
    public T[] Head => LmHead ?? Embed;

    /// <summary>Every tensor with its HF name, in a fixed order (same order for a model and its <see cref="ZerosLike"/>).</summary>
    public IEnumerable<(string Name, T[] Values)> Tensors()
    {
        yield return ("model.embed_tokens.weight", Embed);
        for (int l = 0; l < Layers.Length; l++)
            foreach (var (n, v) in Layers[l].Tensors()) yield return ($"model.layers.{l}.{n}", v);
        yield return ("model.norm.weight", FinalNorm);
        if (LmHead != null) yield return ("lm_head.weight", LmHead);
    }

    public ModelParameters<T> ZerosLike() => new()
    {
        Shape = Shape,
        Embed = new T[Embed.Length],
        LmHead = LmHead == null ? null : new T[LmHead.Length],
        FinalNorm = new T[FinalNorm.Length],
        Layers = Layers.Select(l => l.ZerosLike()).ToArray(),
    };

    /// <summary>Copies a dense (not compressed) model's weights from its checkpoint, widened to <typeparamref name="T"/>.</summary>
    public static ModelParameters<T> From(CausalLM lm)
    {
        var hw = HostWeights.From(lm);
        static T[] W(HostLinear l) => Conv(l.Weight.ToFloats());
        static T[]? B(HostLinear l) => l.Bias is { } b ? Conv(b) : null;
        static T[]? Opt(float[]? a) => a == null ? null : Conv(a);
        var layers = hw.Layers.Select(L => new LayerParameters<T>
        {
            InputNorm = Conv(L.InputNorm), Wq = W(L.Q), Bq = B(L.Q), QNorm = Opt(L.QNorm),
            Wk = W(L.K), Bk = B(L.K), Wv = W(L.V), Bv = B(L.V), KNorm = Opt(L.KNorm),
            Wo = W(L.O), Bo = B(L.O), PostNorm = Conv(L.PostNorm),
            Wg = W(L.Gate), Bg = B(L.Gate), Wu = W(L.Up), Bu = B(L.Up), Wd = W(L.Down), Bd = B(L.Down),
        }).ToArray();
        return new ModelParameters<T>
        {
            Shape = TrainingShape.From(lm),
            Embed = Conv(hw.Embed.ToFloats()),
            LmHead = lm.Config.TieWordEmbeddings ? null : Conv(hw.LmHead.ToFloats()),
            FinalNorm = Conv(hw.FinalNorm),
            Layers = layers,
        };
    }

    static T[] Conv(float[] a)
    {
        var r = new T[a.Length];
        for (int i = 0; i < a.Length; i++) r[i] = T.CreateChecked(a[i]);
        return r;
    }
}
