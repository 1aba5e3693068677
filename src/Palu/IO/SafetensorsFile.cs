using System.IO.MemoryMappedFiles;
using System.Text.Json;
using Palu.Tensors;

namespace Palu.IO;

/// <summary>One tensor entry of a safetensors header. Offsets are absolute in the file.</summary>
public sealed record TensorInfo(string Name, DType DType, long[] Shape, long Offset, long Length, string File)
{
    public long ElementCount => TensorShape.ElementCount(Shape);
    public string ShapeText => TensorShape.Text(Shape);
}

/// <summary>
/// A memory-mapped safetensors file: u64 little-endian header length N, N bytes of UTF-8 JSON
/// <c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}</c>, then the data; offsets are
/// relative to the first byte after the header. Tensors are views into the mapping (zero copy).
/// The header is validated on open: dtype known, offsets in bounds and not overlapping, byte length = elements × size.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    const long MaxHeaderBytes = 100L << 20;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    byte* _base;

    public string Path { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view,
        Dictionary<string, TensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path; _map = map; _view = view; Tensors = tensors; Metadata = metadata;
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "file not found");
        try { return OpenFile(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw InputError.File(path, $"cannot be read ({e.Message})", "check the file's permissions (and that it is a regular file)", e);
        }
    }

    static SafetensorsFile OpenFile(string path)
    {
        long length;
        byte[] headerBytes;
        // the length of the opened file, not FileInfo.Length: that is the link's own size for a symbolic link (the
        // Hugging Face hub cache links every snapshot file to a blob)
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            length = fs.Length;
            if (length < 8)
                throw new ModelFormatException(path, $"truncated safetensors file: {length} bytes, less than the 8-byte header length field");
            Span<byte> n8 = stackalloc byte[8];
            fs.ReadExactly(n8);
            ulong n = BitConverter.ToUInt64(n8);
            if (n > (ulong)MaxHeaderBytes)
                throw new ModelFormatException(path, $"safetensors header length {n} is implausible (> {MaxHeaderBytes} bytes): not a safetensors file or corrupt");
            if ((long)n > length - 8)
                throw new ModelFormatException(path, $"truncated safetensors file: header says {n} header bytes but the file has only {length - 8} after the length field");
            headerBytes = new byte[n];
            fs.ReadExactly(headerBytes);
        }
        long dataStart = 8 + headerBytes.Length;
        Dictionary<string, TensorInfo> tensors;
        Dictionary<string, string> metadata;
        try { (tensors, metadata) = ParseHeader(path, headerBytes, dataStart, length - dataStart); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or OverflowException or System.Text.DecoderFallbackException)
        {
            throw InputError.File(path, $"damaged safetensors header ({e.Message})", "re-download or re-convert the checkpoint", e);
        }
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        return new SafetensorsFile(path, map, view, tensors, metadata);
    }

    static (Dictionary<string, TensorInfo>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataStart, long dataLength)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw InputError.File(path, $"safetensors header is not valid JSON (UTF-8) ({e.Message})", "re-download or re-convert the checkpoint", e); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(path, "safetensors header must be a JSON object");
        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
                    throw InputError.File(path, $"'__metadata__' must be an object of strings, not {prop.Value.ValueKind}", "re-download or re-convert the checkpoint");
                if (prop.Value.ValueKind == JsonValueKind.Object)
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                continue;
            }
            tensors[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataStart, dataLength);
        }
        // No two tensors may share bytes.
        var sorted = tensors.Values.Where(t => t.Length > 0).OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            var a = sorted[i - 1]; var b = sorted[i];
            if (b.Offset < a.Offset + a.Length)
                throw new ModelFormatException(path, $"tensors '{a.Name}' and '{b.Name}' overlap in the data section (corrupt header)");
        }
        return (tensors, metadata);
    }

    static TensorInfo ParseEntry(string path, string name, JsonElement e, long dataStart, long dataLength)
    {
        string Where() => $"tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, $"{Where()}: header entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new ModelFormatException(path, $"{Where()}: missing 'dtype'");
        string dts = dt.GetString()!;
        if (!DTypes.TryParse(dts, out var dtype))
            throw new ModelFormatException(path, $"{Where()}: unknown or unsupported dtype '{dts}' (supported: {DTypes.SupportedNames})");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(path, $"{Where()}: missing 'shape'");
        var shape = new long[sh.GetArrayLength()];
        int k = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new ModelFormatException(path, $"{Where()}: shape entries must be non-negative integers");
            shape[k++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new ModelFormatException(path, $"{Where()}: 'data_offsets' must be [begin, end]");
        long begin = off[0].TryGetInt64(out var b0) ? b0 : -1, end = off[1].TryGetInt64(out var e0) ? e0 : -1;
        if (begin < 0 || end < begin)
            throw new ModelFormatException(path, $"{Where()}: invalid data_offsets [{off[0]}, {off[1]}]");
        if (end > dataLength)
            throw new ModelFormatException(path, $"{Where()}: data_offsets [{begin}, {end}] out of range: the data section has {dataLength} bytes (file truncated or header corrupt)");
        long expected = checked(TensorShape.ElementCount(shape) * DTypes.Size(dtype));
        if (end - begin != expected)
            throw new ModelFormatException(path, $"{Where()}: byte length {end - begin} does not match shape {TensorShape.Text(shape)} x {dts} = {expected} bytes");
        return new TensorInfo(name, dtype, shape, dataStart + begin, end - begin, path);
    }

    public TensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out var t) ? t : throw new ModelFormatException(Path, $"tensor '{name}' not found");

    /// <summary>Pointer to the first byte of a tensor's data inside the mapping (valid until Dispose).</summary>
    public void* DataPointer(TensorInfo t)
    {
        if (_base == null) throw new ObjectDisposedException(Path);
        return _base + t.Offset;
    }

    public ReadOnlySpan<byte> GetBytes(string name) => GetBytes(Info(name));

    /// <summary>A tensor's bytes inside the mapping (valid until Dispose).</summary>
    public ReadOnlySpan<byte> GetBytes(TensorInfo t) => new(DataPointer(t), checked((int)t.Length));

    /// <summary>A float tensor widened to f32 (copy).</summary>
    public float[] ReadFloat32(string name)
    {
        var t = Info(name);
        if (!DTypes.IsFloat(t.DType)) throw new ModelFormatException(Path, $"tensor '{name}' is {DTypes.Name(t.DType)}, expected a float type");
        var a = new float[t.ElementCount];
        FloatConvert.ToSingle(DataPointer(t), t.DType, a);
        return a;
    }

    /// <summary>An integer tensor (I64, I32) widened to long (copy).</summary>
    public long[] ReadInt64(string name)
    {
        var t = Info(name);
        var a = new long[t.ElementCount];
        byte* p = (byte*)DataPointer(t);
        switch (t.DType)
        {
            case DType.I64: new ReadOnlySpan<long>(p, a.Length).CopyTo(a); break;
            case DType.I32: { var s = new ReadOnlySpan<int>(p, a.Length); for (int i = 0; i < a.Length; i++) a[i] = s[i]; break; }
            default: throw new ModelFormatException(Path, $"tensor '{name}' is {DTypes.Name(t.DType)}, expected I64 or I32");
        }
        return a;
    }

    public void Dispose()
    {
        if (_base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view.Dispose();
        _map.Dispose();
    }
}
