using System.Diagnostics;
using System.Text.Json;
using Palu.Text;
using Xunit.Abstractions;

namespace Palu.Tests.Text;

/// <summary>
/// Real Llama-3 and Qwen3 tokenizer.json files (from npm, see tests/fixtures/install-tokenizers.sh) against goldens
/// made by tests/fixtures/make-tokenizer-goldens.mjs with the JS library @lenml/tokenizers (committed in goldens/).
/// Skipped with a message when the fixtures are not installed.
/// </summary>
public class FixtureGoldenTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Cases(string name)
    {
        var golden = TextTestData.ReadJson(TextTestData.GoldenFile(name));
        int n = golden.GetProperty("cases").GetArrayLength();
        for (int i = 0; i < n; i++) yield return [i];
    }

    public static IEnumerable<object[]> Llama3Cases() => Cases("llama3");
    public static IEnumerable<object[]> Qwen3Cases() => Cases("qwen3");

    private static void CheckCase(string name, int index)
    {
        var tok = TextTestData.Fixture(name);
        var c = TextTestData.ReadJson(TextTestData.GoldenFile(name)).GetProperty("cases")[index];
        string text = c.GetProperty("text").GetString()!;
        int[] ids = TextTestData.Ints(c.GetProperty("ids"));
        int[] withSpecial = TextTestData.Ints(c.GetProperty("ids_with_special"));

        Assert.Equal(ids, tok.Encode(text));
        Assert.Equal(withSpecial, tok.Encode(text, addSpecialTokens: true));
        Assert.Equal(c.GetProperty("decoded").GetString(), tok.Decode(ids));
        Assert.Equal(c.GetProperty("decoded_with_special").GetString(), tok.Decode(withSpecial));
        Assert.Equal(c.GetProperty("decoded_with_special_skip_special").GetString(), tok.Decode(withSpecial, skipSpecialTokens: true));

        var stream = tok.CreateStreamingDecoder(skipSpecialTokens: false);
        Assert.Equal(tok.Decode(withSpecial), string.Concat(withSpecial.Select(stream.Append)) + stream.Flush());
    }

    [TokenizerFixtureTheory("llama3")]
    [MemberData(nameof(Llama3Cases))]
    public void Llama3_golden_case(int index) => CheckCase("llama3", index);

    [TokenizerFixtureTheory("qwen3")]
    [MemberData(nameof(Qwen3Cases))]
    public void Qwen3_golden_case(int index) => CheckCase("qwen3", index);

    private static void CheckRandom(string name)
    {
        var tok = TextTestData.Fixture(name);
        var random = TextTestData.ReadJson(TextTestData.GoldenFile(name)).GetProperty("random").EnumerateArray().ToList();
        Assert.Equal(600, random.Count);
        var mismatches = new List<string>();
        foreach (var c in random)
        {
            string text = c.GetProperty("text").GetString()!;
            int[] ids = tok.Encode(text);
            if (!ids.SequenceEqual(TextTestData.Ints(c.GetProperty("ids")))) mismatches.Add(JsonSerializer.Serialize(text));
            // Byte-level BPE is lossless up to the normalizer (Qwen3: NFC).
            string expected = name == "qwen3" ? UnicodeNormalizer.Normalize(text, System.Text.NormalizationForm.FormC) : text;
            Assert.Equal(expected, tok.Decode(ids));
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {random.Count} differ, e.g. {string.Join(", ", mismatches.Take(5))}");
    }

    [TokenizerFixtureFact("llama3")]
    public void Llama3_random_strings() => CheckRandom("llama3");

    [TokenizerFixtureFact("qwen3")]
    public void Qwen3_random_strings() => CheckRandom("qwen3");

    [Fact]
    public void Goldens_cover_the_required_strings()
    {
        foreach (var name in new[] { "llama3", "qwen3" })
        {
            var golden = TextTestData.ReadJson(TextTestData.GoldenFile(name));
            var texts = golden.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()).ToHashSet();
            Assert.True(texts.Count >= 40, $"{name}: only {texts.Count} golden strings");
            Assert.Contains("<|im_start|>user\nhi<|im_end|>", texts);
            Assert.Contains("Mixed\r\nCRLF\r\nlines", texts);
            var tiny = TextTestData.ReadJson(Path.Combine(TextTestData.ModelDir("tiny"), "golden", "tokenize.json"));
            var dropped = golden.GetProperty("dropped").EnumerateArray().Select(d => d.GetProperty("text").GetString()).ToHashSet();
            foreach (var c in tiny.GetProperty("cases").EnumerateArray())
            {
                string t = c.GetProperty("text").GetString()!;
                Assert.True(texts.Contains(t) || dropped.Contains(t), $"{name}: tiny's string {JsonSerializer.Serialize(t)} missing");
            }
        }
    }

    [TokenizerFixtureFact("llama3")]
    public void Llama3_metadata()
    {
        var tok = TextTestData.Fixture("llama3");
        Assert.Equal("byte-level BPE", tok.Kind);
        Assert.Equal(128256, tok.VocabSize);
        Assert.Equal(128000, tok.BosTokenId);
        Assert.Equal([128001], tok.EosTokenIds);
        Assert.True(tok.IsSpecial(128009)); // <|eot_id|>
        Assert.Equal("<|eot_id|>", tok.IdToToken(128009));
        // Digits go in groups of at most three (\p{N}{1,3}).
        Assert.Equal(["123", "456", "7"], tok.Encode("1234567").Select(id => tok.IdToToken(id)!));
    }

    [TokenizerFixtureFact("qwen3")]
    public void Qwen3_metadata()
    {
        var tok = TextTestData.Fixture("qwen3");
        Assert.Equal("byte-level BPE", tok.Kind);
        Assert.Equal(151669, tok.VocabSize);
        Assert.Null(tok.BosTokenId); // bos_token is null in Qwen3's tokenizer_config.json
        Assert.Equal([151645], tok.EosTokenIds); // <|im_end|>
        Assert.True(tok.IsSpecial(151644));
        Assert.False(tok.IsSpecial(151667)); // <think> is an added token but not special
        // Digits are single tokens (\p{N}); decomposed é is composed by the NFC normalizer.
        Assert.Equal(["1", "2", "3"], tok.Encode("123").Select(id => tok.IdToToken(id)!));
        Assert.Equal(tok.Encode("caf\u00e9"), tok.Encode("cafe\u0301"));
        Assert.Equal("<think>", tok.Decode(tok.Encode("<think>"), skipSpecialTokens: true));
    }

    /// <summary>
    /// Qwen3 on WikiText-2 test: decode(encode(text)) must give back the text, and the load and encode speed are
    /// printed (run with --logger "console;verbosity=detailed" to see them; no timing is asserted).
    /// </summary>
    [TokenizerFixtureFact("qwen3")]
    public void Qwen3_wikitext_round_trip_and_speed()
    {
        string dir = TextTestData.FixtureModelDir("qwen3");
        var sw = Stopwatch.StartNew();
        var tok = Tokenizer.FromFile(Path.Combine(dir, "tokenizer.json"), Path.Combine(dir, "tokenizer_config.json"));
        double loadMs = sw.Elapsed.TotalMilliseconds;

        string text = File.ReadAllText(TextTestData.WikitextPath);
        long bytes = new FileInfo(TextTestData.WikitextPath).Length;
        sw.Restart();
        int[] first = tok.Encode(text);
        double coldS = sw.Elapsed.TotalSeconds;
        sw.Restart();
        int[] second = tok.Encode(text);
        double warmS = sw.Elapsed.TotalSeconds;

        Assert.Equal(first, second);
        Assert.Equal(text, tok.Decode(first)); // wikitext is already NFC
        output.WriteLine($"Qwen3 tokenizer.json load: {loadMs:F0} ms; wiki.test.raw {bytes:N0} bytes → {first.Length:N0} ids; " +
            $"encode cold {coldS:F3} s ({bytes / coldS / 1e6:F2} MB/s), warm cache {warmS:F3} s ({bytes / warmS / 1e6:F2} MB/s)");
    }
}
