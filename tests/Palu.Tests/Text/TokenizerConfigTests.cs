using Palu.Text;

namespace Palu.Tests.Text;

/// <summary>BOS/EOS from tokenizer_config.json, with config.json as the fallback in FromDirectory.</summary>
public class TokenizerConfigTests
{
    private static string ModelDir(string? tokenizerConfig, string? modelConfig)
    {
        string json = SyntheticTokenizer.Json(["<s>", "</s>", "<|end|>", "a"], [],
            addedTokens: """[{"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]""");
        string dir = Path.GetDirectoryName(SyntheticTokenizer.Write(json))!;
        if (tokenizerConfig is not null) File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig);
        if (modelConfig is not null) File.WriteAllText(Path.Combine(dir, "config.json"), modelConfig);
        return dir;
    }

    [Fact]
    public void Tokenizer_config_names_win_and_config_json_eos_ids_are_appended()
    {
        var tok = Tokenizer.FromDirectory(ModelDir("""{"bos_token": "<s>", "eos_token": {"content": "</s>"}}""",
            """{"bos_token_id": 3, "eos_token_id": [1, 2]}"""));
        Assert.Equal(0, tok.BosTokenId);
        Assert.Equal([1, 2], tok.EosTokenIds);
    }

    [Fact]
    public void Config_json_supplies_bos_when_tokenizer_config_lacks_the_key()
    {
        var tok = Tokenizer.FromDirectory(ModelDir("""{"eos_token": "<|end|>"}""", """{"bos_token_id": 0, "eos_token_id": 1}"""));
        Assert.Equal(0, tok.BosTokenId);
        Assert.Equal([2, 1], tok.EosTokenIds);
        var noConfig = Tokenizer.FromDirectory(ModelDir(null, """{"bos_token_id": 0, "eos_token_id": 2}"""));
        Assert.Equal(0, noConfig.BosTokenId);
        Assert.Equal([2], noConfig.EosTokenIds);
    }

    [Fact]
    public void Explicit_null_bos_token_means_no_bos()
    {
        var tok = Tokenizer.FromDirectory(ModelDir("""{"bos_token": null, "eos_token": "</s>"}""", """{"bos_token_id": 0}"""));
        Assert.Null(tok.BosTokenId);
        Assert.Equal([1], tok.EosTokenIds);
    }

    [Fact]
    public void Null_bos_token_id_in_config_json_loads_as_no_bos()
    {
        var tok = Tokenizer.FromDirectory(ModelDir(null, """{"bos_token_id": null, "eos_token_id": 1}"""));
        Assert.Null(tok.BosTokenId);
        Assert.Equal([1], tok.EosTokenIds);
    }

    [Fact]
    public void Add_bos_token_true_prepends_bos_without_a_template()
    {
        var tok = Tokenizer.FromDirectory(ModelDir("""{"bos_token": "<s>", "add_bos_token": true}""", null));
        Assert.Equal([3], tok.Encode("a"));
        Assert.Equal([0, 3], tok.Encode("a", addSpecialTokens: true));
    }
}
