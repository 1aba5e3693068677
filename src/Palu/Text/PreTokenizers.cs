namespace Palu.Text;

/// <summary>
/// A piece of a segment's normalized text on its way to the model. <see cref="AtStart"/> says the piece begins at
/// offset 0 of the original input (HF: <c>offsets_original().0 == 0</c>), which Metaspace's "first" scheme needs.
/// </summary>
internal readonly record struct Piece(string Text, bool AtStart);

/// <summary>How the matches of a split pattern are kept (HF <c>SplitDelimiterBehavior</c>).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>HF <c>pre_tokenizer</c>: cuts each piece into smaller pieces (and may rewrite them, as ByteLevel does).</summary>
internal interface IPreTokenizer
{
    /// <summary>Appends the pieces that <paramref name="piece"/> becomes to <paramref name="output"/>.</summary>
    void PreTokenize(Piece piece, List<Piece> output);
}

/// <summary>The splitting core shared by the pre-tokenizers, following HF's <c>NormalizedString::split</c>.</summary>
internal static class Splitter
{
    /// <summary>
    /// Splits <paramref name="piece"/> around <paramref name="matches"/> (ordered, non-overlapping (start, end) pairs).
    /// Empty results are dropped, as HF's <c>PreTokenizedString::split</c> does.
    /// </summary>
    public static void Split(Piece piece, List<(int Start, int End)> matches, SplitBehavior behavior, bool invert,
        List<Piece> output)
    {
        string text = piece.Text;
        if (behavior is SplitBehavior.Isolated or SplitBehavior.Removed && !invert)
        {
            // Fast path for the common behaviors: emit gaps (and matches) directly.
            int last = 0;
            foreach (var (start, end) in matches)
            {
                Emit(piece, last, start, output);
                if (behavior == SplitBehavior.Isolated) Emit(piece, start, end, output);
                last = end;
            }
            Emit(piece, last, text.Length, output);
            return;
        }

        // 1. Cover the text with alternating non-match / match segments.
        var segments = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        int prev = 0;
        foreach (var (start, end) in matches)
        {
            if (prev != start) segments.Add((prev, start, invert));
            segments.Add((start, end, !invert));
            prev = end;
        }
        if (prev != text.Length || segments.Count == 0) segments.Add((prev, text.Length, invert));

        // 2. Decide which segments are kept and which get merged.
        var kept = new List<(int Start, int End)>(segments.Count);
        bool previousMatch = false;
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var s in segments) kept.Add((s.Start, s.End));
                break;
            case SplitBehavior.Removed:
                foreach (var s in segments) if (!s.IsMatch) kept.Add((s.Start, s.End));
                break;
            case SplitBehavior.Contiguous:
                foreach (var s in segments)
                {
                    if (s.IsMatch == previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, s.End);
                    else kept.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                foreach (var s in segments)
                {
                    if (s.IsMatch && !previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, s.End);
                    else kept.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = segments.Count - 1; i >= 0; i--)
                {
                    var s = segments[i];
                    if (s.IsMatch && !previousMatch && kept.Count > 0) kept[^1] = (s.Start, kept[^1].End);
                    else kept.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                kept.Reverse();
                break;
        }

        // 3. Emit the non-empty slices.
        foreach (var (start, end) in kept) Emit(piece, start, end, output);
    }

    private static void Emit(Piece piece, int start, int end, List<Piece> output)
    {
        if (end <= start) return;
        string text = piece.Text;
        string slice = start == 0 && end == text.Length ? text : text.Substring(start, end - start);
        output.Add(new Piece(slice, piece.AtStart && start == 0));
    }

    /// <summary>Each character satisfying <paramref name="predicate"/> is one match (HF's char-predicate patterns).</summary>
    public static List<(int Start, int End)> CharMatches(string text, Func<string, int, bool> predicate)
    {
        var matches = new List<(int Start, int End)>();
        for (int i = 0; i < text.Length; i++)
        {
            int width = char.IsSurrogatePair(text, i) ? 2 : 1;
            if (predicate(text, i)) matches.Add((i, i + width));
            i += width - 1;
        }
        return matches;
    }
}

/// <summary><c>Sequence</c>: runs its pre-tokenizers one after the other over all pieces.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> preTokenizers) : IPreTokenizer
{
    public void PreTokenize(Piece piece, List<Piece> output)
    {
        var current = new List<Piece> { piece };
        var next = new List<Piece>();
        foreach (var pre in preTokenizers)
        {
            next.Clear();
            foreach (var p in current) pre.PreTokenize(p, next);
            (current, next) = (next, current);
        }
        output.AddRange(current);
    }
}

/// <summary><c>Split</c>: splits on a String or (Oniguruma) Regex pattern with a delimiter behavior, optionally inverted.</summary>
internal sealed class SplitPreTokenizer(HfRegex pattern, SplitBehavior behavior, bool invert) : IPreTokenizer
{
    public void PreTokenize(Piece piece, List<Piece> output)
    {
        var matches = new List<(int Start, int End)>();
        pattern.FindMatches(piece.Text, matches);
        Splitter.Split(piece, matches, behavior, invert, output);
    }
}

/// <summary>
/// <c>ByteLevel</c> (GPT-2): optionally prepends a space, optionally splits with GPT-2's regex, then spells every piece's
/// UTF-8 bytes with the byte stand-in characters (so "Hello world" → "Hello", "Ġworld").
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private static readonly Lazy<HfRegex> Gpt2Regex = new(() => HfRegex.FromOniguruma(Gpt2Pattern));

    public void PreTokenize(Piece piece, List<Piece> output)
    {
        if (addPrefixSpace && !piece.Text.StartsWith(' ')) piece = piece with { Text = " " + piece.Text };
        if (!useRegex)
        {
            if (piece.Text.Length > 0) output.Add(piece with { Text = ByteLevel.Encode(piece.Text) });
            return;
        }
        var matches = new List<(int Start, int End)>();
        Gpt2Regex.Value.FindMatches(piece.Text, matches);
        int first = output.Count;
        Splitter.Split(piece, matches, SplitBehavior.Isolated, invert: false, output);
        for (int i = first; i < output.Count; i++) output[i] = output[i] with { Text = ByteLevel.Encode(output[i].Text) };
    }
}

/// <summary>Metaspace's prefix rule: always, only at the start of the input ("first"), or never.</summary>
internal enum PrependScheme { Always, First, Never }

/// <summary>
/// <c>Metaspace</c> (SentencePiece): replaces ' ' with the replacement (▁), prepends one per the prepend scheme, and
/// with <c>split</c> cuts before every replacement character (MergedWithNext).
/// </summary>
internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split) : IPreTokenizer
{
    public void PreTokenize(Piece piece, List<Piece> output)
    {
        string text = piece.Text.Replace(' ', replacement);
        bool prepend = scheme == PrependScheme.Always || (scheme == PrependScheme.First && piece.AtStart);
        if (prepend && !text.StartsWith(replacement)) text = replacement + text;
        piece = piece with { Text = text };
        if (!split)
        {
            if (text.Length > 0) output.Add(piece);
            return;
        }
        var matches = Splitter.CharMatches(text, (s, i) => s[i] == replacement);
        Splitter.Split(piece, matches, SplitBehavior.MergedWithNext, invert: false, output);
    }
}

/// <summary><c>Digits</c>: isolates numeric characters, one by one or as runs.</summary>
internal sealed class DigitsPreTokenizer(bool individualDigits) : IPreTokenizer
{
    public void PreTokenize(Piece piece, List<Piece> output)
    {
        var matches = Splitter.CharMatches(piece.Text, char.IsNumber);
        Splitter.Split(piece, matches, individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous,
            invert: false, output);
    }
}
