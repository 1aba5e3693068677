using System.Text;

namespace Palu.Generation;

/// <summary>
/// Stop strings over streamed text: <see cref="Push"/> takes each decoded piece and returns what may be shown now. Text
/// that could be the start of a stop string is held back until it is known not to be; once a stop string appears, the
/// text before it is returned, <see cref="Matched"/> says which one, and nothing more is returned.
/// </summary>
public sealed class StopStrings
{
    readonly string[] _stops;
    readonly StringBuilder _held = new();

    public StopStrings(IEnumerable<string> stops)
    {
        _stops = stops.ToArray();
        if (_stops.Any(s => s.Length == 0)) throw new ArgumentException("a stop string must not be empty");
    }

    /// <summary>The stop string that ended the text, or null.</summary>
    public string? Matched { get; private set; }

    public bool Stopped => Matched is not null;

    /// <summary>Appends <paramref name="piece"/>; returns the text that can be shown (never a stop string or anything after it).</summary>
    public string Push(string piece)
    {
        if (Stopped) return "";
        _held.Append(piece);
        if (_stops.Length == 0) return Flush();
        string text = _held.ToString();
        int at = -1;
        foreach (var s in _stops)
        {
            int i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (at < 0 || i < at)) { at = i; Matched = s; }
        }
        _held.Clear();
        if (at >= 0) return text[..at];
        int keep = HeldBack(text);
        _held.Append(text, text.Length - keep, keep);
        return text[..^keep];
    }

    /// <summary>The text still held back (at the end of generation, when no stop string came).</summary>
    public string Flush()
    {
        string s = _held.ToString();
        _held.Clear();
        return s;
    }

    /// <summary>The length of the longest end of <paramref name="text"/> that is a proper prefix of a stop string.</summary>
    int HeldBack(string text)
    {
        int best = 0;
        foreach (var s in _stops)
            for (int k = Math.Min(s.Length - 1, text.Length); k > best; k--)
                if (text.AsSpan(text.Length - k).SequenceEqual(s.AsSpan(0, k))) { best = k; break; }
        // never split a surrogate pair between what is shown and what is held
        if (best > 0 && best < text.Length && char.IsHighSurrogate(text[^(best + 1)])) best++;
        return best;
    }
}
