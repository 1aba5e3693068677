using System.Text;

namespace Palu.Text;

/// <summary>
/// HF <c>normalizer</c>: rewrites the text of each segment between added tokens before pre-tokenization. We only need
/// the normalized text (HF also tracks alignments for offsets, which this tokenizer does not report).
/// </summary>
internal interface INormalizer
{
    string Normalize(string text);
}

/// <summary><c>Sequence</c>: applies its normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<INormalizer> normalizers) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var n in normalizers) text = n.Normalize(text);
        return text;
    }
}

/// <summary><c>Prepend</c>: puts a string in front of a non-empty text (SentencePiece's "▁" prefix).</summary>
internal sealed class PrependNormalizer(string prepend) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : prepend + text;
}

/// <summary><c>Replace</c>: replaces every match of a String or (Oniguruma) Regex pattern with <c>content</c>.</summary>
internal sealed class ReplaceNormalizer(HfRegex pattern, string content) : INormalizer
{
    public string Normalize(string text) => pattern.Replace(text, content);
}

/// <summary><c>NFC</c>, <c>NFD</c>, <c>NFKC</c>, <c>NFKD</c>.</summary>
internal sealed class UnicodeFormNormalizer(NormalizationForm form) : INormalizer
{
    public string Normalize(string text) => UnicodeNormalizer.Normalize(text, form);
}

/// <summary>
/// <c>Lowercase</c>: per-character lowercase mapping (HF maps each char with Rust's <c>char::to_lowercase</c>).
/// .NET's invariant mapping is the simple one-to-one mapping; the only difference is 'İ' (U+0130), which Rust maps to
/// "i̇" (two characters), handled here.
/// </summary>
internal sealed class LowercaseNormalizer : INormalizer
{
    public string Normalize(string text)
    {
        if (!text.Contains('\u0130')) return text.ToLowerInvariant();
        return string.Join("i\u0307", text.Split('\u0130').Select(part => part.ToLowerInvariant()));
    }
}

/// <summary><c>Strip</c>: removes leading and/or trailing whitespace (Unicode White_Space).</summary>
internal sealed class StripNormalizer(bool left, bool right) : INormalizer
{
    public string Normalize(string text) => (left, right) switch
    {
        (true, true) => text.Trim(),
        (true, false) => text.TrimStart(),
        (false, true) => text.TrimEnd(),
        _ => text,
    };
}

/// <summary><c>StripAccents</c>: removes combining marks (category Mn), usually after NFD.</summary>
internal sealed class StripAccentsNormalizer : INormalizer
{
    public string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
            if (char.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.NonSpacingMark) sb.Append(c);
        return sb.ToString();
    }
}

/// <summary><c>ByteLevel</c> normalizer: spells the UTF-8 bytes with GPT-2's byte stand-ins.</summary>
internal sealed class ByteLevelNormalizer : INormalizer
{
    public string Normalize(string text) => ByteLevel.Encode(text);
}
