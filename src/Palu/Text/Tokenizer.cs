using System.Text.RegularExpressions;
using Palu.IO;

namespace Palu.Text;

/// <summary>
/// A Hugging Face tokenizer (tokenizer.json) for BPE models: byte-level BPE (GPT-2, Llama 3, Qwen) and SentencePiece
/// style BPE with byte fallback (Llama 2, Mistral). Encoding follows HF <c>tokenizers</c>' pipeline:
/// added tokens are cut out of the raw text → each remaining segment is normalized → normalized added tokens are cut
/// out → pre-tokenizer splits the rest into pieces → the BPE model turns each piece into ids → with
/// addSpecialTokens the post-processor adds BOS/EOS. Decoding maps ids to token strings and runs the decoder.
/// Immutable after loading and safe to use from several threads.
/// </summary>
public sealed class Tokenizer
{
    private readonly BpeModel _model;
    private readonly INormalizer? _normalizer;
    private readonly IPreTokenizer? _preTokenizer;
    private readonly PostProcessor _postProcessor;
    private readonly Decoder? _decoder;
    private readonly AddedTokenMatcher _rawMatcher;        // added tokens with normalized: false
    private readonly AddedTokenMatcher _normalizedMatcher; // added tokens with normalized: true
    private readonly Dictionary<int, AddedToken> _addedById = new();
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);
    private readonly HashSet<string> _specialContents = new(StringComparer.Ordinal);
    private readonly string?[] _idToToken;

    /// <summary>Largest id in the model vocab or the added tokens, plus one.</summary>
    public int VocabSize { get; }

    /// <summary>tokenizer_config.json's bos_token as an id (see <see cref="FromDirectory"/> for config.json), or null.</summary>
    public int? BosTokenId { get; }

    /// <summary>tokenizer_config.json's eos_token as an id, then config.json's eos_token_id(s) not already listed.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>A short description for <c>palu inspect</c>: "byte-level BPE", "SentencePiece BPE (byte fallback)", …</summary>
    public string Kind { get; }

    private Tokenizer(TokenizerParts parts, TokenizerConfig config)
    {
        _model = parts.Model;
        _normalizer = parts.Normalizer;
        _preTokenizer = parts.PreTokenizer;
        _decoder = parts.Decoder;
        Kind = parts.Kind;

        // As HF: an added token already in the model vocab keeps the model's id (HF warns if the file says otherwise).
        var added = parts.AddedTokens.Select(t => _model.TokenToId(t.Content) is int id && id != t.Id ? t with { Id = id } : t).ToList();
        foreach (var t in added)
        {
            _addedById[t.Id] = t;
            _addedByContent[t.Content] = t.Id;
            if (t.Special) _specialContents.Add(t.Content);
        }
        _rawMatcher = new AddedTokenMatcher(added.Where(t => !t.Normalized), t => t.Content);
        _normalizedMatcher = new AddedTokenMatcher(added.Where(t => t.Normalized), NormalizedForm);

        int maxId = _model.TokensById.Length - 1;
        foreach (var id in _addedById.Keys) maxId = Math.Max(maxId, id);
        VocabSize = maxId + 1;
        _idToToken = new string?[VocabSize];
        _model.TokensById.CopyTo(_idToToken, 0);
        // HF 0.23 decodes a normalized added token by its normalized spelling (e.g. byte-level stand-ins).
        foreach (var (id, t) in _addedById) _idToToken[id] = t.Normalized ? NormalizedForm(t) : t.Content;

        BosTokenId = config.BosToken is { } bos ? TokenToId(bos) ?? config.ConfigBosId
            : config.BosTokenGiven ? null : config.ConfigBosId;
        var eos = new List<int>();
        if (config.EosToken is { } eosName && TokenToId(eosName) is int eosId) eos.Add(eosId);
        foreach (int id in config.ConfigEosIds)
            if (!eos.Contains(id)) eos.Add(id);
        EosTokenIds = eos;
        _postProcessor = parts.PostProcessor.WithBosEos(config.AddBosToken, BosTokenId, config.AddEosToken,
            eos.Count > 0 ? eos[0] : null);
    }

    private string NormalizedForm(AddedToken token) => _normalizer?.Normalize(token.Content) ?? token.Content;

    /// <summary>
    /// Loads modelDir/tokenizer.json with modelDir/tokenizer_config.json (optional) for the BOS/EOS names, and
    /// modelDir/config.json (optional): its bos_token_id is used when tokenizer_config.json has no bos_token key
    /// (an explicit null means no BOS, as in Qwen), and its eos_token_id(s) are appended to EosTokenIds.
    /// </summary>
    public static Tokenizer FromDirectory(string modelDir)
    {
        string json = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(json))
        {
            string hint = File.Exists(Path.Combine(modelDir, "tokenizer.model"))
                ? "this directory has only a SentencePiece tokenizer.model; save the tokenizer with transformers " +
                  "(AutoTokenizer.from_pretrained(dir).save_pretrained(dir)) to get tokenizer.json"
                : "copy tokenizer.json from the original Hugging Face checkpoint into the model directory";
            throw new ModelFormatException(json, $"not found; {hint}");
        }
        string config = Path.Combine(modelDir, "tokenizer_config.json");
        var tok = Guarded(json, () => new Tokenizer(TokenizerJsonReader.Read(json), TokenizerConfig.Read(File.Exists(config) ? config : null, Path.Combine(modelDir, "config.json"))));
        CheckAgainstModel(tok, json, Path.Combine(modelDir, "config.json"));
        return tok;
    }

    /// <summary>Every token id the tokenizer can produce must index the model's embeddings (vocab_size of config.json).</summary>
    static void CheckAgainstModel(Tokenizer tok, string json, string configPath)
    {
        if (!File.Exists(configPath)) return;
        int vocab;
        try { vocab = ModelConfig.Load(configPath).VocabSize; }
        catch (ModelFormatException) { return; }   // the model's own load reports config.json
        if (tok.VocabSize > vocab)
            throw InputError.Field(json, "vocabulary", $"ids up to {tok.VocabSize - 1}",
                $"the model has only vocab_size {vocab} embeddings (config.json), so those tokens cannot be run",
                "use the tokenizer.json that belongs to this model");
        foreach (var id in new[] { tok.BosTokenId }.Concat(tok.EosTokenIds.Select(e => (int?)e)))
            if (id is int i && (i < 0 || i >= vocab))
                throw InputError.Field(json, "special token id", i.ToString(), $"outside the model's vocabulary [0, {vocab})", "fix bos/eos in tokenizer_config.json or config.json");
    }

    /// <summary>Loads a tokenizer.json, with an optional tokenizer_config.json for the BOS/EOS tokens.</summary>
    public static Tokenizer FromFile(string tokenizerJson, string? tokenizerConfigJson = null)
    {
        return Guarded(tokenizerJson, () => new Tokenizer(TokenizerJsonReader.Read(tokenizerJson), TokenizerConfig.Read(tokenizerConfigJson, null)));
    }

    /// <summary>
    /// A tokenizer.json whose values have the wrong JSON kinds, ids or shapes is damaged: any failure while reading it
    /// becomes one error naming the file (found by the fuzz tests), not an exception from deep inside the reader.
    /// </summary>
    static Tokenizer Guarded(string path, Func<Tokenizer> load)
    {
        try { return load(); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException or KeyNotFoundException
            or ArgumentException or OverflowException or IndexOutOfRangeException or InvalidCastException or NullReferenceException
            or System.Text.DecoderFallbackException or RegexMatchTimeoutException)
        {
            string why = e is NullReferenceException or IndexOutOfRangeException or InvalidCastException or KeyNotFoundException
                ? "a field is missing or has the wrong kind" : e.Message;
            throw InputError.File(path, $"damaged or unsupported tokenizer file ({why})",
                "copy tokenizer.json (and tokenizer_config.json) from the original checkpoint again", e);
        }
    }

    /// <summary>
    /// Encodes <paramref name="text"/> as HF's <c>encode(text, add_special_tokens)</c> does. Special tokens written in
    /// the text (e.g. "&lt;|im_start|&gt;") are recognized as single tokens.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens) ids.AddRange(_postProcessor.Prefix);
        var pieces = new List<Piece>();
        foreach (var (segment, token, start) in _rawMatcher.Split(text))
        {
            if (token is not null) { ids.Add(token.Id); continue; }
            if (segment.Length == 0) continue;
            string normalized = _normalizer?.Normalize(segment) ?? segment;
            foreach (var (sub, subToken, subStart) in _normalizedMatcher.Split(normalized))
            {
                if (subToken is not null) { ids.Add(subToken.Id); continue; }
                if (sub.Length == 0) continue;
                var piece = new Piece(sub, AtStart: start == 0 && subStart == 0);
                if (_preTokenizer is null)
                {
                    _model.Encode(piece.Text, ids);
                    continue;
                }
                pieces.Clear();
                _preTokenizer.PreTokenize(piece, pieces);
                foreach (var p in pieces) _model.Encode(p.Text, ids);
            }
        }
        if (addSpecialTokens) ids.AddRange(_postProcessor.Suffix);
        return ids.ToArray();
    }

    /// <summary>
    /// Decodes ids as HF's <c>decode(ids, skip_special_tokens)</c> does. Ids outside the vocabulary are skipped.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (IdToToken(id) is not { } token) continue;
            if (skipSpecialTokens && _specialContents.Contains(token)) continue;
            tokens.Add(token);
        }
        if (_decoder is null) return string.Join(" ", tokens);
        return string.Concat(_decoder.DecodeChain(tokens));
    }

    /// <summary>
    /// The token string of an id (added tokens first, then the model vocab), or null. As in HF, an added token with
    /// normalized: true is spelled as the normalizer writes it.
    /// </summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>The id of a token string (added tokens first, then the model vocab), or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out int id) ? id : _model.TokenToId(token);

    /// <summary>Whether the id is an added token marked special (what skipSpecialTokens removes).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var t) && t.Special;

    internal bool IsSpecialToken(string token) => _specialContents.Contains(token);

    /// <summary>A decoder for generated ids, one at a time (see <see cref="StreamingDecoder"/>).</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = true) => new(this, _decoder, skipSpecialTokens);
}
