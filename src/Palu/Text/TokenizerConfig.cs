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
    public static TokenizerConfig Read(string? tokenizerConfigPath, string? modelConfigPath)
    {
        string? bos = null, eos = null;
        bool? addBos = null, addEos = null;
        bool bosGiven = false; // "bos_token": null says "no BOS"; only a missing key falls back to config.json
        if (tokenizerConfigPath is not null)
        {
            using var doc = JsonFields.ParseFile(tokenizerConfigPath);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(tokenizerConfigPath, "top level is not a JSON object");
            bos = TokenName(root, "bos_token", tokenizerConfigPath);
            bosGiven = root.TryGetProperty("bos_token", out _);
            eos = TokenName(root, "eos_token", tokenizerConfigPath);
            addBos = JsonFields.Bool(root, "add_bos_token");
            addEos = JsonFields.Bool(root, "add_eos_token");
        }

        int? configBos = null;
        List<int> configEos = [];
        if (modelConfigPath is not null && File.Exists(modelConfigPath))
        {
            using var doc = JsonFields.ParseFile(modelConfigPath);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                configBos = JsonFields.Int(root, "bos_token_id");
                configEos = JsonFields.IntOrInts(root, "eos_token_id");
            }
        }
        return new TokenizerConfig(bos, eos, addBos, addEos, configBos, configEos, bosGiven);
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
}
