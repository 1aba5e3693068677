using System.Numerics;
using System.Runtime.CompilerServices;
using Palu.Tensors;

namespace Palu.IO;

/// <summary>What a scan of one tensor found.</summary>
public sealed record TensorScan(string Name, string File, DType DType, long Elements, long NonFinite, long FirstBad, float FirstBadValue, string? DTypeSuspicion);

/// <summary>
/// Scans float tensors for NaN/Inf from their bit patterns (no conversion; F32 exponent 0xFF, BF16 0xFF, F16 0x1F) and
/// for a dtype label that lies about the bytes (BF16 bytes labelled F16 read as values in [0.125, 2): almost nothing
/// small; F16 bytes labelled BF16 read as values below 1e-12; judged on 2-D weights only). Cheap: one pass over the mapped bytes, tensors in
/// parallel. The loader runs it on every model (<c>--no-check-weights</c> turns it off).
/// </summary>
public static class WeightCheck
{
    /// <summary>Whether <see cref="Models.ModelLoader"/> scans weights at load; set once by the CLI (<c>--no-check-weights</c>).</summary>
    public static bool Enabled { get; set; } = true;

    const int SampleElements = 1 << 16;   // elements looked at for the dtype-label heuristic

    /// <summary>Scans every float tensor of the directory; the first bad one (by name) as an error.</summary>
    public static void Require(ModelDirectory md)
    {
        var bad = ScanAll(md).Where(s => s.NonFinite > 0 || s.DTypeSuspicion != null).OrderBy(s => s.Name, StringComparer.Ordinal).FirstOrDefault();
        if (bad != null) throw Error(bad);
    }

    public static ModelFormatException Error(TensorScan s) => s.NonFinite > 0
        ? InputError.Field(s.File, $"tensor {s.Name}", $"{s.NonFinite:N0} non-finite value(s) of {s.Elements:N0} (first: {s.FirstBadValue} at element {s.FirstBad})",
            "NaN or Inf weights make every output NaN", "re-download or re-convert the checkpoint (--no-check-weights skips this check)")
        : InputError.Field(s.File, $"tensor {s.Name}", $"dtype {DTypes.Name(s.DType)}", s.DTypeSuspicion!,
            "fix the dtype in the safetensors header or re-convert the checkpoint (--no-check-weights skips this check)");

    public static List<TensorScan> ScanAll(ModelDirectory md)
    {
        var names = md.TensorNames.Where(n => DTypes.IsFloat(md.Info(n).DType)).ToArray();
        var result = new TensorScan[names.Length];
        Parallel.For(0, names.Length, i => result[i] = Scan(md, names[i]));
        return result.ToList();
    }

    public static unsafe TensorScan Scan(ModelDirectory md, string name)
    {
        var t = md.Info(name);
        var bytes = md.GetBytesLong(name, out long length);
        long n = t.ElementCount, bad = 0, first = -1;
        float firstValue = 0;
        string? suspicion = null;
        switch (t.DType)
        {
            case DType.F32:
                (bad, first) = CountAllOnes((uint*)bytes, n, 0x7F800000u);
                if (bad > 0) firstValue = BitConverter.UInt32BitsToSingle(((uint*)bytes)[first]);
                break;
            case DType.BF16:
                (bad, first) = CountAllOnes((ushort*)bytes, n, (ushort)0x7F80);
                if (bad > 0) firstValue = FloatConvert.BF16ToSingle(((ushort*)bytes)[first]);
                if (t.Shape.Length == 2) suspicion = SuspectF16AsBF16((ushort*)bytes, n);   // matrices only: norm vectors sit near 1 by design
                break;
            case DType.F16:
                (bad, first) = CountAllOnes((ushort*)bytes, n, (ushort)0x7C00);
                if (bad > 0) firstValue = (float)BitConverter.UInt16BitsToHalf(((ushort*)bytes)[first]);
                if (t.Shape.Length == 2) suspicion = SuspectBF16AsF16((ushort*)bytes, n);
                break;
            case DType.F64:
                (bad, first) = CountAllOnes((ulong*)bytes, n, 0x7FF0000000000000ul);
                if (bad > 0) firstValue = (float)BitConverter.UInt64BitsToDouble(((ulong*)bytes)[first]);
                break;
        }
        return new TensorScan(name, t.File, t.DType, n, bad, first, firstValue, suspicion);
    }

    /// <summary>
    /// How many of p[0..n) have every exponent bit set (NaN or ±Inf), and the first such index (-1 if none): a SIMD pass
    /// that looks at single elements only inside the vectors that hold a hit.
    /// </summary>
    static unsafe (long Count, long First) CountAllOnes<T>(T* p, long n, T exponent) where T : unmanaged, IBinaryInteger<T>
    {
        long count = 0, first = -1, i = 0;
        int w = Vector<T>.Count;
        var mask = new Vector<T>(exponent);
        for (; i + w <= n; i += w)
        {
            var v = Unsafe.ReadUnaligned<Vector<T>>(p + i);
            if (!Vector.EqualsAny(v & mask, mask)) continue;
            for (int j = 0; j < w; j++)
                if ((p[i + j] & exponent) == exponent) { if (count++ == 0) first = i + j; }
        }
        for (; i < n; i++)
            if ((p[i] & exponent) == exponent) { if (count++ == 0) first = i; }
        return (count, first);
    }

    /// <summary>BF16 bytes read as F16 give |x| in [2^-3, 2) for every weight of ordinary size: nothing small at all.</summary>
    static unsafe string? SuspectBF16AsF16(ushort* p, long n)
    {
        long m = Math.Min(n, SampleElements), nonzero = 0, small = 0;
        if (m < 1024) return null;
        for (long i = 0; i < m; i++)
        {
            int e = (p[i] >> 10) & 0x1F;
            if ((p[i] & 0x7FFF) == 0) continue;
            nonzero++;
            if (e < 11) small++;   // |x| < 2^-4
        }
        return nonzero >= 1024 && small * 200 < nonzero
            ? $"looks like BF16 data labelled F16: {nonzero - small:N0} of {nonzero:N0} sampled values have |x| ≥ 0.0625 (real F16 weights are mostly smaller)"
            : null;
    }

    /// <summary>F16 bytes read as BF16 give |x| below 2^-40 for weights of ordinary size.</summary>
    static unsafe string? SuspectF16AsBF16(ushort* p, long n)
    {
        long m = Math.Min(n, SampleElements), nonzero = 0, tiny = 0;
        if (m < 1024) return null;
        for (long i = 0; i < m; i++)
        {
            if ((p[i] & 0x7FFF) == 0) continue;
            nonzero++;
            if (((p[i] >> 7) & 0xFF) < 87) tiny++;   // |x| < 2^-40
        }
        return nonzero >= 1024 && tiny * 2 > nonzero
            ? $"looks like F16 data labelled BF16: {tiny:N0} of {nonzero:N0} sampled values have |x| < 1e-12"
            : null;
    }
}
