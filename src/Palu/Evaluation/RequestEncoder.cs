using Palu.Text;

namespace Palu.Evaluation;

/// <summary>Whether a BOS token starts every scored sequence.</summary>
public enum BosMode
{
    /// <summary>Prepend BOS when the tokenizer (or config.json) has one (our models always saw BOS first).</summary>
    Auto,
    /// <summary>Always prepend BOS; an error when there is none.</summary>
    Always,
    /// <summary>Never (lm-eval's default add_bos_token=False, which the Palu paper's run uses).</summary>
    Never,
}

/// <summary>
/// Turns a (context, continuation) request into token ids the way lm-evaluation-harness 0.4 does for causal LMs
/// (TemplateLM._encode_pair and loglikelihood, v0.4.2 through the current 0.4 line):
/// <list type="number">
/// <item>trailing whitespace of the context moves to the front of the continuation;</item>
/// <item>whole = encode(context + continuation), ctx = encode(context), continuation = whole[len(ctx):] — the
///   continuation's ids are what the joint encoding has after the context's own encoding, so a tokenizer's
///   leading-space convention (byte-level "Ġ", SentencePiece "▁") is handled by the tokenizer itself. This is not
///   "encode the continuation separately and append": lm-eval 0.4 does that only for seq2seq models.</item>
/// <item>an empty context becomes the one-token prefix: BOS if the tokenizer has one, else EOS (lm-eval ≥ 0.4.3's
///   prefix_token_id; 0.4.2 used EOS).</item>
/// </list>
/// Encoding uses no special tokens; with BOS on (<see cref="BosMode"/>) BOS is put in front of the context ids, as
/// lm-eval's add_bos_token=True does for Llama tokenizers (encode adds BOS to both whole and ctx, so the slice is the same).
/// </summary>
public sealed class RequestEncoder
{
    readonly Tokenizer _tok;

    /// <summary>The BOS id put in front of every context, or null.</summary>
    public int? Bos { get; }
    /// <summary>The context used for an empty context string (null: neither BOS nor EOS known).</summary>
    public int? PrefixToken { get; }

    public RequestEncoder(Tokenizer tokenizer, BosMode mode, int? configBos = null, int? configEos = null)
    {
        _tok = tokenizer;
        int? bos = tokenizer.BosTokenId ?? configBos;
        int? eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds[0] : configEos;
        Bos = mode switch
        {
            BosMode.Never => null,
            BosMode.Always => bos ?? throw new ArgumentException("--bos always: this tokenizer has no BOS token (use --bos never)"),
            _ => bos,
        };
        PrefixToken = bos ?? eos;
    }

    public (int[] Context, int[] Continuation) Encode(string context, string continuation)
    {
        if (context.Length == 0) return ([Prefix()], _tok.Encode(continuation));
        int n = PyText.TrailingSpaces(context);
        if (n > 0) { continuation = context[^n..] + continuation; context = context[..^n]; }
        var ctx = _tok.Encode(context);
        var whole = _tok.Encode(context + continuation);
        var contEnc = whole.AsSpan(Math.Min(ctx.Length, whole.Length)).ToArray();
        if (Bos is int b) ctx = [b, .. ctx];
        // A context of only whitespace ends up empty here; lm-eval asserts in that case, we condition on the prefix.
        if (ctx.Length == 0) ctx = [Prefix()];
        return (ctx, contEnc);
    }

    int Prefix() => PrefixToken ?? throw new ArgumentException("empty context, and the tokenizer has neither a BOS nor an EOS token to condition on");
}
