using System.Text;

namespace Palu.Text;

/// <summary>
/// Incremental UTF-8 decoder that replaces each maximal invalid subsequence with one U+FFFD, exactly as Rust's
/// <c>String::from_utf8_lossy</c> (and the Unicode "substitution of maximal subparts" practice) does, but byte by
/// byte: an unfinished sequence at the end waits for more bytes (or for <see cref="Finish"/>).
/// </summary>
internal struct Utf8Lossy
{
    private int _need;     // continuation bytes still expected
    private int _codePoint;
    private int _low, _high; // allowed range of the next continuation byte

    public void Push(byte b, StringBuilder output)
    {
        if (_need > 0)
        {
            if (b >= _low && b <= _high)
            {
                _codePoint = (_codePoint << 6) | (b & 0x3F);
                _low = 0x80;
                _high = 0xBF;
                if (--_need == 0) AppendCodePoint(_codePoint, output);
                return;
            }
            // The sequence so far is a maximal invalid subpart; b starts afresh.
            output.Append('\uFFFD');
            _need = 0;
        }
        switch (b)
        {
            case < 0x80: output.Append((char)b); return;
            case >= 0xC2 and <= 0xDF: Start(1, b & 0x1F, 0x80, 0xBF); return;
            case 0xE0: Start(2, b & 0x0F, 0xA0, 0xBF); return;
            case 0xED: Start(2, b & 0x0F, 0x80, 0x9F); return; // no surrogates
            case >= 0xE1 and <= 0xEF: Start(2, b & 0x0F, 0x80, 0xBF); return;
            case 0xF0: Start(3, b & 0x07, 0x90, 0xBF); return;
            case >= 0xF1 and <= 0xF3: Start(3, b & 0x07, 0x80, 0xBF); return;
            case 0xF4: Start(3, b & 0x07, 0x80, 0x8F); return; // ≤ U+10FFFF
            default: output.Append('\uFFFD'); return;         // 0x80–0xC1, 0xF5–0xFF never start a character
        }
    }

    /// <summary>Ends the input: an unfinished sequence becomes one U+FFFD.</summary>
    public void Finish(StringBuilder output)
    {
        if (_need > 0) output.Append('\uFFFD');
        _need = 0;
    }

    private void Start(int need, int bits, int low, int high)
    {
        _need = need;
        _codePoint = bits;
        _low = low;
        _high = high;
    }

    private static void AppendCodePoint(int cp, StringBuilder output)
    {
        if (cp < 0x10000) output.Append((char)cp);
        else output.Append(char.ConvertFromUtf32(cp));
    }
}
