using Palu.Text;

namespace Palu.Tests.Text;

/// <summary>Streaming decode must concatenate to exactly the batch decode, and hold back unfinished characters.</summary>
public class StreamingDecoderTests
{
    private static string Stream(Tokenizer tok, int[] ids, bool skipSpecial, List<string>? pieces = null)
    {
        var decoder = tok.CreateStreamingDecoder(skipSpecial);
        var sb = new System.Text.StringBuilder();
        foreach (int id in ids)
        {
            string piece = decoder.Append(id);
            pieces?.Add(piece);
            sb.Append(piece);
        }
        return sb.Append(decoder.Flush()).ToString();
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("stories260k")]
    public void Golden_cases_stream_to_the_batch_text(string model)
    {
        var tok = TextTestData.Shared(model);
        var golden = TextTestData.ReadJson(Path.Combine(TextTestData.ModelDir(model), "golden", "tokenize.json"));
        foreach (var c in golden.GetProperty("cases").EnumerateArray())
        {
            int[] ids = TextTestData.Ints(c.GetProperty("ids_with_special"));
            Assert.Equal(c.GetProperty("decoded_with_special").GetString(), Stream(tok, ids, skipSpecial: false));
            Assert.Equal(c.GetProperty("decoded_with_special_skip_special").GetString(), Stream(tok, ids, skipSpecial: true));
        }
    }

    [Theory]
    [InlineData("tiny", 1)]
    [InlineData("stories260k", 2)]
    public void Random_id_sequences_stream_to_the_batch_text(string model, int seed)
    {
        var tok = TextTestData.Shared(model);
        RandomSequences(tok, seed, 500);
    }

    [TokenizerFixtureFact("qwen3")]
    public void Random_id_sequences_stream_to_the_batch_text_qwen3() => RandomSequences(TextTestData.Fixture("qwen3"), 3, 300);

    internal static void RandomSequences(Tokenizer tok, int seed, int count)
    {
        var rng = new Random(seed);
        int mismatches = 0;
        for (int trial = 0; trial < count; trial++)
        {
            // Ids from the whole vocabulary plus a few out of range (skipped by both).
            int[] ids = Enumerable.Range(0, rng.Next(0, 40)).Select(_ => rng.Next(-2, tok.VocabSize + 2)).ToArray();
            foreach (bool skip in new[] { false, true })
            {
                string batch = tok.Decode(ids, skip);
                string streamed = Stream(tok, ids, skip);
                if (batch != streamed) mismatches++;
                Assert.Equal(batch, streamed);
            }
        }
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void Byte_level_token_ending_mid_character_yields_nothing_until_complete()
    {
        var tok = TextTestData.Shared("tiny");
        // "😀" is F0 9F 98 80; each byte alone is a byte-level token.
        int[] ids = new byte[] { 0xF0, 0x9F, 0x98, 0x80 }.Select(b => tok.TokenToId(ByteLevel.ByteToChar[b].ToString())!.Value).ToArray();
        var pieces = new List<string>();
        Assert.Equal("😀", Stream(tok, ids, skipSpecial: true, pieces));
        Assert.Equal(["", "", "", "😀"], pieces);

        // An unfinished sequence at the end becomes U+FFFD at Flush, as in the batch decode.
        var decoder = tok.CreateStreamingDecoder();
        Assert.Equal("", decoder.Append(ids[0]));
        Assert.Equal("", decoder.Append(ids[1]));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD", tok.Decode(ids[..2]));
    }

    [Fact]
    public void Byte_fallback_run_is_released_when_the_run_ends()
    {
        var tok = TextTestData.Shared("stories260k");
        int[] bytes = new[] { 0xF0, 0x9F, 0x98, 0x80 }.Select(b => tok.TokenToId($"<0x{b:X2}>")!.Value).ToArray();
        int the = tok.Encode("the")[0];
        Assert.Equal("\u2581the", tok.IdToToken(the));
        var pieces = new List<string>();
        int[] ids = [.. bytes, the];
        Assert.Equal("😀 the", Stream(tok, ids, skipSpecial: true, pieces));
        Assert.Equal(["", "", "", "", "😀 the"], pieces);
        Assert.Equal("😀 the", tok.Decode(ids));

        // A run that is not valid UTF-8 as a whole is one U+FFFD per byte (HF ByteFallback), also when streamed.
        int[] broken = [bytes[0], bytes[1], the];
        Assert.Equal("\uFFFD\uFFFD the", tok.Decode(broken));
        Assert.Equal("\uFFFD\uFFFD the", Stream(tok, broken, skipSpecial: true));
    }

    [Fact]
    public void Special_tokens_are_skipped_by_default()
    {
        var tok = TextTestData.Shared("tiny");
        var decoder = tok.CreateStreamingDecoder();
        Assert.Equal("", decoder.Append(0));
        int[] hello = tok.Encode("Hello world");
        Assert.Equal("Hello world", string.Concat(hello.Select(decoder.Append)) + decoder.Flush());
    }

    // Decoder chains the shared models do not use, on a small vocabulary with spaces, ▁ and byte tokens.
    public static TheoryData<string> Decoders => new()
    {
        """{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 2}]}""",
        """{"type": "Sequence", "decoders": [{"type": "Strip", "content": " ", "start": 2, "stop": 1}]}""",
        """{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Replace", "pattern": {"String": "ab"}, "content": "X"}]}""",
        """{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Replace", "pattern": {"Regex": "a+b"}, "content": "Y"}]}""",
        """{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}""",
        """{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}]}""",
        """{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}""",
        """{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "ByteFallback"}]}""",
        """{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "ByteLevel"}]}""",
        """{"type": "ByteLevel"}""",
        "null",
    };

    [Theory]
    [MemberData(nameof(Decoders))]
    public void Other_decoder_chains_stream_to_the_batch_text(string decoder)
    {
        string[] vocab = ["a", "b", "ab", " ", "  ", "▁", "▁a", "a▁", "<0x41>", "<0xC3>", "<0xA9>", "<0xE2>", "Ġ", "Ã", "©"];
        var tok = SyntheticTokenizer.Load(SyntheticTokenizer.Json(vocab, [], decoder: decoder));
        RandomSequences(tok, decoder.Length, 400);
    }
}
