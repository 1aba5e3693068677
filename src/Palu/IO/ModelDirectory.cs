using System.Text.Json;
using Palu.Tensors;

namespace Palu.IO;

/// <summary>
/// A Hugging Face model directory: config.json, weights in <c>model.safetensors</c> or in shards listed by
/// <c>model.safetensors.index.json</c>, tokenizer files. Sharded and single-file checkpoints look the same from here.
/// </summary>
public sealed class ModelDirectory : IDisposable
{
    readonly List<SafetensorsFile> _files = new();
    readonly Dictionary<string, SafetensorsFile> _byTensor = new(StringComparer.Ordinal);

    public string Path { get; }
    public ModelConfig Config { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    public IEnumerable<string> TensorNames => _byTensor.Keys;

    ModelDirectory(string path, ModelConfig config) { Path = path; Config = config; }

    public static ModelDirectory Open(string dir)
    {
        if (!Directory.Exists(dir)) throw new ModelFormatException(dir, "model directory not found");
        var config = ModelConfig.Load(System.IO.Path.Combine(dir, "config.json"));
        var md = new ModelDirectory(System.IO.Path.GetFullPath(dir), config);
        try { md.OpenWeights(); }
        catch { md.Dispose(); throw; }
        return md;
    }

    void OpenWeights()
    {
        string index = System.IO.Path.Combine(Path, "model.safetensors.index.json");
        string single = System.IO.Path.Combine(Path, "model.safetensors");
        if (File.Exists(index))
        {
            var weightMap = ReadIndex(index);
            var byName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var shard in weightMap.Values.Distinct().OrderBy(s => s, StringComparer.Ordinal))
            {
                string file = ShardPath(index, shard);
                if (!File.Exists(file)) throw new ModelFormatException(index, $"lists shard '{shard}' which does not exist");
                var opened = SafetensorsFile.Open(file);
                _files.Add(opened);
                byName[shard] = opened;
            }
            foreach (var (tensor, shard) in weightMap)
            {
                var f = byName[shard];
                if (!f.Tensors.ContainsKey(tensor))
                    throw new ModelFormatException(f.Path, $"tensor '{tensor}' listed in model.safetensors.index.json is not in this shard");
                _byTensor[tensor] = f;
            }
        }
        else if (File.Exists(single))
        {
            var f = SafetensorsFile.Open(single);
            _files.Add(f);
            foreach (var name in f.Tensors.Keys) _byTensor[name] = f;
        }
        else
        {
            throw new ModelFormatException(Path, "no weights: expected model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported; convert .bin/.pth with transformers' save_pretrained(safe_serialization=True))");
        }
    }

    static Dictionary<string, string> ReadIndex(string index)
    {
        using var doc = JsonFields.ParseFile(index);
        if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(index, "missing 'weight_map'");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in wm.EnumerateObject())
            map[p.Name] = p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() is { Length: > 0 } v ? v
                : throw InputError.Field(index, $"weight_map.{p.Name}", p.Value.GetRawText(), "must be the file name of a shard", "list the .safetensors file that holds the tensor");
        return map;
    }

    /// <summary>
    /// A shard named by the index, confined to the model directory: a plain file name (or a path below the directory),
    /// never absolute and never through '..' (an index must not make us open /etc/passwd or another model's files).
    /// Symbolic links inside the directory are followed (the Hugging Face cache links every file to a blob).
    /// </summary>
    string ShardPath(string index, string shard)
    {
        string full = System.IO.Path.GetFullPath(System.IO.Path.Combine(Path, shard));
        if (System.IO.Path.IsPathRooted(shard) || shard.Split('/', '\\').Contains("..") || !OutputTarget.IsInside(full, Path))
            throw InputError.Field(index, "weight_map", InputError.Quote(shard), "a shard must be a file inside the model directory (no absolute path, no '..')",
                "name the shard by its file name, e.g. model-00001-of-00002.safetensors");
        if (!shard.EndsWith(".safetensors", StringComparison.Ordinal))
            throw InputError.Field(index, "weight_map", InputError.Quote(shard), "a shard must be a .safetensors file",
                "convert the checkpoint to safetensors (transformers' save_pretrained(safe_serialization=True))");
        return full;
    }

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public TensorInfo Info(string name) => Resolve(name).Info;

    /// <summary>A tensor's raw bytes as a zero-copy view into its file (valid until Dispose).</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var (f, t) = Resolve(name);
        return f.GetBytes(t);
    }

    /// <summary>A tensor's first byte inside its mapping and its byte length (any size; valid until Dispose).</summary>
    public unsafe byte* GetBytesLong(string name, out long length)
    {
        var (f, t) = Resolve(name);
        length = t.Length;
        return (byte*)f.DataPointer(t);
    }

    /// <summary>A 2-D float weight as a zero-copy view into its file, after checking its shape.</summary>
    public unsafe WeightMatrix Matrix(string name, int rows, int cols)
    {
        var (f, t) = CheckShape(name, rows, cols);
        return new WeightMatrix(f.DataPointer(t), t.DType, rows, cols, f);
    }

    /// <summary>A float tensor of exactly <paramref name="shape"/> widened to f32 (copy; for small tensors such as norms).</summary>
    public float[] Floats(string name, params long[] shape)
    {
        var (f, t) = CheckShape(name, shape);
        return f.ReadFloat32(t.Name);
    }

    /// <summary>An integer tensor [length] (I32/I64) of indices each in [0, bound) (an input-channel list).</summary>
    public int[] Indices(string name, int length, int bound)
    {
        var (f, t) = Resolve(name);
        if (!t.Shape.SequenceEqual(new long[] { length }))
            throw new ModelFormatException(t.File, $"tensor '{name}' has shape {t.ShapeText}, expected [{length}] from palu.json");
        var v = f.ReadInt64(name);
        var r = new int[length];
        for (int i = 0; i < length; i++)
        {
            if (v[i] < 0 || v[i] >= bound) throw new ModelFormatException(t.File, $"tensor '{name}': index {v[i]} at {i} is outside [0, {bound})");
            r[i] = (int)v[i];
        }
        return r;
    }

    (SafetensorsFile File, TensorInfo Info) Resolve(string name) =>
        _byTensor.TryGetValue(name, out var f) ? (f, f.Tensors[name])
        : throw new ModelFormatException(Path, $"tensor '{name}' is missing from the checkpoint");

    (SafetensorsFile File, TensorInfo Info) CheckShape(string name, params long[] shape)
    {
        var (f, t) = Resolve(name);
        if (!t.Shape.SequenceEqual(shape))
            throw new ModelFormatException(t.File, $"tensor '{name}' has shape {t.ShapeText}, expected {TensorShape.Text(shape)} from config.json");
        if (!DTypes.IsFloat(t.DType) || t.DType == DType.F64)
            throw new ModelFormatException(t.File, $"tensor '{name}' has dtype {DTypes.Name(t.DType)}; weights must be F32, F16 or BF16");
        return (f, t);
    }

    public long TotalParameters => _byTensor.Sum(kv => kv.Value.Tensors[kv.Key].ElementCount);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}
