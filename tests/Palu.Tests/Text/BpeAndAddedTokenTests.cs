using Palu.Text;

namespace Palu.Tests.Text;

/// <summary>The BPE model and added-token matching on small hand-made tokenizers, with results worked out by hand.</summary>
public class BpeAndAddedTokenTests
{
    private static string[] Tokens(Tokenizer tok, string text) => tok.Encode(text).Select(id => tok.IdToToken(id)!).ToArray();

    [Fact]
    public void Merges_apply_lowest_rank_first_then_leftmost()
    {
        // ranks: "b c" 0, "a b" 1, "ab c" 2. "abc": b+c first (rank 0), then "a"+"bc" has no merge.
        var tok = SyntheticTokenizer.Load(SyntheticTokenizer.Json(["a", "b", "c", "ab", "bc", "abc"], ["b c", "a b", "ab c"]));
        Assert.Equal(["a", "bc"], Tokens(tok, "abc"));
        // "abab": a+b at 0 and at 2 have the same rank; leftmost first, then the second.
        Assert.Equal(["ab", "ab"], Tokens(tok, "abab"));
        // "aaa" has no merges at all.
        Assert.Equal(["a", "a", "a"], Tokens(tok, "aaa"));
    }

    [Fact]
    public void Merges_given_as_pairs_equal_merges_given_as_strings()
    {
        string asStrings = SyntheticTokenizer.Json(["a", "b", "ab", "abb"], ["a b", "ab b"]);
        string asPairs = asStrings.Replace("\"a b\"", "[\"a\", \"b\"]").Replace("\"ab b\"", "[\"ab\", \"b\"]");
        Assert.Contains("[\"ab\", \"b\"]", asPairs);
        var a = SyntheticTokenizer.Load(asStrings);
        var b = SyntheticTokenizer.Load(asPairs);
        Assert.Equal(["abb", "ab"], Tokens(a, "abbab"));
        Assert.Equal(a.Encode("abbabba"), b.Encode("abbabba"));
    }

    [Fact]
    public void Merges_of_long_tokens_in_both_spellings()
    {
        // Long merge strings go through the reader's growing buffer; a wrong read would fail the vocab lookups.
        string a = new('a', 300), b = new('b', 700);
        string json = SyntheticTokenizer.Json(["a", "b", a, b, a + b], [$"{a} {b}"]);
        string pairs = json.Replace($"\"{a} {b}\"", $"[\"{a}\", \"{b}\"]");
        Assert.NotEqual(json, pairs);
        Assert.Equal(5, SyntheticTokenizer.Load(json).VocabSize);
        Assert.Equal(5, SyntheticTokenizer.Load(pairs).VocabSize);
        var e = Assert.Throws<Palu.IO.ModelFormatException>(() => SyntheticTokenizer.Load(pairs.Replace($"\"{b}\"]", $"\"{b}x\"]")));
        Assert.Contains($"\"{b}x\" is not in the vocab", e.Message);
    }

    [Fact]
    public void Long_word_merges_fully()
    {
        // 5000 'a': merges "a a" → "aa", "aa aa" → "aaaa"; the result is 1250 × "aaaa".
        var tok = SyntheticTokenizer.Load(SyntheticTokenizer.Json(["a", "aa", "aaaa"], ["a a", "aa aa"]));
        var ids = tok.Encode(new string('a', 5000));
        Assert.Equal(1250, ids.Length);
        Assert.All(ids, id => Assert.Equal("aaaa", tok.IdToToken(id)));
        Assert.Equal(["aaaa", "aa", "a"], Tokens(tok, "aaaaaaa"));
    }

    [Fact]
    public void Ignore_merges_takes_a_word_in_the_vocab_whole()
    {
        // Merges alone would give "ab" + "c"; with ignore_merges the word "abc" is in the vocab.
        string json = SyntheticTokenizer.Json(["a", "b", "c", "ab", "abc"], ["a b"]);
        Assert.Equal(["ab", "c"], Tokens(SyntheticTokenizer.Load(json), "abc"));
        var ignoring = SyntheticTokenizer.Load(json.Replace("\"dropout\": null", "\"dropout\": null, \"ignore_merges\": true"));
        Assert.Equal(["abc"], Tokens(ignoring, "abc"));
        Assert.Equal(["ab", "ab"], Tokens(ignoring, "abab"));
    }

    [Fact]
    public void Byte_fallback_unk_and_fuse_unk()
    {
        var vocab = new List<string> { "<unk>", "a", "b" };
        vocab.AddRange(new[] { 0xC3, 0xA9 }.Select(b => $"<0x{b:X2}>")); // only the bytes of 'é'
        string json = SyntheticTokenizer.Json(vocab, [], modelExtra: ", \"unk_token\": \"<unk>\", \"byte_fallback\": true");
        var tok = SyntheticTokenizer.Load(json);
        // 'é' falls back to its two bytes; 'ü' (C3 BC) lacks <0xBC>, so it is <unk>; two unknowns stay two.
        Assert.Equal(["a", "<0xC3>", "<0xA9>", "b", "<unk>", "<unk>"], Tokens(tok, "aébüü"));
        var fused = SyntheticTokenizer.Load(json.Replace("\"byte_fallback\": true", "\"byte_fallback\": true, \"fuse_unk\": true"));
        Assert.Equal(["a", "<unk>", "b"], Tokens(fused, "aüüb"));
        // Without unk_token an unknown character is dropped.
        var noUnk = SyntheticTokenizer.Load(SyntheticTokenizer.Json(["a", "b"], []));
        Assert.Equal(["a", "b"], Tokens(noUnk, "a?b"));
    }

    [Fact]
    public void Continuing_subword_prefix_and_end_of_word_suffix()
    {
        var tok = SyntheticTokenizer.Load(SyntheticTokenizer.Json(["a", "##b", "##c</w>", "a##b", "ab", "c</w>"], ["a ##b"],
            modelExtra: ", \"continuing_subword_prefix\": \"##\", \"end_of_word_suffix\": \"</w>\""));
        // "abc" → a, ##b, ##c</w>; merge a + ##b → "ab" (the prefix of the right part is dropped).
        Assert.Equal(["ab", "##c</w>"], Tokens(tok, "abc"));
    }

    private const string AddedVocab = """["<|x|>", "<|xy|>", "a", "b", " ", "X", "Y", "h", "e", "l", "o", "H"]""";

    private static string Added(string tokens) => $"[{tokens}]";

    private static string AddedToken(int id, string content, bool lstrip = false, bool rstrip = false, bool singleWord = false,
        bool normalized = false, bool special = true) =>
        $$"""{"id": {{id}}, "content": "{{content}}", "single_word": {{(singleWord ? "true" : "false")}}, "lstrip": {{(lstrip ? "true" : "false")}}, "rstrip": {{(rstrip ? "true" : "false")}}, "normalized": {{(normalized ? "true" : "false")}}, "special": {{(special ? "true" : "false")}}}""";

    private static Tokenizer AddedTokenizer(string addedTokens, string normalizer = "null")
    {
        var vocab = System.Text.Json.JsonSerializer.Deserialize<string[]>(AddedVocab)!;
        return SyntheticTokenizer.Load(SyntheticTokenizer.Json(vocab, [], normalizer: normalizer, addedTokens: addedTokens));
    }

    [Fact]
    public void Added_tokens_match_leftmost_longest_in_raw_text()
    {
        var tok = AddedTokenizer(Added(AddedToken(0, "<|x|>") + "," + AddedToken(1, "<|xy|>")));
        Assert.Equal(["a", "<|xy|>", "b", "<|x|>", "<|x|>"], Tokens(tok, "a<|xy|>b<|x|><|x|>"));
        // An unfinished added token is plain text (and these characters are not in the vocab: dropped).
        Assert.Equal(["a"], Tokens(tok, "<|xa"));
    }

    [Fact]
    public void Added_token_lstrip_rstrip_swallow_whitespace()
    {
        var plain = AddedTokenizer(Added(AddedToken(0, "<|x|>")));
        Assert.Equal(["a", " ", "<|x|>", " ", "b"], Tokens(plain, "a <|x|> b"));
        var l = AddedTokenizer(Added(AddedToken(0, "<|x|>", lstrip: true)));
        Assert.Equal(["a", "<|x|>", " ", "b"], Tokens(l, "a  <|x|> b"));
        var r = AddedTokenizer(Added(AddedToken(0, "<|x|>", rstrip: true)));
        Assert.Equal(["a", " ", "<|x|>", "b"], Tokens(r, "a <|x|>   b"));
        // Without a decoder HF joins the token strings with spaces.
        Assert.Equal("a   <|x|> b", r.Decode(r.Encode("a <|x|>   b")));
    }

    [Fact]
    public void Added_token_single_word_needs_non_word_neighbours()
    {
        var tok = AddedTokenizer(Added(AddedToken(12, "XY", singleWord: true, special: false)));
        Assert.Equal(["a", " ", "XY", " ", "b"], Tokens(tok, "a XY b"));
        Assert.Equal(["a", "X", "Y", " ", "b"], Tokens(tok, "aXY b"));
        Assert.Equal(["X", "Y", "b"], Tokens(tok, "XYb"));
    }

    [Fact]
    public void Normalized_added_tokens_are_found_in_the_normalized_text()
    {
        // With a Lowercase normalizer, the normalized token "Hello" is looked for as "hello".
        var vocab = new[] { "h", "e", "l", "o", "x", "Hello" };
        string json = SyntheticTokenizer.Json(vocab, [], normalizer: """{"type": "Lowercase"}""",
            addedTokens: Added(AddedToken(5, "Hello", normalized: true, special: false)));
        var tok = SyntheticTokenizer.Load(json);
        Assert.Equal([4, 5, 4], tok.Encode("xHELLOx"));
        // HF 0.23 spells a normalized added token in its normalized form when decoding.
        Assert.Equal("hello", tok.IdToToken(5));
        Assert.Equal(5, tok.TokenToId("Hello"));
        // A non-normalized token must match the raw text exactly.
        var raw = SyntheticTokenizer.Load(json.Replace("\"normalized\": true", "\"normalized\": false"));
        Assert.Equal("Hello", raw.IdToToken(5));
        Assert.Equal(["x", "Hello", "x"], Tokens(raw, "xHellox"));
        Assert.Equal(["x", "h", "e", "l", "l", "o", "x"], Tokens(raw, "xHELLOx"));
    }

    [Fact]
    public void Template_post_processor_and_add_bos_token()
    {
        string template = """
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
             "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}}
            """;
        string json = SyntheticTokenizer.Json(["<s>", "</s>", "a"], [], postProcessor: template,
            addedTokens: Added(AddedToken(0, "<s>") + "," + AddedToken(1, "</s>")));
        string path = SyntheticTokenizer.Write(json);
        var tok = Tokenizer.FromFile(path);
        Assert.Equal([2], tok.Encode("a"));
        Assert.Equal([0, 2, 1], tok.Encode("a", addSpecialTokens: true));
        Assert.Null(tok.BosTokenId);

        string config = SyntheticTokenizer.Write("""{"bos_token": {"content": "<s>"}, "eos_token": "</s>", "add_bos_token": false, "add_eos_token": false}""", "tokenizer_config.json");
        var noSpecials = Tokenizer.FromFile(path, config);
        Assert.Equal(0, noSpecials.BosTokenId);
        Assert.Equal([1], noSpecials.EosTokenIds);
        Assert.Equal([2], noSpecials.Encode("a", addSpecialTokens: true));
    }
}
