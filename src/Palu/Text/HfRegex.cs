using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Palu.Text;

/// <summary>
/// A regular expression from tokenizer.json, written for Oniguruma (HF's <c>SysRegex</c>), run with .NET's Regex.
/// Two differences are bridged:
/// <list type="bullet">
/// <item>Syntax: possessive quantifiers <c>?+ *+ ++</c> become atomic groups, <c>\h</c> (hex digit) and <c>{,n}</c>
/// are spelled out, and <c>^ $</c> are line anchors as in Oniguruma's default syntax (RegexOptions.Multiline).</item>
/// <item>Characters: .NET matches UTF-16 code units, so a character outside the BMP (emoji, 𝐀, CJK extension B) would be
/// two surrogates of category Cs, not a letter or symbol. Before matching, each such character is replaced by one BMP
/// stand-in of the same Unicode general category, so <c>\p{L}</c>, <c>\p{N}</c>, <c>\s</c>, <c>\w</c> and negated
/// classes treat it as Oniguruma does, and match positions are mapped back.</item>
/// </list>
/// .NET's <c>\s</c> (Zs, Zl, Zp, \t-\r, U+0085) equals Unicode White_Space, and <c>\p{L}</c>/<c>\p{N}</c> are general
/// categories, as in Oniguruma; zero-width space U+200B is Cf (not a space) in both.
/// </summary>
internal sealed class HfRegex
{
    private static readonly ConcurrentDictionary<string, Regex> Cache = new();
    private static readonly char[] CategoryStandIn = BuildStandIns();

    private readonly Regex _regex;

    /// <summary>The pattern as written in tokenizer.json.</summary>
    public string Pattern { get; }

    /// <summary>The text of a String pattern (<see cref="FromLiteral"/>), else null.</summary>
    public string? Literal { get; }

    private HfRegex(string pattern, Regex regex, string? literal = null)
    {
        Pattern = pattern;
        _regex = regex;
        Literal = literal;
    }

    /// <summary>Compiles an Oniguruma pattern; throws ArgumentException when .NET cannot express it.</summary>
    public static HfRegex FromOniguruma(string pattern) => new(pattern, Compile(pattern));

    /// <summary>A pattern matching <paramref name="literal"/> exactly (HF escapes String patterns into a regex).</summary>
    public static HfRegex FromLiteral(string literal)
    {
        string pattern = Regex.Escape(literal);
        return new(pattern, Compile(pattern), literal);
    }

    private static Regex Compile(string pattern) =>
        Cache.GetOrAdd(pattern, static p =>
            new Regex(Translate(p), RegexOptions.Compiled | RegexOptions.CultureInvariant | RegexOptions.Multiline));

    /// <summary>Appends the (start, end) of every non-overlapping match, left to right, in indices of <paramref name="input"/>.</summary>
    public void FindMatches(string input, List<(int Start, int End)> matches)
    {
        if (input.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            foreach (var m in _regex.EnumerateMatches(input))
                matches.Add((m.Index, m.Index + m.Length));
            return;
        }
        var (mapped, originalIndex) = MapSupplementary(input);
        foreach (var m in _regex.EnumerateMatches(mapped))
            matches.Add((originalIndex[m.Index], originalIndex[m.Index + m.Length]));
    }

    /// <summary>
    /// Replaces every match with <paramref name="content"/> (no group references, as in HF's Replace). A non-empty
    /// String pattern is replaced as plain text, without the regex.
    /// </summary>
    public string Replace(string input, string content)
    {
        if (Literal is { Length: > 0 } literal) return input.Replace(literal, content, StringComparison.Ordinal);
        var matches = new List<(int Start, int End)>();
        FindMatches(input, matches);
        if (matches.Count == 0) return input;
        var sb = new StringBuilder(input.Length);
        int prev = 0;
        foreach (var (start, end) in matches)
        {
            sb.Append(input, prev, start - prev).Append(content);
            prev = end;
        }
        return sb.Append(input, prev, input.Length - prev).ToString();
    }

    // One BMP character per general category, far from ASCII and from the characters tokenizer regexes spell out.
    private static char[] BuildStandIns()
    {
        var standIn = new char[32];
        for (int c = 0xFFEF; c >= 0xA0; c--)
        {
            if (c is >= 0xD800 and <= 0xDFFF || char.IsWhiteSpace((char)c)) continue;
            var cat = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (standIn[cat] == '\0') standIn[cat] = (char)c;
        }
        return standIn;
    }

    private static (string Mapped, int[] OriginalIndex) MapSupplementary(string input)
    {
        var mapped = new char[input.Length];
        var originalIndex = new int[input.Length + 1];
        int j = 0;
        for (int i = 0; i < input.Length; i++, j++)
        {
            originalIndex[j] = i;
            char c = input[i];
            if (char.IsHighSurrogate(c) && i + 1 < input.Length && char.IsLowSurrogate(input[i + 1]))
            {
                var cat = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, input[i + 1]));
                mapped[j] = CategoryStandIn[(int)cat] != '\0' ? CategoryStandIn[(int)cat] : c;
                i++;
            }
            else mapped[j] = c;
        }
        originalIndex[j] = input.Length;
        return (new string(mapped, 0, j), originalIndex);
    }

    /// <summary>Rewrites Oniguruma-only syntax into .NET syntax (see the class comment).</summary>
    internal static string Translate(string p)
    {
        var sb = new StringBuilder(p.Length + 16);
        var groupStarts = new Stack<int>();
        var ignoreCase = new Stack<bool>(); // per open group: inside (?i…)
        bool caseless = false;
        int atomStart = -1; // where the last quantifiable atom begins in sb
        int i = 0;
        while (i < p.Length)
        {
            char c = p[i];
            switch (c)
            {
                case '\\':
                    atomStart = sb.Length;
                    i = CopyEscape(p, i, sb, inClass: false);
                    break;
                case '[':
                    atomStart = sb.Length;
                    i = CopyClass(p, i, sb);
                    break;
                case '(':
                {
                    groupStarts.Push(sb.Length);
                    ignoreCase.Push(caseless);
                    sb.Append('(');
                    i++;
                    if (i < p.Length && p[i] == '?')
                    {
                        // Group prefix: (?: (?= (?! (?<= (?<! (?> (?<name> (?i: (?i-m) …
                        int prefixStart = i;
                        while (i < p.Length)
                        {
                            char g = p[i++];
                            sb.Append(g);
                            if (g == ':') caseless = CaselessAfter(p.AsSpan(prefixStart, i - prefixStart), caseless);
                            if (g is ':' or '=' or '!' or '>') break;
                            if (g == ')') // (?i) option switch: applies to the rest of the enclosing group
                            {
                                groupStarts.Pop();
                                ignoreCase.Pop();
                                caseless = CaselessAfter(p.AsSpan(prefixStart, i - prefixStart), caseless);
                                atomStart = -1;
                                break;
                            }
                        }
                    }
                    break;
                }
                case ')':
                    sb.Append(')');
                    atomStart = groupStarts.Count > 0 ? groupStarts.Pop() : -1;
                    if (ignoreCase.Count > 0) caseless = ignoreCase.Pop();
                    i++;
                    break;
                case '*' or '+' or '?':
                    sb.Append(c);
                    i++;
                    if (i < p.Length && p[i] == '+' && atomStart >= 0)
                    {
                        sb.Insert(atomStart, "(?>").Append(')'); // possessive → atomic group
                        i++;
                    }
                    else if (i < p.Length && p[i] == '?') { sb.Append('?'); i++; } // lazy
                    break;
                case '{':
                {
                    var m = Regex.Match(p.Substring(i), @"^\{(\d*)(,?)(\d*)\}");
                    if (!m.Success || (m.Groups[1].Length == 0 && m.Groups[3].Length == 0))
                    {
                        sb.Append(@"\{");
                        atomStart = sb.Length - 2;
                        i++;
                        break;
                    }
                    string low = m.Groups[1].Length == 0 ? "0" : m.Groups[1].Value;
                    sb.Append('{').Append(low).Append(m.Groups[2].Value).Append(m.Groups[3].Value).Append('}');
                    i += m.Length;
                    if (i < p.Length && p[i] == '+' && atomStart >= 0)
                        sb.Insert(atomStart, "(?:").Append(')'); // Oniguruma: X{n,m}+ is (?:X{n,m})+, not possessive
                    else if (i < p.Length && p[i] == '?') { sb.Append('?'); i++; }
                    break;
                }
                case '|':
                    sb.Append(c);
                    atomStart = -1;
                    i++;
                    break;
                default:
                    atomStart = c is '^' or '$' ? -1 : sb.Length;
                    // Oniguruma folds case with Unicode case folding, where ſ (U+017F) is s and K (U+212A) is k;
                    // .NET's ignore-case does not pair them, so spell them out.
                    if (caseless && c is 's' or 'S') sb.Append(@"[sS\u017F]");
                    else if (caseless && c is 'k' or 'K') sb.Append(@"[kK\u212A]");
                    else sb.Append(c);
                    i++;
                    break;
            }
        }
        return sb.ToString();
    }

    // Whether case is ignored after a group prefix such as "?i:", "?-i:", "?mi)" (flags before '-' turn on).
    private static bool CaselessAfter(ReadOnlySpan<char> prefix, bool current)
    {
        int dash = prefix.IndexOf('-');
        if (prefix.IndexOf('i') is int on and >= 0 && (dash < 0 || on < dash)) return true;
        if (dash >= 0 && prefix[dash..].Contains('i')) return false;
        return current;
    }

    private static int CopyEscape(string p, int i, StringBuilder sb, bool inClass)
    {
        if (i + 1 >= p.Length) throw new ArgumentException("pattern ends with a lone backslash");
        char e = p[i + 1];
        switch (e)
        {
            case 'h': sb.Append(inClass ? "0-9a-fA-F" : "[0-9a-fA-F]"); return i + 2;
            case 'H' when !inClass: sb.Append("[^0-9a-fA-F]"); return i + 2;
            case 'p' or 'P' when i + 2 < p.Length && p[i + 2] == '{':
            case 'x' when i + 2 < p.Length && p[i + 2] == '{':
            {
                int close = p.IndexOf('}', i + 2);
                if (close < 0) throw new ArgumentException($"unterminated \\{e}{{ in pattern");
                string body = p.Substring(i + 3, close - i - 3);
                if (e == 'x')
                {
                    int cp = int.Parse(body, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (cp > 0xFFFF) throw new ArgumentException($"\\x{{{body}}} outside the BMP is not supported");
                    sb.Append("\\u").Append(cp.ToString("X4", CultureInfo.InvariantCulture));
                }
                else
                {
                    if (body.StartsWith('^')) { e = e == 'p' ? 'P' : 'p'; body = body[1..]; } // \p{^L} = \P{L}
                    sb.Append('\\').Append(e).Append('{').Append(body).Append('}');
                }
                return close + 1;
            }
            default:
                sb.Append('\\').Append(e);
                return i + 2;
        }
    }

    private static int CopyClass(string p, int i, StringBuilder sb)
    {
        sb.Append('[');
        i++;
        if (i < p.Length && p[i] == '^') { sb.Append('^'); i++; }
        if (i < p.Length && p[i] == ']') { sb.Append(@"\]"); i++; } // leading ] is literal
        while (i < p.Length)
        {
            char c = p[i];
            if (c == '\\') { i = CopyEscape(p, i, sb, inClass: true); continue; }
            if (c == ']') { sb.Append(']'); return i + 1; }
            if (c == '[') throw new ArgumentException("nested character classes are not supported");
            if (c == '&' && i + 1 < p.Length && p[i + 1] == '&') throw new ArgumentException("class intersection && is not supported");
            sb.Append(c);
            i++;
        }
        throw new ArgumentException("unterminated character class");
    }
}
