using System.Text;

namespace Palu.Text;

/// <summary>
/// Decodes generated ids one at a time. The concatenation of every <see cref="Append"/> result and the final
/// <see cref="Flush"/> equals <c>Tokenizer.Decode(allIds, skipSpecialTokens)</c> exactly. Text is held back only
/// while it may still change: an unfinished UTF-8 sequence (byte-level tokens), a run of &lt;0xNN&gt; byte-fallback
/// tokens (HF decodes a run as a whole and turns the entire run into U+FFFDs if any byte is invalid, so the run is
/// released when a non-byte token follows, or at Flush), or trailing characters a Strip decoder may still remove.
/// Not thread-safe; use one per generation.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly OutputStage _output;
    private readonly StreamStage _first;
    private bool _flushed;

    internal StreamingDecoder(Tokenizer tokenizer, Decoder? decoder, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
        _output = new OutputStage(joinWithSpace: decoder is null);
        _first = decoder is null ? _output : decoder.CreateStage(_output);
    }

    /// <summary>Feeds one id; returns the text that is now final ("" while it is still held back).</summary>
    public string Append(int id)
    {
        if (_flushed) throw new InvalidOperationException("this StreamingDecoder was flushed; create a new one");
        string? token = _tokenizer.IdToToken(id);
        if (token is not null && !(_skipSpecialTokens && _tokenizer.IsSpecialToken(token))) _first.Token(token);
        return _output.Take();
    }

    /// <summary>Ends the stream and returns the text still held back.</summary>
    public string Flush()
    {
        if (_flushed) return "";
        _flushed = true;
        _first.End();
        return _output.Take();
    }
}

/// <summary>
/// One decoder in streaming form. Until a Fuse or ByteLevel decoder, tokens flow as whole tokens (<see cref="Token"/>);
/// after it, everything is one growing token delivered in pieces (<see cref="Text"/>). Every stage passes on exactly
/// what its batch decoder would produce for the same input, so the streamed text equals the batch text.
/// </summary>
internal abstract class StreamStage
{
    public abstract void Token(string token);
    public abstract void Text(string chunk);
    public abstract void End();
}

/// <summary>Collects the final text. Without a decoder HF joins tokens with spaces.</summary>
internal sealed class OutputStage(bool joinWithSpace) : StreamStage
{
    private readonly StringBuilder _pending = new();
    private bool _any;

    public override void Token(string token)
    {
        if (joinWithSpace && _any) _pending.Append(' ');
        _any = true;
        _pending.Append(token);
    }

    public override void Text(string chunk) => _pending.Append(chunk);
    public override void End() { }

    public string Take()
    {
        string s = _pending.ToString();
        _pending.Clear();
        return s;
    }
}

/// <summary>Buffers the fused token until the end, then applies the batch decoder (for rare fused-mode decoders).</summary>
internal abstract class BufferingStage(Decoder decoder, StreamStage next) : StreamStage
{
    private readonly StringBuilder _fused = new();
    private bool _any;

    protected StreamStage Next => next;

    public override void Text(string chunk)
    {
        _any = true;
        _fused.Append(chunk);
    }

    protected void EndBuffered()
    {
        if (_any) next.Text(string.Concat(decoder.DecodeChain([_fused.ToString()])));
        _fused.Clear();
        _any = false;
    }
}

internal sealed class ByteLevelStage(ByteLevelDecoder decoder, StreamStage next) : BufferingStage(decoder, next)
{
    private readonly List<byte> _bytes = new();
    private readonly StringBuilder _text = new();
    private Utf8Lossy _utf8;

    public override void Token(string token)
    {
        _bytes.Clear();
        ByteLevel.AppendTokenBytes(token, _bytes);
        foreach (byte b in _bytes) _utf8.Push(b, _text);
        Emit();
    }

    public override void End()
    {
        _utf8.Finish(_text);
        Emit();
        EndBuffered();
        Next.End();
    }

    private void Emit()
    {
        if (_text.Length == 0) return;
        Next.Text(_text.ToString());
        _text.Clear();
    }
}

internal sealed class ReplaceStage(ReplaceDecoder decoder, StreamStage next) : BufferingStage(decoder, next)
{
    private readonly StringBuilder _pending = new();

    public override void Token(string token) => Next.Token(decoder.ReplaceIn(token));

    public override void Text(string chunk)
    {
        if (decoder.Literal is not { Length: > 0 } literal)
        {
            base.Text(chunk); // a regex may match across pieces: decide at the end
            return;
        }
        // A literal match can only start in the last (length − 1) characters without being complete yet.
        _pending.Append(chunk);
        string s = _pending.ToString();
        var output = new StringBuilder(s.Length);
        int i = 0;
        for (int j; (j = s.IndexOf(literal, i, StringComparison.Ordinal)) >= 0; i = j + literal.Length)
            output.Append(s, i, j - i).Append(decoder.Content);
        int keep = Math.Min(literal.Length - 1, s.Length - i);
        output.Append(s, i, s.Length - i - keep);
        _pending.Clear().Append(s, s.Length - keep, keep);
        if (output.Length > 0) Next.Text(output.ToString());
    }

    public override void End()
    {
        if (_pending.Length > 0) Next.Text(_pending.ToString());
        _pending.Clear();
        EndBuffered();
        Next.End();
    }
}

internal sealed class ByteFallbackStage(ByteFallbackDecoder decoder, StreamStage next) : BufferingStage(decoder, next)
{
    private readonly List<byte> _run = new();

    public override void Token(string token)
    {
        int b = ByteFallbackDecoder.ByteOf(token);
        if (b >= 0)
        {
            _run.Add((byte)b);
            return;
        }
        ByteFallbackDecoder.FlushRun(_run, Next.Token);
        Next.Token(token);
    }

    public override void End()
    {
        ByteFallbackDecoder.FlushRun(_run, Next.Token);
        EndBuffered();
        Next.End();
    }
}

internal sealed class FuseStage(StreamStage next) : StreamStage
{
    public override void Token(string token) => next.Text(token);
    public override void Text(string chunk) => next.Text(chunk);
    public override void End() => next.End();
}

internal sealed class StripStage(StripDecoder decoder, StreamStage next) : StreamStage
{
    private int _startLeft = decoder.Start; // leading content chars that may still be cut from the fused token
    private int _held;                       // trailing content chars held back (≤ Stop)

    public override void Token(string token) => next.Token(decoder.StripOne(token));

    public override void Text(string chunk)
    {
        var output = new StringBuilder(chunk.Length + _held);
        foreach (char c in chunk)
        {
            if (_startLeft > 0)
            {
                if (c == decoder.Content) { _startLeft--; continue; }
                _startLeft = 0;
            }
            if (decoder.Stop == 0) { output.Append(c); continue; }
            if (c == decoder.Content)
            {
                if (_held == decoder.Stop) output.Append(c); // the oldest held one can no longer be cut
                else _held++;
                continue;
            }
            output.Append(decoder.Content, _held).Append(c);
            _held = 0;
        }
        if (output.Length > 0) next.Text(output.ToString());
    }

    public override void End()
    {
        _held = 0; // trailing content chars are cut
        next.End();
    }
}

internal sealed class MetaspaceStage(MetaspaceDecoder decoder, StreamStage next) : StreamStage
{
    private bool _first = true;

    public override void Token(string token)
    {
        next.Token(decoder.DecodeOne(token, _first));
        _first = false;
    }

    // The fused token is the first (and only) token.
    public override void Text(string chunk) => next.Text(decoder.DecodeOne(chunk, first: true));
    public override void End() => next.End();
}
