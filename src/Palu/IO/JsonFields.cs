using System.Text.Json;

namespace Palu.IO;

/// <summary>
/// Optional fields of a JSON object such as config.json: the value when the field is present with the expected kind,
/// else null (a missing field, JSON null and a value of another kind all read as absent).
/// </summary>
internal static class JsonFields
{
    /// <summary>Reads and parses a JSON file; a damaged or unreadable file becomes a <see cref="ModelFormatException"/>.</summary>
    public static JsonDocument ParseFile(string path)
    {
        try { return JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new ModelFormatException(path, $"is not valid JSON ({e.Message})", e); }
        catch (ArgumentException e) { throw new ModelFormatException(path, $"is not valid UTF-8 JSON ({e.Message})", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ModelFormatException(path, $"cannot be read ({e.Message})", e); }
    }

    /// <summary>An integer field; a number that is not an integer in [-2^31, 2^31) throws a FormatException naming the field.</summary>
    public static int? Int(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? AsInt(v, name) : null;

    static int AsInt(JsonElement v, string name) => v.TryGetInt32(out int i) ? i
        : throw new FormatException($"field '{name}' = {v.GetRawText()} is not an integer (or out of range)");

    public static double? Num(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    public static bool? Bool(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    public static string? Str(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A field holding one integer or a list of integers (config.json's eos_token_id); empty when absent.</summary>
    public static List<int> IntOrInts(JsonElement obj, string name)
    {
        var ids = new List<int>();
        if (obj.TryGetProperty(name, out var v))
        {
            if (v.ValueKind == JsonValueKind.Number) ids.Add(AsInt(v, name));
            else if (v.ValueKind == JsonValueKind.Array)
                foreach (var x in v.EnumerateArray())
                    ids.Add(x.ValueKind == JsonValueKind.Number ? AsInt(x, name) : throw new FormatException($"field '{name}' holds {x.GetRawText()}, not an integer"));
        }
        return ids;
    }
}
