using Palu.Evaluation;
using Palu.Text;

namespace Palu.Tests.Evaluation;

/// <summary>
/// lm-eval 0.4's _encode_pair on a byte-level BPE tokenizer (tiny) and a SentencePiece-style one (stories260k):
/// continuation = encode(context + continuation) minus the first len(encode(context)) ids, trailing context spaces
/// moved to the continuation.
/// </summary>
public class RequestEncoderTests
{
    static Tokenizer Tok(string model) => Tokenizer.FromDirectory(TestPaths.Model(model));

    static string[] Pieces(Tokenizer tok, int[] ids) => ids.Select(i => tok.IdToToken(i)!).ToArray();

    [Theory]
    [InlineData("tiny")]
    [InlineData("stories260k")]
    public void Continuation_is_the_joint_encoding_minus_the_context_prefix(string model)
    {
        var tok = Tok(model);
        var enc = new RequestEncoder(tok, BosMode.Never);
        foreach (var (c, k) in new[] { ("Question: What does a cat drink?\nAnswer:", " milk"), ("The cat", "s are here"), ("The dog", "gy bag") })
        {
            var (ctx, cont) = enc.Encode(c, k);
            var whole = tok.Encode(c + k);
            Assert.Equal(tok.Encode(c), ctx);
            Assert.Equal(whole[ctx.Length..], cont);
        }
    }

    [Fact]
    public void Byte_level_merge_across_the_boundary_follows_lm_eval()
    {
        // whole = The|Ġc|ats|Ġare|Ġhere, context = The|Ġcat: lm-eval keeps whole[2:], so "ats" (not "s") is scored
        var tok = Tok("tiny");
        var (ctx, cont) = new RequestEncoder(tok, BosMode.Never).Encode("The cat", "s are here");
        Assert.Equal(["The", "Ġcat"], Pieces(tok, ctx));
        Assert.Equal(["ats", "Ġare", "Ġhere"], Pieces(tok, cont));
        Assert.Equal(["s", "Ġare", "Ġhere"], Pieces(tok, tok.Encode("s are here")));   // what separate encoding would give
    }

    [Fact]
    public void Trailing_context_space_moves_to_the_continuation()
    {
        var tok = Tok("tiny");
        var enc = new RequestEncoder(tok, BosMode.Never);
        var moved = enc.Encode("Answer: ", "milk");
        Assert.Equal(enc.Encode("Answer:", " milk").Context, moved.Context);
        Assert.Equal(["Ġmil", "k"], Pieces(tok, moved.Continuation));
        Assert.Equal(["An", "sw", "er", ":"], Pieces(tok, moved.Context));
        Assert.Equal(["m", "il", "k"], Pieces(tok, tok.Encode("milk")));
    }

    [Fact]
    public void SentencePiece_continuation_has_no_extra_word_start_marker()
    {
        // encoding "gy bag" alone would prepend "▁" (▁g|y…); inside the joint encoding it continues the word "dog"
        var tok = Tok("stories260k");
        var (ctx, cont) = new RequestEncoder(tok, BosMode.Never).Encode("The dog", "gy bag");
        Assert.Equal(["▁The", "▁do", "g"], Pieces(tok, ctx));
        Assert.Equal(["g", "y", "▁b", "a", "g"], Pieces(tok, cont));
        Assert.Equal("▁g", tok.IdToToken(tok.Encode("gy bag")[0]));
        var (_, milk) = new RequestEncoder(tok, BosMode.Never).Encode("Answer:", " milk");
        Assert.Equal(["▁m", "il", "k"], Pieces(tok, milk));
    }

    [Theory]
    [InlineData("tiny", 0)]
    [InlineData("stories260k", 1)]
    public void Bos_modes(string model, int bos)
    {
        var tok = Tok(model);
        var never = new RequestEncoder(tok, BosMode.Never).Encode("Answer:", " milk");
        foreach (var mode in new[] { BosMode.Auto, BosMode.Always })
        {
            var enc = new RequestEncoder(tok, mode);
            Assert.Equal(bos, enc.Bos);
            var (ctx, cont) = enc.Encode("Answer:", " milk");
            Assert.Equal([bos, .. never.Context], ctx);
            Assert.Equal(never.Continuation, cont);
        }
        Assert.Null(new RequestEncoder(tok, BosMode.Never).Bos);
    }

    [Fact]
    public void Empty_context_conditions_on_the_prefix_token()
    {
        var tok = Tok("tiny");
        var (ctx, cont) = new RequestEncoder(tok, BosMode.Never).Encode("", " milk");
        Assert.Equal([0], ctx);   // BOS (lm-eval ≥ 0.4.3 prefix_token_id)
        Assert.Equal(tok.Encode(" milk"), cont);
    }

    [Fact]
    public void Always_without_a_bos_token_is_an_error()
    {
        // tokenizer.json alone (no tokenizer_config.json / config.json): no BOS known
        var tok = Tokenizer.FromFile(Path.Combine(TestPaths.Model("tiny"), "tokenizer.json"));
        Assert.Null(tok.BosTokenId);
        Assert.Contains("no BOS", Assert.Throws<ArgumentException>(() => new RequestEncoder(tok, BosMode.Always)).Message);
        Assert.Null(new RequestEncoder(tok, BosMode.Auto).Bos);
    }
}
