using System.Buffers;

namespace Palu.Text;

/// <summary>One entry of tokenizer.json's <c>added_tokens</c>.</summary>
internal sealed record AddedToken(int Id, string Content, bool SingleWord, bool LStrip, bool RStrip, bool Normalized, bool Special);

/// <summary>
/// HF's <c>AddedVocabulary</c>: finds added tokens in text before the model sees it. Tokens with
/// <c>normalized: false</c> are found in the raw text; tokens with <c>normalized: true</c> are found in each normalized
/// segment, spelled as the normalizer writes them. Matching is leftmost-longest and non-overlapping; a
/// <c>single_word</c> token only counts when no word character touches it; <c>lstrip</c>/<c>rstrip</c> make the match
/// swallow the whitespace to its left/right.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedToken? Token; // a token ends here
    }

    private readonly Node _root = new();
    private readonly SearchValues<char> _firstChars;

    public bool IsEmpty { get; }

    /// <summary>Builds a matcher for <paramref name="tokens"/>, each looked for as <c>spelling(token)</c>.</summary>
    public AddedTokenMatcher(IEnumerable<AddedToken> tokens, Func<AddedToken, string> spelling)
    {
        var first = new HashSet<char>();
        foreach (var token in tokens)
        {
            string s = spelling(token);
            if (s.Length == 0) continue;
            var node = _root;
            foreach (char c in s)
            {
                node.Children ??= new Dictionary<char, Node>();
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            node.Token ??= token;
            first.Add(s[0]);
        }
        IsEmpty = first.Count == 0;
        _firstChars = SearchValues.Create(first.ToArray());
    }

    /// <summary>
    /// Cuts <paramref name="text"/> into segments: (text, null) for ordinary text, (matched text, token) for an added
    /// token. Ordinary segments may be empty only when the whole text is.
    /// </summary>
    public List<(string Text, AddedToken? Token, int Start)> Split(string text)
    {
        var result = new List<(string, AddedToken?, int)>();
        int startOffset = 0; // end of the previous accepted match
        int searchFrom = 0;
        while (!IsEmpty && searchFrom < text.Length)
        {
            int rel = text.AsSpan(searchFrom).IndexOfAny(_firstChars);
            if (rel < 0) break;
            int start = searchFrom + rel;
            var (token, length) = LongestAt(text, start);
            if (token is null)
            {
                searchFrom = start + 1;
                continue;
            }
            int stop = start + length;
            searchFrom = stop;
            if (token.SingleWord && (EndsWithWordChar(text, start) || StartsWithWordChar(text, stop))) continue;
            if (token.LStrip)
            {
                int s = start;
                while (s > 0 && char.IsWhiteSpace(text[s - 1])) s--;
                start = Math.Max(s, startOffset);
            }
            if (token.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop])) stop++;
                searchFrom = stop;
            }
            if (startOffset < start) result.Add((text[startOffset..start], null, startOffset));
            result.Add((text[start..stop], token, start));
            startOffset = stop;
        }
        if (startOffset < text.Length || result.Count == 0) result.Add((text[startOffset..], null, startOffset));
        return result;
    }

    private (AddedToken? Token, int Length) LongestAt(string text, int start)
    {
        var node = _root;
        AddedToken? best = null;
        int bestLength = 0;
        for (int i = start; i < text.Length; i++)
        {
            if (node.Children is null || !node.Children.TryGetValue(text[i], out var next)) break;
            node = next;
            if (node.Token is not null)
            {
                best = node.Token;
                bestLength = i - start + 1;
            }
        }
        return (best, bestLength);
    }

    // HF uses Rust regex \w: letters, marks, decimal digits, connector punctuation.
    private static bool IsWordChar(string s, int i)
    {
        var cat = char.GetUnicodeCategory(s, i);
        return char.IsLetterOrDigit(s, i) || cat is System.Globalization.UnicodeCategory.NonSpacingMark
            or System.Globalization.UnicodeCategory.SpacingCombiningMark or System.Globalization.UnicodeCategory.EnclosingMark
            or System.Globalization.UnicodeCategory.ConnectorPunctuation;
    }

    private static bool EndsWithWordChar(string s, int end) =>
        end > 0 && IsWordChar(s, end >= 2 && char.IsSurrogatePair(s[end - 2], s[end - 1]) ? end - 2 : end - 1);

    private static bool StartsWithWordChar(string s, int start) => start < s.Length && IsWordChar(s, start);
}
