using System.Text;
using System.Text.Json;
using Palu.IO;

namespace Palu.Text;

/// <summary>The components read from a tokenizer.json.</summary>
internal sealed record TokenizerParts(
    BpeModel Model,
    IReadOnlyList<AddedToken> AddedTokens,
    INormalizer? Normalizer,
    IPreTokenizer? PreTokenizer,
    PostProcessor PostProcessor,
    Decoder? Decoder,
    string Kind);

/// <summary>
/// Interprets HF tokenizer.json (the <c>tokenizers</c> library's serialization). Anything we do not implement is
/// rejected with a <see cref="ModelFormatException"/> naming the file and the field, never silently ignored.
/// </summary>
internal sealed partial class TokenizerJsonReader(string path)
{
    private bool _byteLevel, _metaspace;

    public static TokenizerParts Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(path, $"cannot read the tokenizer file ({e.Message}); the model directory " +
                "needs the Hugging Face tokenizer.json saved with the checkpoint", e);
        }
        var self = new TokenizerJsonReader(path);
        Dictionary<string, JsonElement> sections;
        RawModel? model;
        try { (sections, model) = self.ReadTopLevel(bytes); }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"is not valid JSON ({e.Message}); the file is damaged or truncated: " +
                "copy tokenizer.json from the original checkpoint again", e);
        }
        return self.ReadRoot(sections, model);
    }

    // The model's vocab and merges (hundreds of thousands of entries) are read straight from the bytes with
    // Utf8JsonReader; every other section is small and becomes a JsonElement.
    private (Dictionary<string, JsonElement>, RawModel?) ReadTopLevel(byte[] bytes)
    {
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 128 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw Fail("top level is not a JSON object; expected a tokenizer.json");
        var sections = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        RawModel? model = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            reader.Read();
            if (name == "model" && reader.TokenType == JsonTokenType.StartObject) model = ReadRawModel(ref reader);
            else sections[name] = JsonElement.ParseValue(ref reader);
        }
        return (sections, model);
    }

    private ModelFormatException Fail(string problem) => new(path, problem);

    private TokenizerParts ReadRoot(Dictionary<string, JsonElement> sections, RawModel? rawModel)
    {
        if (rawModel is null) throw Fail("has no \"model\" object; expected a Hugging Face tokenizers file (tokenizer.json)");
        JsonElement? Section(string name) =>
            sections.TryGetValue(name, out var el) && el.ValueKind != JsonValueKind.Null ? el : null;

        var model = ReadModel(rawModel);
        var added = Section("added_tokens") is { } a ? ReadAddedTokens(a) : [];
        var normalizer = Section("normalizer") is { } n ? ReadNormalizer(n, "normalizer") : null;
        var pre = Section("pre_tokenizer") is { } p ? ReadPreTokenizer(p, "pre_tokenizer") : null;
        var post = Section("post_processor") is { } pp ? ReadPostProcessor(pp, "post_processor") : PostProcessor.None;
        var decoder = Section("decoder") is { } d ? ReadDecoder(d, "decoder") : null;

        string kind = _byteLevel ? "byte-level BPE"
            : model.ByteFallback ? "SentencePiece BPE (byte fallback)"
            : _metaspace ? "SentencePiece BPE"
            : "BPE";
        return new TokenizerParts(model, added, normalizer, pre, post, decoder, kind);
    }

    private static JsonElement? Optional(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var el) && el.ValueKind != JsonValueKind.Null ? el : null;

    private string TypeOf(JsonElement el, string where)
    {
        if (el.ValueKind != JsonValueKind.Object) throw Fail($"{where} is not a JSON object");
        if (el.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String) return t.GetString()!;
        throw Fail($"{where} has no \"type\"");
    }

    private string? Str(JsonElement obj, string name) =>
        Optional(obj, name) is { } v ? (v.ValueKind == JsonValueKind.String ? v.GetString() : throw Fail($"\"{name}\" is not a string")) : null;

    private bool Bool(JsonElement obj, string name, bool fallback) =>
        Optional(obj, name) is { } v ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail($"\"{name}\" is not true/false"),
        } : fallback;

    private JsonElement Required(JsonElement obj, string name, string where) =>
        Optional(obj, name) ?? throw Fail($"{where} has no \"{name}\"");

    // A Sequence's components: each element of the array el[key], read with its place ("where.key[i]") for errors.
    private List<T> ReadEach<T>(JsonElement el, string key, string where, Func<JsonElement, string, T> read)
    {
        var list = new List<T>();
        int i = 0;
        foreach (var item in Required(el, key, where).EnumerateArray())
            list.Add(read(item, $"{where}.{key}[{i++}]"));
        return list;
    }

    private List<AddedToken> ReadAddedTokens(JsonElement arr)
    {
        var result = new List<AddedToken>();
        if (arr.ValueKind != JsonValueKind.Array) throw Fail("added_tokens is not an array");
        int i = 0;
        foreach (var t in arr.EnumerateArray())
        {
            string where = $"added_tokens[{i++}]";
            if (t.ValueKind != JsonValueKind.Object) throw Fail($"{where} is not an object");
            if (!Required(t, "id", where).TryGetInt32(out int id) || id < 0) throw Fail($"{where}.id is not a non-negative integer");
            string content = Str(t, "content") ?? throw Fail($"{where} has no \"content\"");
            bool special = Bool(t, "special", false);
            result.Add(new AddedToken(id, content, Bool(t, "single_word", false), Bool(t, "lstrip", false),
                Bool(t, "rstrip", false), Bool(t, "normalized", !special), special));
        }
        return result;
    }

    // ---- regex patterns ({"String": …} or {"Regex": …}) ----

    private HfRegex ReadPattern(JsonElement owner, string where)
    {
        var p = Required(owner, "pattern", where);
        try
        {
            if (p.ValueKind == JsonValueKind.Object && p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
                return HfRegex.FromLiteral(s.GetString()!);
            if (p.ValueKind == JsonValueKind.Object && p.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
                return HfRegex.FromOniguruma(r.GetString()!);
        }
        catch (ArgumentException e)
        {
            throw Fail($"{where}.pattern {p.GetRawText()} cannot be translated to a .NET regex: {e.Message}");
        }
        throw Fail($"{where}.pattern must be {{\"String\": …}} or {{\"Regex\": …}}, found {p.GetRawText()}");
    }

    // ---- normalizer ----

    private INormalizer ReadNormalizer(JsonElement el, string where)
    {
        string type = TypeOf(el, where);
        switch (type)
        {
            case "Sequence":
                return new SequenceNormalizer(ReadEach(el, "normalizers", where, ReadNormalizer));
            case "Prepend":
                string prepend = Str(el, "prepend") ?? throw Fail($"{where} (Prepend) has no \"prepend\"");
                if (prepend.Contains('\u2581')) _metaspace = true;
                return new PrependNormalizer(prepend);
            case "Replace":
                return new ReplaceNormalizer(ReadPattern(el, where), Str(el, "content") ?? "");
            case "NFC": return new UnicodeFormNormalizer(NormalizationForm.FormC);
            case "NFD": return new UnicodeFormNormalizer(NormalizationForm.FormD);
            case "NFKC": return new UnicodeFormNormalizer(NormalizationForm.FormKC);
            case "NFKD": return new UnicodeFormNormalizer(NormalizationForm.FormKD);
            case "Lowercase": return new LowercaseNormalizer();
            case "Strip": return new StripNormalizer(Bool(el, "strip_left", true), Bool(el, "strip_right", true));
            case "StripAccents": return new StripAccentsNormalizer();
            case "ByteLevel":
                _byteLevel = true;
                return new ByteLevelNormalizer();
            default:
                throw Fail($"{where}.type \"{type}\" is not supported (supported normalizers: Sequence, Prepend, Replace, " +
                    "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, ByteLevel)");
        }
    }

    // ---- pre-tokenizer ----

    private IPreTokenizer ReadPreTokenizer(JsonElement el, string where)
    {
        string type = TypeOf(el, where);
        switch (type)
        {
            case "Sequence":
                return new SequencePreTokenizer(ReadEach(el, "pretokenizers", where, ReadPreTokenizer));
            case "ByteLevel":
                _byteLevel = true;
                return new ByteLevelPreTokenizer(Bool(el, "add_prefix_space", true), Bool(el, "use_regex", true));
            case "Split":
            {
                var regex = ReadPattern(el, where);
                string behavior = Str(el, "behavior") ?? throw Fail($"{where} (Split) has no \"behavior\"");
                if (!Enum.TryParse<SplitBehavior>(behavior, out var b))
                    throw Fail($"{where}.behavior \"{behavior}\" is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
                return new SplitPreTokenizer(regex, b, Bool(el, "invert", false));
            }
            case "Metaspace":
                _metaspace = true;
                return new MetaspacePreTokenizer(ReadReplacementChar(el, where), ReadPrependScheme(el, where), Bool(el, "split", true));
            case "Digits":
                return new DigitsPreTokenizer(Bool(el, "individual_digits", false));
            default:
                throw Fail($"{where}.type \"{type}\" is not supported (supported pre-tokenizers: Sequence, ByteLevel, " +
                    "Split, Metaspace, Digits)");
        }
    }

    private char ReadReplacementChar(JsonElement el, string where)
    {
        string r = Str(el, "replacement") ?? "\u2581";
        if (r.Length != 1) throw Fail($"{where}.replacement \"{r}\" must be a single character");
        return r[0];
    }

    private PrependScheme ReadPrependScheme(JsonElement el, string where)
    {
        if (Str(el, "prepend_scheme") is { } s)
        {
            var scheme = s switch
            {
                "always" => PrependScheme.Always,
                "first" => PrependScheme.First,
                "never" => PrependScheme.Never,
                _ => throw Fail($"{where}.prepend_scheme \"{s}\" is not always, first or never"),
            };
            return Bool(el, "add_prefix_space", true) ? scheme : PrependScheme.Never;
        }
        return Bool(el, "add_prefix_space", true) ? PrependScheme.Always : PrependScheme.Never;
    }

    // ---- post-processor ----

    private PostProcessor ReadPostProcessor(JsonElement el, string where)
    {
        string type = TypeOf(el, where);
        switch (type)
        {
            case "ByteLevel":
                return PostProcessor.None; // only trims offsets
            case "Sequence":
                return ReadEach(el, "processors", where, ReadPostProcessor).Aggregate(PostProcessor.None, PostProcessor.Compose);
            case "TemplateProcessing":
                return ReadTemplate(el, where);
            case "RobertaProcessing" or "BertProcessing":
                return new PostProcessor([ReadSpecialPair(el, "cls", where)], [ReadSpecialPair(el, "sep", where)]);
            default:
                throw Fail($"{where}.type \"{type}\" is not supported (supported post-processors: TemplateProcessing, " +
                    "ByteLevel, Sequence, RobertaProcessing, BertProcessing)");
        }
    }

    private PostProcessor ReadTemplate(JsonElement el, string where)
    {
        var single = Required(el, "single", where);
        if (single.ValueKind != JsonValueKind.Array) throw Fail($"{where}.single is not a list of template pieces");
        var specials = Optional(el, "special_tokens");
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        foreach (var piece in single.EnumerateArray())
        {
            if (piece.TryGetProperty("Sequence", out _))
            {
                seenSequence = true;
                continue;
            }
            if (!piece.TryGetProperty("SpecialToken", out var st) || Str(st, "id") is not { } name)
                throw Fail($"{where}.single has a piece that is neither Sequence nor SpecialToken: {piece.GetRawText()}");
            if (specials is not { } sp || !sp.TryGetProperty(name, out var entry) || Optional(entry, "ids") is not { } ids)
                throw Fail($"{where}: special token \"{name}\" used in the template is missing from special_tokens");
            foreach (var id in ids.EnumerateArray()) (seenSequence ? suffix : prefix).Add(id.GetInt32());
        }
        return new PostProcessor(prefix.ToArray(), suffix.ToArray());
    }

    private int ReadSpecialPair(JsonElement el, string name, string where)
    {
        var pair = Required(el, name, where);
        if (pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2 && pair[1].TryGetInt32(out int id)) return id;
        throw Fail($"{where}.{name} is not [token, id]");
    }

    // ---- decoder ----

    private Decoder ReadDecoder(JsonElement el, string where)
    {
        string type = TypeOf(el, where);
        switch (type)
        {
            case "Sequence":
                return new SequenceDecoder(ReadEach(el, "decoders", where, ReadDecoder));
            case "ByteLevel":
                _byteLevel = true;
                return new ByteLevelDecoder();
            case "Replace":
            {
                var regex = ReadPattern(el, where);
                if (regex.Literal?.Contains('\u2581') == true) _metaspace = true;
                return new ReplaceDecoder(regex, Str(el, "content") ?? "");
            }
            case "ByteFallback": return new ByteFallbackDecoder();
            case "Fuse": return new FuseDecoder();
            case "Strip":
            {
                string content = Str(el, "content") ?? " ";
                if (content.Length != 1) throw Fail($"{where}.content \"{content}\" must be a single character");
                int start = Required(el, "start", where).GetInt32(), stop = Required(el, "stop", where).GetInt32();
                if (start < 0 || stop < 0) throw Fail($"{where}: start and stop must be ≥ 0");
                return new StripDecoder(content[0], start, stop);
            }
            case "Metaspace":
                _metaspace = true;
                return new MetaspaceDecoder(ReadReplacementChar(el, where), ReadPrependScheme(el, where));
            default:
                throw Fail($"{where}.type \"{type}\" is not supported (supported decoders: Sequence, ByteLevel, Replace, " +
                    "ByteFallback, Fuse, Strip, Metaspace)");
        }
    }
}
