using System.Buffers;
using System.Text;
using Palu.IO;

namespace Palu.Text;

/// <summary>
/// Reads a text input (calibration text, perplexity data, a prompt file) after checking that it is UTF-8 text: invalid
/// UTF-8 sequences (Latin-1, UTF-16, binary) and control bytes (NUL and the like; tab and line breaks are fine) are
/// counted; a few stray control bytes are accepted (<see cref="Report.Binary"/>), anything else is refused with the counts
/// and the fix, unless <see cref="AllowInvalid"/> (the CLI's
/// <c>--allow-invalid-text</c>) is set: then a warning gives the counts and invalid bytes read as U+FFFD.
/// </summary>
public static class TextInput
{
    /// <summary>Set once by the CLI (<c>--allow-invalid-text</c>).</summary>
    public static bool AllowInvalid { get; set; }

    /// <summary>Where the warning goes when <see cref="AllowInvalid"/> lets a bad file through (the CLI sets its own).</summary>
    public static Action<string> Warn { get; set; } = m => Console.Error.WriteLine("warning: " + m);

    /// <summary>What a check of some bytes found.</summary>
    public readonly record struct Report(long InvalidSequences, long FirstInvalid, long ControlBytes, long FirstControl, bool Utf16Bom, long NulBytes = 0, long Length = 0)
    {
        public bool Clean => InvalidSequences == 0 && ControlBytes == 0 && !Utf16Bom;

        /// <summary>
        /// Not text: invalid UTF-8, a NUL byte, a UTF-16 mark, or control bytes beyond a stray few (more than 16 and more
        /// than 0.1 % of the file). A few stray controls (the shipped calibration corpus has 9 backspaces) are accepted.
        /// </summary>
        public bool Binary => InvalidSequences > 0 || NulBytes > 0 || Utf16Bom || (ControlBytes > 16 && ControlBytes * 1000 > Length);

        public string Describe(long length)
        {
            var parts = new List<string>();
            if (Utf16Bom) parts.Add("it starts with a UTF-16 byte-order mark");
            if (InvalidSequences > 0) parts.Add($"{InvalidSequences:N0} invalid UTF-8 sequence(s) (first at byte {FirstInvalid:N0})");
            if (ControlBytes > 0) parts.Add($"{ControlBytes:N0} control/binary byte(s) such as NUL (first at byte {FirstControl:N0})");
            return $"{string.Join(", ", parts)} in {length:N0} bytes";
        }
    }

    public static Report Check(ReadOnlySpan<byte> b)
    {
        bool bom16 = b.Length >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF));
        long invalid = 0, firstInvalid = -1, control = 0, firstControl = -1, nul = 0;
        for (int i = 0; i < b.Length;)
        {
            byte c = b[i];
            if (c < 0x80)
            {
                if ((c < 0x20 && c is not ((byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\f' or (byte)'\v')) || c == 0x7F)
                {
                    if (control++ == 0) firstControl = i;
                    if (c == 0) nul++;
                }
                i++;
                continue;
            }
            var status = Rune.DecodeFromUtf8(b[i..], out _, out int used);
            if (status != OperationStatus.Done && invalid++ == 0) firstInvalid = i;
            i += Math.Max(1, used);
        }
        return new Report(invalid, firstInvalid, control, firstControl, bom16, nul, b.Length);
    }

    /// <summary>The file's text, checked; <paramref name="option"/> names where it came from (e.g. --calib).</summary>
    public static string Read(string path, string option)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw InputError.File(path, $"{option}: file not found", "check the path"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputError.File(path, $"{option}: cannot be read ({e.Message})", "check the path and its permissions", e);
        }
        var r = Check(bytes);
        if (r.Binary)
        {
            string what = $"{option} is not UTF-8 text: {r.Describe(bytes.Length)}";
            if (!AllowInvalid)
                throw InputError.File(path, what, "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8), or pass --allow-invalid-text to use it anyway (invalid bytes read as U+FFFD)");
            Warn($"{path}: {what}; used anyway (--allow-invalid-text)");
        }
        return new UTF8Encoding(false, false).GetString(bytes.AsSpan(bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0));
    }
}
