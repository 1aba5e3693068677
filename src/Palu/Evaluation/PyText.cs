using System.Text;

namespace Palu.Evaluation;

/// <summary>
/// Python <c>str</c> operations that lm-eval's task preprocessing relies on, where .NET differs:
/// Python's whitespace also covers U+001C–U+001F, and <c>capitalize()</c> lowercases the rest of the string.
/// </summary>
public static class PyText
{
    /// <summary>Python <c>str.isspace</c> for one UTF-16 unit (whitespace outside the BMP does not exist).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    /// <summary>Python <c>s.strip()</c>.</summary>
    public static string Strip(string s)
    {
        int a = 0, b = s.Length;
        while (a < b && IsSpace(s[a])) a++;
        while (b > a && IsSpace(s[b - 1])) b--;
        return s[a..b];
    }

    /// <summary>How many characters Python's <c>s.rstrip()</c> removes.</summary>
    public static int TrailingSpaces(string s)
    {
        int n = 0;
        while (n < s.Length && IsSpace(s[s.Length - 1 - n])) n++;
        return n;
    }

    /// <summary>Python <c>s.capitalize()</c>: first character upper-cased, the rest lower-cased (invariant culture).</summary>
    public static string Capitalize(string s)
    {
        if (s.Length == 0) return s;
        Rune.DecodeFromUtf16(s, out var first, out int n);   // a lone surrogate reads as U+FFFD
        return Rune.ToUpperInvariant(first).ToString() + s[n..].ToLowerInvariant();
    }
}
