using System.Text.Json;
using Palu.IO;

namespace Palu.Text;

/// <summary>The "model" section of tokenizer.json: read with Utf8JsonReader, since it holds the whole vocabulary and
/// merge list (151k and 280k entries for Qwen3 and Llama 3), then turned into a <see cref="BpeModel"/>.</summary>
internal sealed partial class TokenizerJsonReader
{
    /// <summary>The "model" object as read by the streaming reader: vocab and merges, plus its other fields.</summary>
    private sealed record RawModel(Dictionary<string, int>? Vocab, List<(int, int)>? Merges, Dictionary<string, JsonElement> Fields);

    // Merges are resolved to vocab ids while reading (no string per merge); merges that come before the vocab in the
    // file (HF never writes them so) are kept as strings and resolved at the end.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private RawModel ReadRawModel(ref Utf8JsonReader reader)
    {
        Dictionary<string, int>? vocab = null;
        List<(int, int)>? merges = null;
        List<(string, string)>? earlyMerges = null;
        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        char[] chars = new char[256];
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                reader.Read();
                if (name == "vocab" && reader.TokenType == JsonTokenType.StartObject)
                {
                    vocab = new Dictionary<string, int>(1024, StringComparer.Ordinal);
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        string token = reader.GetString()!;
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id) || id < 0)
                            throw Fail($"model.vocab[\"{token}\"] is not a non-negative integer id");
                        vocab[token] = id;
                    }
                }
                else if (name == "merges" && reader.TokenType == JsonTokenType.StartArray)
                {
                    merges = new List<(int, int)>(1024);
                    if (vocab is null) earlyMerges = new List<(string, string)>();
                    var lookup = vocab?.GetAlternateLookup<ReadOnlySpan<char>>();
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        int rank = merges.Count + (earlyMerges?.Count ?? 0);
                        ReadOnlySpan<char> left, right;
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            int lineLength = ReadChars(ref reader, ref chars, 0); // (may replace chars: read it after)
                            ReadOnlySpan<char> line = chars.AsSpan(0, lineLength);
                            if (rank == 0 && line.StartsWith("#version", StringComparison.Ordinal)) continue;
                            int space = line.IndexOf(' ');
                            if (space < 0 || line[(space + 1)..].Contains(' '))
                                throw Fail($"model.merges[{rank}] \"{line}\" is not two tokens separated by one space");
                            left = line[..space];
                            right = line[(space + 1)..];
                        }
                        else if (reader.TokenType == JsonTokenType.StartArray && reader.Read() && reader.TokenType == JsonTokenType.String)
                        {
                            int leftLength = ReadChars(ref reader, ref chars, 0);
                            if (!reader.Read() || reader.TokenType != JsonTokenType.String) throw Fail($"model.merges[{rank}] is not [\"a\", \"b\"]");
                            int rightLength = ReadChars(ref reader, ref chars, leftLength);
                            if (!reader.Read() || reader.TokenType != JsonTokenType.EndArray) throw Fail($"model.merges[{rank}] is not [\"a\", \"b\"]");
                            left = chars.AsSpan(0, leftLength);
                            right = chars.AsSpan(leftLength, rightLength);
                        }
                        else throw Fail($"model.merges[{rank}] is neither \"a b\" nor [\"a\", \"b\"]");

                        if (lookup is { } l) merges.Add(BpeModel.MergeIds(l, left, right, rank));
                        else earlyMerges!.Add((left.ToString(), right.ToString()));
                    }
                }
                else fields[name] = JsonElement.ParseValue(ref reader);
            }
            if (earlyMerges is not null && vocab is not null)
            {
                var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
                for (int i = 0; i < earlyMerges.Count; i++) merges!.Add(BpeModel.MergeIds(lookup, earlyMerges[i].Item1, earlyMerges[i].Item2, i));
            }
        }
        catch (FormatException e)
        {
            throw VocabMismatch(e);
        }
        return new RawModel(vocab, merges, fields);
    }

    private ModelFormatException VocabMismatch(FormatException e) =>
        Fail($"model: {e.Message}; the vocab and merges do not belong together");

    // Copies the current string value, unescaped, into chars[offset..] (grown as needed); returns its length.
    private static int ReadChars(ref Utf8JsonReader reader, ref char[] chars, int offset)
    {
        int max = reader.ValueSpan.Length; // unescaped UTF-16 length ≤ UTF-8 byte length
        if (chars.Length < offset + max) Array.Resize(ref chars, Math.Max(chars.Length * 2, offset + max));
        return reader.CopyString(chars.AsSpan(offset));
    }

    private BpeModel ReadModel(RawModel raw)
    {
        var f = raw.Fields;
        string type = f.TryGetValue("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()!
            : raw.Merges is not null ? "BPE" : "(no type)";
        if (type != "BPE")
            throw Fail($"model.type \"{type}\" is not supported: Palu.Text implements BPE tokenizers only " +
                "(Llama, Mistral, Qwen, GPT-2 families); WordPiece, Unigram and WordLevel models cannot be loaded");
        if (f.TryGetValue("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw Fail("model.dropout is set: BPE dropout is for training; save the tokenizer with dropout null");
        if (raw.Vocab is null) throw Fail("model has no \"vocab\" object of token → id");

        string? Text(string name) => f.TryGetValue(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? (v.ValueKind == JsonValueKind.String ? v.GetString() : throw Fail($"model.{name} is not a string")) : null;
        bool Flag(string name) => f.TryGetValue(name, out var v) && v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw Fail($"model.{name} is not true/false"),
        };
        try
        {
            return new BpeModel(raw.Vocab, raw.Merges ?? [], Text("unk_token"), Text("continuing_subword_prefix"),
                Text("end_of_word_suffix"), Flag("fuse_unk"), Flag("byte_fallback"), Flag("ignore_merges"));
        }
        catch (FormatException e)
        {
            throw VocabMismatch(e);
        }
    }
}
