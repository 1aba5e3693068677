using System.Text;

namespace Palu.Text;

/// <summary>
/// HF <c>decoder</c>: turns the token strings of the ids being decoded into text. Like HF, each decoder maps a list
/// of token strings to a new list (<c>decode_chain</c>) and the final text is their concatenation. Each decoder can
/// also build the equivalent incremental stage for <see cref="StreamingDecoder"/>.
/// </summary>
internal abstract class Decoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    /// <summary>The streaming form of this decoder, feeding <paramref name="next"/>.</summary>
    public abstract StreamStage CreateStage(StreamStage next);
}

/// <summary><c>Sequence</c>: the decoders' chains applied in order.</summary>
internal sealed class SequenceDecoder(IReadOnlyList<Decoder> decoders) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var d in decoders) tokens = d.DecodeChain(tokens);
        return tokens;
    }

    public override StreamStage CreateStage(StreamStage next)
    {
        for (int i = decoders.Count - 1; i >= 0; i--) next = decoders[i].CreateStage(next);
        return next;
    }
}

/// <summary>
/// <c>ByteLevel</c>: each token's stand-in characters back to bytes (a token with any other character contributes its
/// own UTF-8 bytes), all bytes decoded as one UTF-8 string, each invalid sequence becoming one U+FFFD (Rust's
/// <c>from_utf8_lossy</c>). The result is a single token.
/// </summary>
internal sealed class ByteLevelDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens) ByteLevel.AppendTokenBytes(t, bytes);
        var text = new StringBuilder(bytes.Count);
        var utf8 = new Utf8Lossy();
        foreach (byte b in bytes) utf8.Push(b, text);
        utf8.Finish(text);
        return [text.ToString()];
    }

    public override StreamStage CreateStage(StreamStage next) => new ByteLevelStage(this, next);
}

/// <summary><c>Replace</c>: in each token, every match of the pattern becomes <c>content</c> (e.g. "▁" → " ").</summary>
internal sealed class ReplaceDecoder(HfRegex pattern, string content) : Decoder
{
    public HfRegex Pattern => pattern;
    /// <summary>The pattern's text when it is a plain String pattern, else null.</summary>
    public string? Literal => pattern.Literal;
    public string Content => content;

    public string ReplaceIn(string token) => pattern.Replace(token, content);

    public override List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(ReplaceIn);

    public override StreamStage CreateStage(StreamStage next) => new ReplaceStage(this, next);
}

/// <summary>
/// <c>ByteFallback</c>: each run of consecutive &lt;0xNN&gt; tokens becomes one token with the text of those bytes; if
/// the run is not valid UTF-8 as a whole, it becomes one U+FFFD token per byte (as HF does).
/// </summary>
internal sealed class ByteFallbackDecoder : Decoder
{
    /// <summary>The byte a "&lt;0xNN&gt;" token stands for (hex in either case, as Rust's from_str_radix), or -1.</summary>
    public static int ByteOf(string token)
    {
        if (token.Length != 6 || !token.StartsWith("<0x", StringComparison.Ordinal) || token[5] != '>') return -1;
        return byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b) ? b : -1;
    }

    /// <summary>Appends the token(s) a finished run of bytes becomes.</summary>
    public static void FlushRun(List<byte> run, Action<string> emit)
    {
        if (run.Count == 0) return;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(run);
        if (System.Text.Unicode.Utf8.IsValid(span)) emit(Encoding.UTF8.GetString(span));
        else for (int i = 0; i < run.Count; i++) emit("\uFFFD");
        run.Clear();
    }

    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var run = new List<byte>();
        foreach (var t in tokens)
        {
            int b = ByteOf(t);
            if (b >= 0) { run.Add((byte)b); continue; }
            FlushRun(run, result.Add);
            result.Add(t);
        }
        FlushRun(run, result.Add);
        return result;
    }

    public override StreamStage CreateStage(StreamStage next) => new ByteFallbackStage(this, next);
}

/// <summary><c>Fuse</c>: all tokens joined into one.</summary>
internal sealed class FuseDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];

    public override StreamStage CreateStage(StreamStage next) => new FuseStage(next);
}

/// <summary><c>Strip</c>: from each token, removes up to <c>start</c> leading and <c>stop</c> trailing <c>content</c> chars.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : Decoder
{
    public char Content => content;
    public int Start => start;
    public int Stop => stop;

    public string StripOne(string token)
    {
        int startCut = 0;
        while (startCut < start && startCut < token.Length && token[startCut] == content) startCut++;
        int stopCut = token.Length;
        while (token.Length - stopCut < stop && stopCut > startCut && token[stopCut - 1] == content) stopCut--;
        return token[startCut..stopCut];
    }

    public override List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(StripOne);

    public override StreamStage CreateStage(StreamStage next) => new StripStage(this, next);
}

/// <summary>
/// <c>Metaspace</c>: the replacement (▁) becomes ' ', except in the first token, where (unless the prepend scheme is
/// "never") every replacement character is dropped, as HF does.
/// </summary>
internal sealed class MetaspaceDecoder(char replacement, PrependScheme scheme) : Decoder
{
    public string DecodeOne(string token, bool first)
    {
        if (first && scheme != PrependScheme.Never) return token.Replace(replacement.ToString(), "", StringComparison.Ordinal);
        return token.Replace(replacement, ' ');
    }

    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++) result.Add(DecodeOne(tokens[i], i == 0));
        return result;
    }

    public override StreamStage CreateStage(StreamStage next) => new MetaspaceStage(this, next);
}
