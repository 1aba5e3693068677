namespace Palu.Text;

/// <summary>
/// GPT-2's <c>bytes_to_unicode</c> table, used by HF's ByteLevel pre-tokenizer and decoder: every byte 0..255 gets a
/// printable character. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68 bytes
/// map, in order, to U+0100, U+0101, … (so ' ' becomes 'Ġ' U+0120 and '\n' becomes 'Ċ' U+010A).
/// </summary>
internal static class ByteLevel
{
    /// <summary>Byte → its stand-in character.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Character → byte, or -1 for characters outside the 256 stand-ins. Indexed by char (0..0x143 used).</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[512];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    /// <summary>The byte a stand-in character represents, or -1.</summary>
    public static int ByteOf(char c) => c < CharToByte.Length ? CharToByte[c] : -1;

    /// <summary>UTF-8 encodes <paramref name="text"/> and spells each byte with its stand-in character.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        if (!text.ContainsAnyExceptInRange('\0', '\u007F'))
        {
            // ASCII: one byte per char, no UTF-8 encoding needed.
            Span<char> ascii = text.Length <= 1024 ? stackalloc char[text.Length] : new char[text.Length];
            for (int i = 0; i < text.Length; i++) ascii[i] = ByteToChar[text[i]];
            return new string(ascii);
        }
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(text.Length);
        Span<byte> bytes = max <= 1024 ? stackalloc byte[max] : new byte[max];
        int n = System.Text.Encoding.UTF8.GetBytes(text, bytes);
        Span<char> chars = n <= 1024 ? stackalloc char[n] : new char[n];
        for (int i = 0; i < n; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>
    /// The bytes a token stands for, as HF's ByteLevel decoder computes them: the mapped bytes when every character is
    /// a stand-in, otherwise the token's own UTF-8 bytes (e.g. an added token such as "&lt;|im_start|&gt;" whose
    /// characters are all stand-ins for themselves, or one with a space, which is not).
    /// </summary>
    public static void AppendTokenBytes(string token, List<byte> output)
    {
        foreach (char c in token)
        {
            if (ByteOf(c) < 0)
            {
                output.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
        }
        foreach (char c in token) output.Add((byte)ByteOf(c));
    }
}
