using System.Text;
using Palu.Text;

namespace Palu.Tests.Text;

/// <summary>Regex translation, Unicode normalization, UTF-8 decoding and pre-tokenizer splitting in isolation.</summary>
public class ComponentTests
{
    [Theory]
    [InlineData("a++b", "(?>a+)b")]
    [InlineData(@"\p{L}*+x", @"(?>\p{L}*)x")]
    [InlineData("[abc]?+", "(?>[abc]?)")]
    [InlineData("(ab)++|c", "(?>(ab)+)|c")]
    [InlineData(@"\h+", "[0-9a-fA-F]+")]
    [InlineData(@"[\h_]", "[0-9a-fA-F_]")]
    [InlineData("x{,3}", "x{0,3}")]
    [InlineData("x{2}+", "(?:x{2})+")]
    [InlineData(@"\p{^L}", @"\P{L}")]
    [InlineData(@"(?i:'s|'t)|\p{N}{1,3}s", @"(?i:'[sS\u017F]|'t)|\p{N}{1,3}s")]
    [InlineData(@"(?i)k(?-i:k)", @"(?i)[kK\u212A](?-i:k)")]
    [InlineData("a{b", @"a\{b")]
    public void Oniguruma_patterns_are_translated(string onig, string dotnet) => Assert.Equal(dotnet, HfRegex.Translate(onig));

    private static List<string> Pieces(HfRegex regex, string text)
    {
        var matches = new List<(int Start, int End)>();
        regex.FindMatches(text, matches);
        return matches.Select(m => text[m.Start..m.End]).ToList();
    }

    private const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    [Fact]
    public void Characters_outside_the_BMP_keep_their_Unicode_category()
    {
        var regex = HfRegex.FromOniguruma(Llama3Pattern);
        // An emoji (So) may lead a letter run, as in Oniguruma; math bold letters (Lu) and CJK ext B (Lo) are letters;
        // math bold digits (Nd) are numbers, grouped by three.
        Assert.Equal(["😀abc"], Pieces(regex, "😀abc"));
        Assert.Equal(["𝐀𝐁𝐂", " 𠀀𠀁"], Pieces(regex, "𝐀𝐁𝐂 𠀀𠀁"));
        Assert.Equal(["𝟎𝟏𝟐", "𝟑"], Pieces(regex, "𝟎𝟏𝟐𝟑"));
        Assert.Equal(["I", "'M", " ok"], Pieces(regex, "I'M ok"));
        // Oniguruma's case folding makes ſ (long s) an s: "'ſ" is a contraction, as "'s" and "'S" are.
        Assert.Equal(["it", "'ſ"], Pieces(regex, "it'ſ"));
    }

    [Fact]
    public void Whitespace_class_is_unicode_white_space()
    {
        var regex = HfRegex.FromOniguruma(Llama3Pattern);
        // U+0085 and U+00A0 are \s (White_Space); U+200B and U+FEFF are not (they are format characters, Cf).
        Assert.Equal(["x", "\u0085", "\u0085y"], Pieces(regex, "x\u0085\u0085y"));
        Assert.Equal(["a", "\u00A0", "\u00A0b"], Pieces(regex, "a\u00A0\u00A0b"));
        Assert.Equal(["a", "\uFEFF\uFEFF", "b"], Pieces(regex, "a\uFEFF\uFEFFb"));
        Assert.Equal(["Zero", "\u200Bwidth"], Pieces(regex, "Zero\u200Bwidth"));
    }

    [Fact]
    public void Caret_and_dollar_are_line_anchors_as_in_Oniguruma()
    {
        Assert.Equal(["a", "b"], Pieces(HfRegex.FromOniguruma("^[a-z]"), "a1\nb2"));
        Assert.Equal(["1", "2"], Pieces(HfRegex.FromOniguruma("[0-9]$"), "a1\nb2"));
    }

    // Expected values from Python 3.11 unicodedata.normalize: input, NFC, NFD, NFKC, NFKD.
    public static TheoryData<string, string, string, string, string> NormalizationCases => new()
    {
        { "e\u0301", "\u00E9", "e\u0301", "\u00E9", "e\u0301" },
        { "\uFB01", "\uFB01", "\uFB01", "fi", "fi" },
        { "\u1100\u1161\u11A8", "\uAC01", "\u1100\u1161\u11A8", "\uAC01", "\u1100\u1161\u11A8" },
        { "\uAC01", "\uAC01", "\u1100\u1161\u11A8", "\uAC01", "\u1100\u1161\u11A8" },
        { "a\u0301\u0323", "\u1EA1\u0301", "a\u0323\u0301", "\u1EA1\u0301", "a\u0323\u0301" },
        { "\u212B", "\u00C5", "A\u030A", "\u00C5", "A\u030A" },
        { "\u1E9B\u0323", "\u1E9B\u0323", "\u017F\u0323\u0307", "\u1E69", "s\u0323\u0307" },
        { "A\u030A\u0301", "\u01FA", "A\u030A\u0301", "\u01FA", "A\u030A\u0301" },
        { "\u00C5\u0327", "\u00C5\u0327", "A\u0327\u030A", "\u00C5\u0327", "A\u0327\u030A" },
        { "\u0931\u093C", "\u0931\u093C", "\u0930\u093C\u093C", "\u0931\u093C", "\u0930\u093C\u093C" },
        { "\u0F73", "\u0F71\u0F72", "\u0F71\u0F72", "\u0F71\u0F72", "\u0F71\u0F72" },
        { "\u2460\u00BD x\u00B2", "\u2460\u00BD x\u00B2", "\u2460\u00BD x\u00B2", "11\u20442 x2", "11\u20442 x2" },
        { "\u0958", "\u0915\u093C", "\u0915\u093C", "\u0915\u093C", "\u0915\u093C" },
        { "\u00A0", "\u00A0", "\u00A0", " ", " " },
        { "\U0001D400\u0301", "\U0001D400\u0301", "\U0001D400\u0301", "\u00C1", "A\u0301" },
        { "\u0344", "\u0308\u0301", "\u0308\u0301", "\u0308\u0301", "\u0308\u0301" },
        { "Cafe\u0301 \u1112\u1161\u11AB\u1100\u1173\u11AF", "Caf\u00E9 \uD55C\uAE00", "Cafe\u0301 \u1112\u1161\u11AB\u1100\u1173\u11AF", "Caf\u00E9 \uD55C\uAE00", "Cafe\u0301 \u1112\u1161\u11AB\u1100\u1173\u11AF" },
        { "\u0301abc", "\u0301abc", "\u0301abc", "\u0301abc", "\u0301abc" },
        { "\u0627\u0653 \u05D1\u05BC\u05BF", "\u0622 \u05D1\u05BC\u05BF", "\u0627\u0653 \u05D1\u05BC\u05BF", "\u0622 \u05D1\u05BC\u05BF", "\u0627\u0653 \u05D1\u05BC\u05BF" },
    };

    [Theory]
    [MemberData(nameof(NormalizationCases))]
    public void Unicode_normalization_forms(string input, string nfc, string nfd, string nfkc, string nfkd)
    {
        Assert.Equal(nfc, UnicodeNormalizer.Normalize(input, NormalizationForm.FormC));
        Assert.Equal(nfd, UnicodeNormalizer.Normalize(input, NormalizationForm.FormD));
        Assert.Equal(nfkc, UnicodeNormalizer.Normalize(input, NormalizationForm.FormKC));
        Assert.Equal(nfkd, UnicodeNormalizer.Normalize(input, NormalizationForm.FormKD));
    }

    [Fact]
    public void Incremental_utf8_decoder_matches_dotnet_on_random_bytes()
    {
        var rng = new Random(1234);
        byte[] interesting = [0x41, 0x80, 0xBF, 0xC2, 0xC3, 0xA9, 0xE0, 0xA0, 0xE2, 0x82, 0xAC, 0xED, 0x9F, 0xA0, 0xF0, 0x90, 0x9F, 0x98, 0xF4, 0x8F, 0xF5, 0xFF, 0xC0];
        for (int trial = 0; trial < 2000; trial++)
        {
            var bytes = new byte[rng.Next(0, 12)];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = interesting[rng.Next(interesting.Length)];
            var sb = new StringBuilder();
            var utf8 = new Utf8Lossy();
            foreach (byte b in bytes) utf8.Push(b, sb);
            utf8.Finish(sb);
            Assert.Equal(Encoding.UTF8.GetString(bytes), sb.ToString());
        }
    }

    private static List<string> Split(string text, SplitBehavior behavior, bool invert = false)
    {
        var output = new List<Piece>();
        new SplitPreTokenizer(HfRegex.FromLiteral("-"), behavior, invert).PreTokenize(new Piece(text, true), output);
        return output.Select(p => p.Text).ToList();
    }

    [Fact]
    public void Split_behaviors_follow_the_HF_documentation_example()
    {
        const string text = "the-final--countdown";
        Assert.Equal(["the", "final", "countdown"], Split(text, SplitBehavior.Removed));
        Assert.Equal(["the", "-", "final", "-", "-", "countdown"], Split(text, SplitBehavior.Isolated));
        Assert.Equal(["the-", "final-", "-", "countdown"], Split(text, SplitBehavior.MergedWithPrevious));
        Assert.Equal(["the", "-final", "-", "-countdown"], Split(text, SplitBehavior.MergedWithNext));
        Assert.Equal(["the", "-", "final", "--", "countdown"], Split(text, SplitBehavior.Contiguous));
        Assert.Equal(["-", "-", "-"], Split(text, SplitBehavior.Removed, invert: true));
    }

    [Fact]
    public void Metaspace_prepends_per_scheme_and_splits_before_each_replacement()
    {
        static List<string> Run(PrependScheme scheme, bool atStart)
        {
            var output = new List<Piece>();
            new MetaspacePreTokenizer('\u2581', scheme, split: true).PreTokenize(new Piece("Hey friend", atStart), output);
            return output.Select(p => p.Text).ToList();
        }
        Assert.Equal(["\u2581Hey", "\u2581friend"], Run(PrependScheme.Always, atStart: false));
        Assert.Equal(["\u2581Hey", "\u2581friend"], Run(PrependScheme.First, atStart: true));
        Assert.Equal(["Hey", "\u2581friend"], Run(PrependScheme.First, atStart: false));
        Assert.Equal(["Hey", "\u2581friend"], Run(PrependScheme.Never, atStart: true));
    }

    [Fact]
    public void Digits_isolates_or_groups_numbers()
    {
        static List<string> Run(bool individual)
        {
            var output = new List<Piece>();
            new DigitsPreTokenizer(individual).PreTokenize(new Piece("ab123c٤5", true), output);
            return output.Select(p => p.Text).ToList();
        }
        Assert.Equal(["ab", "1", "2", "3", "c", "٤", "5"], Run(true));
        Assert.Equal(["ab", "123", "c", "٤5"], Run(false));
    }

    [Fact]
    public void Lowercase_maps_dotted_capital_I_to_two_characters_like_Rust()
    {
        Assert.Equal("i\u0307stanbul ǆ σσ", new LowercaseNormalizer().Normalize("\u0130STANBUL ǅ ΣΣ"));
    }

    [Fact]
    public void Byte_level_table_is_gpt2s()
    {
        Assert.Equal('\u0120', ByteLevel.ByteToChar[' ']);
        Assert.Equal('\u010A', ByteLevel.ByteToChar['\n']);
        Assert.Equal('!', ByteLevel.ByteToChar['!']);
        Assert.Equal('\u0100', ByteLevel.ByteToChar[0]);
        Assert.Equal('\u0143', ByteLevel.ByteToChar[0xAD]);
        Assert.Equal(256, ByteLevel.ByteToChar.Distinct().Count());
        Assert.Equal("HelloĠworldĊÃ©", ByteLevel.Encode("Hello world\né"));
    }
}
