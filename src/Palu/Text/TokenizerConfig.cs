using System.Text.Json;
using Palu.IO;

namespace Palu.Text;

/// <summary>
/// The parts of transformers' tokenizer_config.json (and, as a fallback, config.json) that matter here: the BOS/EOS
/// token names (a string, or an object with "content") and the Llama-style add_bos_token / add_eos_token switches.
/// </summary>
internal sealed record TokenizerConfig(string? BosToken, string? EosToken, bool? AddBosToken, bool? AddEosToken,
    int? ConfigBosId, IReadOnlyList<int> ConfigEosIds, bool BosTokenGiven)
{
    public static readonly TokenizerConfig Empty = new(null, null, null, null, null, [], false);

    public static TokenizerConfig Read(string? tokenizerConfigPath, string? modelConfigPath)
    {
        string? bos = null, eos = null;
        bool? addBos = null, addEos = null;
        bool bosGiven = false; // "bos_token": null says "no BOS"; only a missing key falls back to config.json
        if (tokenizerConfigPath is not null)
        {
            using var doc = Parse(tokenizerConfigPath);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(tokenizerConfigPath, "top level is not a JSON object");
            bos = TokenName(root, "bos_token", tokenizerConfigPath);
            bosGiven = root.TryGetProperty("bos_token", out _);
            eos = TokenName(root, "eos_token", tokenizerConfigPath);
            addBos = OptionalBool(root, "add_bos_token");
            addEos = OptionalBool(root, "add_eos_token");
        }

        int? configBos = null;
        var configEos = new List<int>();
        if (modelConfigPath is not null && File.Exists(modelConfigPath))
        {
            using var doc = Parse(modelConfigPath);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("bos_token_id", out var b) && b.TryGetInt32(out int bosId)) configBos = bosId;
                if (root.TryGetProperty("eos_token_id", out var e))
                {
                    if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int one)) configEos.Add(one);
                    else if (e.ValueKind == JsonValueKind.Array)
                        foreach (var x in e.EnumerateArray())
                            if (x.TryGetInt32(out int id)) configEos.Add(id);
                }
            }
        }
        return new TokenizerConfig(bos, eos, addBos, addEos, configBos, configEos, bosGiven);
    }

    private static JsonDocument Parse(string path)
    {
        try { return JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new ModelFormatException(path, $"is not valid JSON ({e.Message})", e); }
        catch (IOException e) { throw new ModelFormatException(path, $"cannot be read ({e.Message})", e); }
    }

    private static string? TokenName(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new ModelFormatException(path, $"\"{name}\" must be a string or an object with \"content\""),
        };
    }

    private static bool? OptionalBool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
}
