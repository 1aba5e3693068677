using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Palu.Kernels.Cpu;

/// <summary>
/// How one latent row (the r_g values of one token of one head group) is stored at <see cref="Bits"/> bits: the
/// packed codes, then one f16 scale per quantisation group, then one f16 zero-point per group.
/// <para>Codes: blocks of 64 values in 8·b bytes (laid out so that one block unpacks with a few vector ops: b = 8 one
/// byte each; b = 4 byte i holds values i and i + 32; b = 2 byte i holds i, i + 16, i + 32, i + 48; b = 3 is dense:
/// the low two bits as the 2-bit block (16 bytes), then one bit plane of 8 bytes, byte i bit k = value i + 8k), then a
/// tail of fewer than 64 values as one little-endian bit stream (value i at bits [i·b, i·b + b)). No bit is wasted
/// except the last byte's padding: ⌈r·b/8⌉ bytes of codes.</para>
/// </summary>
/// <param name="Width">r_g: values per row</param>
/// <param name="Bits">2, 3, 4 or 8</param>
/// <param name="Group">values per scale (divides Width)</param>
public readonly record struct QuantLayout(int Width, int Bits, int Group)
{
    public const int Block = 64;

    public int Groups => Width / Group;
    public int CodeBytes => Width / Block * 8 * Bits + (Width % Block * Bits + 7) / 8;
    /// <summary>Bytes of one stored row: codes, f16 scales [Groups], f16 zero-points [Groups].</summary>
    public int RowBytes => CodeBytes + 4 * Groups;
    public int MaxCode => (1 << Bits) - 1;

    public static bool IsSupported(int bits) => bits is 2 or 3 or 4 or 8;

    public static QuantLayout Create(int width, int bits, int group)
    {
        if (!IsSupported(bits)) throw new ArgumentException($"latent bits must be 2, 3, 4 or 8, got {bits}");
        int g = group == 0 ? width : group;
        if (g < 1 || width % g != 0) throw new ArgumentException($"quantisation group {group} does not divide the rank {width}");
        return new QuantLayout(width, bits, g);
    }
}

/// <summary>
/// Per-token asymmetric round-to-nearest quantisation of Palu latents (ALGORITHMS.md §1.8) and its packed storage
/// (<see cref="QuantLayout"/>). Per group: s = max(hi − lo, 1e-5)/(2^b − 1) rounded to f16, zp = clamp(round(−lo/s)),
/// q = clamp(round(x/s) + zp), x̂ = (q − zp)·s (round half to even, as torch.round). The simulated path
/// (<see cref="FakeQuantize"/>) and the packed path (<see cref="QuantizeRow"/> then a dequantize) give the same floats.
/// </summary>
public static class LatentQuant
{
    /// <summary>Quantises x [Width] into one packed row [RowBytes] (codes, scales, zero-points).</summary>
    public static void QuantizeRow(ReadOnlySpan<float> x, in QuantLayout l, Span<byte> row)
    {
        var codes = l.Width <= 4096 ? stackalloc byte[l.Width] : new byte[l.Width];   // [Width]
        var scales = Halves(row, l, 0);
        var zeros = Halves(row, l, 1);
        for (int g = 0; g < l.Groups; g++)
        {
            var (s, zp) = Params(x.Slice(g * l.Group, l.Group), l.MaxCode);
            scales[g] = (Half)s; zeros[g] = (Half)zp;
            for (int i = 0; i < l.Group; i++) codes[g * l.Group + i] = Code(x[g * l.Group + i], s, zp, l.MaxCode);
        }
        Pack(codes, l.Bits, row[..l.CodeBytes]);
    }

    /// <summary>The simulated path (the test oracle): x [n·Width] quantised and dequantised in place, row by row.</summary>
    public static void FakeQuantize(Span<float> x, in QuantLayout l)
    {
        for (int t = 0; t < x.Length / l.Width; t++)
            for (int g = 0; g < l.Groups; g++)
            {
                var v = x.Slice(t * l.Width + g * l.Group, l.Group);
                var (s, zp) = Params(v, l.MaxCode);
                for (int i = 0; i < v.Length; i++) v[i] = (Code(v[i], s, zp, l.MaxCode) - zp) * s;
            }
    }

    /// <summary>(scale rounded to f16, integer zero-point) of one group.</summary>
    static (float Scale, float Zero) Params(ReadOnlySpan<float> v, int maxCode)
    {
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        foreach (float f in v) { lo = MathF.Min(lo, f); hi = MathF.Max(hi, f); }
        var h = (Half)(MathF.Max(hi - lo, 1e-5f) / maxCode);
        if (h == Half.Zero) h = Half.Epsilon;                 // below f16's range: the smallest subnormal
        if (Half.IsInfinity(h)) h = Half.MaxValue;
        float s = (float)h;
        return (s, Math.Clamp(MathF.Round(-lo / s), 0, maxCode));
    }

    static byte Code(float x, float s, float zp, int maxCode) => (byte)Math.Clamp(MathF.Round(x / s) + zp, 0, maxCode);

    static Span<Half> Halves(Span<byte> row, in QuantLayout l, int which) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(row.Slice(l.CodeBytes + which * 2 * l.Groups, 2 * l.Groups));

    static ReadOnlySpan<Half> Halves(ReadOnlySpan<byte> row, in QuantLayout l, int which) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(row.Slice(l.CodeBytes + which * 2 * l.Groups, 2 * l.Groups));

    // ---- packing ----

    /// <summary>codes [n] (each &lt; 2^bits) → packed [⌈…⌉ bytes] in the <see cref="QuantLayout"/> order.</summary>
    public static void Pack(ReadOnlySpan<byte> codes, int bits, Span<byte> packed)
    {
        packed.Clear();
        for (int i = 0; i < codes.Length; i++) SetCode(packed, codes.Length, bits, i, codes[i]);
    }

    /// <summary>The specification of the layout: code i of a packed row of n values.</summary>
    public static int GetCode(ReadOnlySpan<byte> packed, int n, int bits, int i)
    {
        int mask = (1 << bits) - 1;
        if (TailBit(n, bits, i) is int bit)
        {
            int lo = packed[bit / 8] >> (bit % 8);
            if (bit % 8 + bits > 8) lo |= packed[bit / 8 + 1] << (8 - bit % 8);
            return lo & mask;
        }
        var (at, shift, plane) = Locate(bits, i);
        int c = (packed[at] >> shift) & (bits == 3 ? 3 : mask);
        return plane < 0 ? c : c | ((packed[plane] >> (i % 64 / 8)) & 1) << 2;
    }

    static void SetCode(Span<byte> packed, int n, int bits, int i, int c)
    {
        if (TailBit(n, bits, i) is int bit)
        {
            packed[bit / 8] |= (byte)(c << (bit % 8));
            if (bit % 8 + bits > 8) packed[bit / 8 + 1] |= (byte)(c >> (8 - bit % 8));
            return;
        }
        var (at, shift, plane) = Locate(bits, i);
        packed[at] |= (byte)((bits == 3 ? c & 3 : c) << shift);
        if (plane >= 0) packed[plane] |= (byte)(((c >> 2) & 1) << (i % 64 / 8));
    }

    /// <summary>Bit offset of code i when it sits in the tail stream (after the last full block), else null.</summary>
    static int? TailBit(int n, int bits, int i)
    {
        int full = n / QuantLayout.Block;
        return i / QuantLayout.Block < full ? null : full * 8 * bits * 8 + (i - full * QuantLayout.Block) * bits;
    }

    /// <summary>Code i of a full block: its byte and shift (the low two bits for 3-bit), and the 3-bit plane byte or −1.</summary>
    static (int Byte, int Shift, int Plane) Locate(int bits, int i)
    {
        int start = i / QuantLayout.Block * 8 * bits, j = i % QuantLayout.Block;
        return bits switch
        {
            8 => (start + j, 0, -1),
            4 => (start + j % 32, 4 * (j / 32), -1),
            2 => (start + j % 16, 2 * (j / 16), -1),
            _ => (start + j % 16, 2 * (j / 16), start + 16 + j % 8),
        };
    }

    // ---- dequantisation ----

    /// <summary>The specification: rows [n] of a packed store [n, RowBytes] → x [n, Width].</summary>
    public static void DequantizeReference(ReadOnlySpan<byte> rows, in QuantLayout l, int n, Span<float> x)
    {
        for (int t = 0; t < n; t++)
        {
            var row = rows.Slice(t * l.RowBytes, l.RowBytes);
            var scales = Halves(row, l, 0);
            var zeros = Halves(row, l, 1);
            for (int i = 0; i < l.Width; i++)
                x[t * l.Width + i] = (GetCode(row, l.Width, l.Bits, i) - (float)zeros[i / l.Group]) * (float)scales[i / l.Group];
        }
    }

    /// <summary>Fast version: each 64-value block unpacked by vector ops, codes widened and scaled 16 at a time
    /// (same float ops as the reference, so the same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Dequantize(ReadOnlySpan<byte> rows, in QuantLayout l, int n, Span<float> x)
    {
        if (!Vector512.IsHardwareAccelerated || !Avx512F.IsSupported) { DequantizeReference(rows, l, n, x); return; }
        int w = l.Width, full = w / QuantLayout.Block, G = l.Group;
        byte* codes = stackalloc byte[w + QuantLayout.Block];   // [Width] one row's codes
        fixed (byte* pr = rows)
        fixed (float* px = x)
            for (int t = 0; t < n; t++)
            {
                byte* row = pr + (long)t * l.RowBytes;
                for (int b = 0; b < full; b++) Unpack(row + b * 8 * l.Bits, l.Bits).Store(codes + b * QuantLayout.Block);
                var span = new ReadOnlySpan<byte>(row, l.CodeBytes);
                for (int i = full * QuantLayout.Block; i < w; i++) codes[i] = (byte)GetCode(span, w, l.Bits, i);
                Half* scales = (Half*)(row + l.CodeBytes), zeros = scales + l.Groups;
                float* xr = px + (long)t * w;
                for (int g = 0; g < l.Groups; g++)
                {
                    float s = (float)scales[g], zp = (float)zeros[g];
                    int i = g * G, end = i + G;
                    var vs = Vector512.Create(s);
                    var vz = Vector512.Create(zp);
                    for (; i + 16 <= end; i += 16)
                    {
                        var c = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(codes + i)));
                        ((c - vz) * vs).Store(xr + i);
                    }
                    for (; i < end; i++) xr[i] = (codes[i] - zp) * s;
                }
            }
    }

    /// <summary>64 codes of one full block at p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector512<byte> Unpack(byte* p, int bits)
    {
        switch (bits)
        {
            case 8: return Vector512.Load(p);
            case 4:
            {
                var v = Vector256.Load(p);
                return Vector512.Create(v & Vector256.Create((byte)15), Vector256.ShiftRightLogical(v, 4));
            }
            case 2: return Unpack2(Vector128.Load(p));
            default:
            {
                var planes = Vector512.Create(*(ulong*)(p + 16)).AsByte();   // lane j = plane byte j % 8
                var hi = Vector512.Equals(planes & PlaneMask, PlaneMask) & Vector512.Create((byte)4);
                return Unpack2(Vector128.Load(p)) | hi;
            }
        }
    }

    static Vector512<byte> Unpack2(Vector128<byte> v)
    {
        var m = Vector128.Create((byte)3);
        return Vector512.Create(Vector256.Create(v & m, Vector128.ShiftRightLogical(v, 2) & m),
            Vector256.Create(Vector128.ShiftRightLogical(v, 4) & m, Vector128.ShiftRightLogical(v, 6)));
    }

    /// <summary>lane j: 1 &lt;&lt; (j / 8), the bit of plane byte j % 8 that holds value j.</summary>
    static readonly Vector512<byte> PlaneMask = Vector512.Create(Enumerable.Range(0, 64).Select(j => (byte)(1 << (j / 8))).ToArray());
}
