using System.Runtime.InteropServices;
using System.Text.Json;
using Palu.Tensors;

namespace Palu.IO;

/// <summary>A tensor to write: its bytes are produced on demand so large tensors are never held twice.</summary>
public sealed record TensorToWrite(string Name, DType DType, long[] Shape, Func<ReadOnlyMemory<byte>> Bytes)
{
    public long ByteLength => checked(TensorShape.ElementCount(Shape) * DTypes.Size(DType));

    /// <summary>f32 values stored as <paramref name="storeAs"/> (F32, F16 or BF16, round to nearest even).</summary>
    public static TensorToWrite FromFloats(string name, float[] data, long[] shape, DType storeAs = DType.F32) =>
        new(name, storeAs, shape, () => Encode(data, storeAs));

    public static TensorToWrite FromInt64(string name, long[] data, long[] shape) =>
        new(name, DType.I64, shape, () => MemoryMarshal.AsBytes(data.AsSpan()).ToArray());

    static ReadOnlyMemory<byte> Encode(float[] data, DType t)
    {
        switch (t)
        {
            case DType.F32: return MemoryMarshal.AsBytes(data.AsSpan()).ToArray();
            case DType.BF16:
                {
                    var bytes = new byte[data.Length * 2];
                    FloatConvert.SingleToBF16(data, MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan()));
                    return bytes;
                }
            case DType.F16:
                {
                    var bytes = new byte[data.Length * 2];
                    System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(data, MemoryMarshal.Cast<byte, Half>(bytes.AsSpan()));
                    return bytes;
                }
            default: throw new NotSupportedException($"cannot store floats as {DTypes.Name(t)}");
        }
    }
}

/// <summary>Writes safetensors files (single or sharded with an index), always through a temporary file and a rename.</summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyList<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        AtomicFile.Write(path, fs =>
        {
            byte[] header = BuildHeader(tensors, metadata);
            fs.Write(BitConverter.GetBytes((ulong)header.Length));
            fs.Write(header);
            foreach (var t in tensors)
            {
                var bytes = t.Bytes();
                if (bytes.Length != t.ByteLength)
                    throw new InvalidOperationException($"tensor '{t.Name}': {bytes.Length} bytes given, shape needs {t.ByteLength}");
                fs.Write(bytes.Span);
            }
        });
    }

    static byte[] BuildHeader(IReadOnlyList<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                if (!names.Add(t.Name)) throw new ArgumentException($"duplicate tensor name '{t.Name}'");
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", DTypes.Name(t.DType));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.ByteLength);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.ByteLength;
            }
            w.WriteEndObject();
        }
        // Pad with spaces to a multiple of 8 so the data section is 8-byte aligned.
        int len = (int)ms.Length, padded = (len + 7) / 8 * 8;
        var header = new byte[padded];
        ms.GetBuffer().AsSpan(0, len).CopyTo(header);
        header.AsSpan(len).Fill((byte)' ');
        return header;
    }

    /// <summary>
    /// Writes tensors into shards of at most <paramref name="maxShardBytes"/> (a single larger tensor gets its own shard)
    /// named <c>model-0000K-of-0000N.safetensors</c>, plus <c>model.safetensors.index.json</c> with the weight map.
    /// </summary>
    public static void WriteSharded(string dir, IReadOnlyList<TensorToWrite> tensors, long maxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var shards = new List<List<TensorToWrite>> { new() };
        long size = 0;
        foreach (var t in tensors)
        {
            if (size > 0 && size + t.ByteLength > maxShardBytes) { shards.Add(new()); size = 0; }
            shards[^1].Add(t);
            size += t.ByteLength;
        }
        int n = shards.Count;
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            string file = $"model-{i + 1:D5}-of-{n:D5}.safetensors";
            Write(System.IO.Path.Combine(dir, file), shards[i], metadata);
            foreach (var t in shards[i]) weightMap[t.Name] = file;
        }
        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, long> { ["total_size"] = tensors.Sum(t => t.ByteLength) },
            ["weight_map"] = weightMap,
        };
        AtomicFile.WriteAllText(System.IO.Path.Combine(dir, "model.safetensors.index.json"),
            JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }));
    }
}
