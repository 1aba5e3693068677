using System.Text.Json;
using Palu.Text;

namespace Palu.Tests.Text;

/// <summary>Writes small hand-made tokenizer.json files for component tests.</summary>
internal static class SyntheticTokenizer
{
    private static readonly string Dir = Path.Combine(Path.GetTempPath(), "palu-text-tests-" + Environment.ProcessId);

    /// <summary>Writes <paramref name="json"/> to a fresh file and returns its path.</summary>
    public static string Write(string json, string name = "tokenizer.json")
    {
        string dir = Path.Combine(Dir, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, json);
        return path;
    }

    /// <summary>
    /// A BPE tokenizer.json. <paramref name="vocab"/> tokens get ids 0.. in order; merges are "a b" strings;
    /// the other components are raw JSON (or null).
    /// </summary>
    public static string Json(IEnumerable<string> vocab, IEnumerable<string>? merges = null, string normalizer = "null",
        string preTokenizer = "null", string postProcessor = "null", string decoder = "null", string addedTokens = "[]",
        string modelExtra = "")
    {
        var v = vocab.Select((t, i) => $"{JsonSerializer.Serialize(t)}: {i}");
        var m = (merges ?? []).Select(x => JsonSerializer.Serialize(x));
        return $$"""
            {"version": "1.0", "truncation": null, "padding": null, "added_tokens": {{addedTokens}},
             "normalizer": {{normalizer}}, "pre_tokenizer": {{preTokenizer}}, "post_processor": {{postProcessor}},
             "decoder": {{decoder}},
             "model": {"type": "BPE", "dropout": null {{modelExtra}},
                       "vocab": { {{string.Join(", ", v)}} }, "merges": [ {{string.Join(", ", m)}} ] } }
            """;
    }

    public static Tokenizer Load(string json) => Tokenizer.FromFile(Write(json));
}
