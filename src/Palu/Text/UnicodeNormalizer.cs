using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Palu.Text;

/// <summary>
/// Unicode normalization forms NFC, NFD, NFKC and NFKD (UAX #15), implemented here because .NET's
/// <c>string.Normalize</c> silently returns its input when InvariantGlobalization is on. Tables come from
/// <see cref="UnicodeNormalizationData"/>; Hangul syllables are (de)composed algorithmically.
/// Algorithm: decompose every character fully (canonically, or with compatibility mappings for NFK*), put each run of
/// combining marks in canonical order (stable sort by combining class), then for NFC/NFKC recompose: a character
/// combines with the last starter when no character in between has class 0 or a class ≥ its own.
/// </summary>
internal static class UnicodeNormalizer
{
    private sealed class Tables
    {
        public readonly Dictionary<int, byte> Ccc = new();
        public readonly Dictionary<int, int[]> Canonical = new();
        public readonly Dictionary<int, int[]> Compat = new();
        public readonly Dictionary<long, int> Compose = new();
    }

    private static readonly Lazy<Tables> Data = new(Load);

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    public static string Normalize(string s, NormalizationForm form)
    {
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        // Fast paths: ASCII is invariant under every form; below U+0300 nothing composes or reorders for NFC.
        char limit = form == NormalizationForm.FormC ? '\u0300' : '\u0080';
        if (s.AsSpan().IndexOfAnyExceptInRange('\0', (char)(limit - 1)) < 0) return s;

        var t = Data.Value;
        var cps = new List<int>(s.Length + 8);
        for (int i = 0; i < s.Length; i++)
        {
            int cp = s[i];
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                cp = char.ConvertToUtf32(s[i], s[++i]);
            Decompose(cp, compat, t, cps);
        }
        ReorderMarks(cps, t);
        if (compose) ComposeAll(cps, t);

        var sb = new StringBuilder(cps.Count + 8);
        foreach (int cp in cps)
        {
            if (cp < 0x10000) sb.Append((char)cp);
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    private static int Ccc(int cp, Tables t) => cp < 0x300 ? 0 : t.Ccc.GetValueOrDefault(cp);

    private static void Decompose(int cp, bool compat, Tables t, List<int> output)
    {
        if (cp < 0xC0) // nothing below U+00C0 has a canonical decomposition; a few Latin-1 signs have compat ones
        {
            if (!compat || cp < 0xA0) { output.Add(cp); return; }
        }
        int s = cp - SBase;
        if (s >= 0 && s < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if ((compat && t.Compat.TryGetValue(cp, out var mapped)) || t.Canonical.TryGetValue(cp, out mapped))
            output.AddRange(mapped);
        else
            output.Add(cp);
    }

    // Stable insertion sort of each run of non-starters by combining class.
    private static void ReorderMarks(List<int> cps, Tables t)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int cc = Ccc(cps[i], t);
            if (cc == 0) continue;
            int j = i;
            int cp = cps[i];
            while (j > 0 && Ccc(cps[j - 1], t) > cc)
            {
                cps[j] = cps[j - 1];
                j--;
            }
            cps[j] = cp;
        }
    }

    private static void ComposeAll(List<int> cps, Tables t)
    {
        if (cps.Count == 0) return;
        int starter = Ccc(cps[0], t) == 0 ? 0 : -1;
        int lastCc = starter == 0 ? 0 : 256;
        int write = 1;
        for (int read = 1; read < cps.Count; read++)
        {
            int cp = cps[read];
            int cc = Ccc(cp, t);
            if (starter >= 0 && (lastCc < cc || (lastCc == 0 && write - 1 == starter)))
            {
                int composite = ComposePair(cps[starter], cp, t);
                if (composite >= 0)
                {
                    cps[starter] = composite;
                    continue;
                }
            }
            if (cc == 0) starter = write;
            lastCc = cc;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static int ComposePair(int a, int b, Tables t)
    {
        int l = a - LBase, v = b - VBase;
        if (l >= 0 && l < LCount && v >= 0 && v < VCount) return SBase + (l * VCount + v) * TCount;
        int s = a - SBase, tt = b - TBase;
        if (s >= 0 && s < SCount && s % TCount == 0 && tt > 0 && tt < TCount) return a + tt;
        return t.Compose.TryGetValue(((long)a << 32) | (uint)b, out int c) ? c : -1;
    }

    private static Tables Load()
    {
        var t = new Tables();
        byte[] deflated = Convert.FromBase64String(UnicodeNormalizationData.Deflated);
        using var reader = new StreamReader(new DeflateStream(new MemoryStream(deflated), CompressionMode.Decompress), Encoding.ASCII);
        while (reader.ReadLine() is { } line)
        {
            var f = line.Split(' ');
            int cp = Hex(f[1]);
            switch (f[0])
            {
                case "C": t.Ccc[cp] = (byte)Hex(f[2]); break;
                case "D": t.Canonical[cp] = f[2..].Select(Hex).ToArray(); break;
                case "K": t.Compat[cp] = f[2..].Select(Hex).ToArray(); break;
                case "P": t.Compose[((long)cp << 32) | (uint)Hex(f[2])] = Hex(f[3]); break;
            }
        }
        return t;
    }

    private static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
