using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace Palu.Tests.Text;

/// <summary>
/// The shared models' goldens, computed with Python `tokenizers` 0.23: every field of every case must match.
/// </summary>
public class SharedGoldenTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var model in new[] { "tiny", "stories260k" })
        {
            var golden = TextTestData.ReadJson(Path.Combine(TextTestData.ModelDir(model), "golden", "tokenize.json"));
            int n = golden.GetProperty("cases").GetArrayLength();
            for (int i = 0; i < n; i++) yield return [model, i];
        }
    }

    private static JsonElement Case(string model, int index) =>
        TextTestData.ReadJson(Path.Combine(TextTestData.ModelDir(model), "golden", "tokenize.json")).GetProperty("cases")[index];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Golden_case_matches_every_field(string model, int index)
    {
        var tok = TextTestData.Shared(model);
        var c = Case(model, index);
        string text = c.GetProperty("text").GetString()!;
        int[] ids = TextTestData.Ints(c.GetProperty("ids"));
        int[] withSpecial = TextTestData.Ints(c.GetProperty("ids_with_special"));

        Assert.Equal(ids, tok.Encode(text));
        Assert.Equal(withSpecial, tok.Encode(text, addSpecialTokens: true));
        Assert.Equal(c.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()), ids.Select(tok.IdToToken));
        Assert.Equal(c.GetProperty("decoded").GetString(), tok.Decode(ids));
        Assert.Equal(c.GetProperty("decoded_with_special").GetString(), tok.Decode(withSpecial));
        Assert.Equal(c.GetProperty("decoded_with_special_skip_special").GetString(), tok.Decode(withSpecial, skipSpecialTokens: true));
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("stories260k")]
    public void Prompt_input_ids_match_including_bos(string model)
    {
        var tok = TextTestData.Shared(model);
        var prompts = TextTestData.ReadJson(Path.Combine(TextTestData.ModelDir(model), "golden", "prompts.json"));
        var texts = prompts.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToArray();
        var perPrompt = prompts.GetProperty("per_prompt").EnumerateArray().ToArray();
        Assert.Equal(3, texts.Length);
        foreach (var p in perPrompt)
        {
            int index = p.GetProperty("index").GetInt32();
            int[] expected = TextTestData.Ints(p.GetProperty("input_ids"));
            Assert.Equal(p.GetProperty("n_tokens").GetInt32(), expected.Length);
            Assert.Equal(expected, tok.Encode(texts[index], addSpecialTokens: true));
        }
    }

    [Fact]
    public void Stories260k_tokenizer_check_once_upon_a_time()
    {
        var check = TextTestData.ReadJson(Path.Combine(TextTestData.ModelDir("stories260k"), "golden", "tokenizer_check.json"));
        int[] expected = TextTestData.Ints(check.GetProperty("once_upon_a_time_with_bos"));
        Assert.Equal([1, 403, 407, 261, 378], expected);
        Assert.Equal(expected, TextTestData.Shared("stories260k").Encode("Once upon a time", addSpecialTokens: true));
    }

    [Theory]
    [InlineData("tiny", "byte-level BPE", 4096, 0, 1)]
    [InlineData("stories260k", "SentencePiece BPE (byte fallback)", 512, 1, 2)]
    public void Metadata(string model, string kind, int vocabSize, int bos, int eos)
    {
        var tok = TextTestData.Shared(model);
        Assert.Equal(kind, tok.Kind);
        Assert.Equal(vocabSize, tok.VocabSize);
        Assert.Equal(bos, tok.BosTokenId);
        Assert.Equal([eos], tok.EosTokenIds);
        Assert.True(tok.IsSpecial(bos));
        Assert.False(tok.IsSpecial(300));
        Assert.Equal(bos, tok.TokenToId(tok.IdToToken(bos)!));
        Assert.Null(tok.IdToToken(vocabSize));
        Assert.Null(tok.TokenToId("no such token ✗✗✗"));
    }

    /// <summary>
    /// The perplexity golden's stream: all of wiki.test.raw without special tokens is 440,103 ids. The encode time
    /// is printed (run with --logger "console;verbosity=detailed"); no timing is asserted.
    /// </summary>
    [Fact]
    public void Wikitext_test_encodes_to_the_golden_token_count()
    {
        var sw = Stopwatch.StartNew();
        var tok = Palu.Text.Tokenizer.FromDirectory(TextTestData.ModelDir("tiny"));
        double loadMs = sw.Elapsed.TotalMilliseconds;
        var ppl = TextTestData.ReadJson(Path.Combine(TextTestData.ModelDir("tiny"), "golden", "perplexity.json"));
        int expected = ppl.GetProperty("wikitext2_test").GetProperty("stream_tokens").GetInt32();
        Assert.Equal(440103, expected);
        string text = File.ReadAllText(TextTestData.WikitextPath);
        sw.Restart();
        int[] ids = tok.Encode(text);
        double encodeS = sw.Elapsed.TotalSeconds;
        Assert.Equal(expected, ids.Length);
        Assert.Equal(text, tok.Decode(ids)); // byte-level BPE is lossless
        long bytes = new FileInfo(TextTestData.WikitextPath).Length;
        output.WriteLine($"tiny tokenizer load {loadMs:F0} ms; wiki.test.raw {bytes:N0} bytes → {ids.Length:N0} ids in " +
            $"{encodeS:F3} s ({bytes / encodeS / 1e6:F2} MB/s, first encode with a fresh tokenizer)");
    }

    [Fact]
    public void Encoding_from_several_threads_gives_the_same_ids()
    {
        string[] lines = File.ReadAllLines(TextTestData.WikitextPath).Where(l => l.Length > 0).Take(3000).ToArray();
        var sequential = Palu.Text.Tokenizer.FromDirectory(TextTestData.ModelDir("stories260k"));
        var shared = Palu.Text.Tokenizer.FromDirectory(TextTestData.ModelDir("stories260k"));
        int[][] expected = lines.Select(l => sequential.Encode(l)).ToArray();
        var actual = new int[lines.Length][];
        Parallel.For(0, lines.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => actual[i] = shared.Encode(lines[i]));
        for (int i = 0; i < lines.Length; i++) Assert.Equal(expected[i], actual[i]);
        Assert.Equal(lines[5].Trim(), shared.Decode(actual[5]).Trim());
    }
}
