using Palu.IO;
using Palu.Text;

namespace Palu.Tests.Text;

/// <summary>Broken or unsupported tokenizer files fail with a ModelFormatException naming the file and the problem.</summary>
public class ErrorTests
{
    private static ModelFormatException LoadFails(string json, params string[] expectedInMessage)
    {
        string path = SyntheticTokenizer.Write(json);
        var e = Assert.Throws<ModelFormatException>(() => Tokenizer.FromFile(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message);
        foreach (var s in expectedInMessage) Assert.Contains(s, e.Message);
        return e;
    }

    private static readonly string Valid = SyntheticTokenizer.Json(["a", "b", "ab"], ["a b"]);

    [Fact]
    public void The_synthetic_base_file_loads()
    {
        var tok = Tokenizer.FromFile(SyntheticTokenizer.Write(Valid));
        Assert.Equal([2], tok.Encode("ab"));
    }

    [Fact]
    public void Corrupt_json() => LoadFails(Valid[..(Valid.Length / 2)], "not valid JSON");

    [Fact]
    public void Not_a_tokenizer_file() => LoadFails("""{"hello": 1}""", "\"model\"");

    [Theory]
    [InlineData("WordPiece")]
    [InlineData("Unigram")]
    [InlineData("WordLevel")]
    public void Unsupported_model_type(string type) =>
        LoadFails(Valid.Replace("\"type\": \"BPE\"", $"\"type\": \"{type}\""), "model.type", $"\"{type}\"", "not supported");

    [Fact]
    public void Unsupported_pre_tokenizer() =>
        LoadFails(SyntheticTokenizer.Json(["a"], [], preTokenizer: """{"type": "Whitespace"}"""), "pre_tokenizer.type", "\"Whitespace\"");

    [Fact]
    public void Unsupported_pre_tokenizer_inside_a_sequence() =>
        LoadFails(SyntheticTokenizer.Json(["a"], [], preTokenizer: """{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "BertPreTokenizer"}]}"""),
            "pre_tokenizer.pretokenizers[1].type", "\"BertPreTokenizer\"");

    [Fact]
    public void Unsupported_normalizer() =>
        LoadFails(SyntheticTokenizer.Json(["a"], [], normalizer: """{"type": "Precompiled", "precompiled_charsmap": ""}"""), "normalizer.type", "\"Precompiled\"");

    [Fact]
    public void Unsupported_decoder() =>
        LoadFails(SyntheticTokenizer.Json(["a"], [], decoder: """{"type": "WordPiece", "prefix": "##", "cleanup": true}"""), "decoder.type", "\"WordPiece\"");

    [Fact]
    public void Unsupported_post_processor() =>
        LoadFails(SyntheticTokenizer.Json(["a"], [], postProcessor: """{"type": "Mystery"}"""), "post_processor.type", "\"Mystery\"");

    [Fact]
    public void Regex_that_cannot_be_translated() =>
        LoadFails(SyntheticTokenizer.Json(["a"], [], preTokenizer: """{"type": "Split", "pattern": {"Regex": "[a&&b]"}, "behavior": "Isolated", "invert": false}"""),
            "pre_tokenizer.pattern", "&&");

    [Fact]
    public void Merge_with_a_token_missing_from_the_vocab() =>
        LoadFails(SyntheticTokenizer.Json(["a", "b"], ["a b"]), "merge 0", "\"ab\" is not in the vocab");

    [Fact]
    public void Missing_tokenizer_json_in_a_model_directory()
    {
        string dir = Path.GetDirectoryName(SyntheticTokenizer.Write("{}", "config.json"))!;
        var e = Assert.Throws<ModelFormatException>(() => Tokenizer.FromDirectory(dir));
        Assert.Equal(Path.Combine(dir, "tokenizer.json"), e.FilePath);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Corrupt_tokenizer_config()
    {
        string config = SyntheticTokenizer.Write("{\"bos_token\": ", "tokenizer_config.json");
        var e = Assert.Throws<ModelFormatException>(() => Tokenizer.FromFile(SyntheticTokenizer.Write(Valid), config));
        Assert.Equal(config, e.FilePath);
        Assert.Contains("not valid JSON", e.Message);
    }
}
