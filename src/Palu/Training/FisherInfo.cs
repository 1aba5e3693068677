using Palu.Models;
using System.Globalization;
using Palu.IO;

namespace Palu.Training;

/// <summary>How a Fisher file was made: everything its cache key and its consumers check.</summary>
public sealed record FisherMetadata
{
    public const string Format = "palu.net/fisher";
    public const int Version = 1;

    /// <summary>sha256 of the model (<see cref="ModelHash"/>).</summary>
    public required string ModelSha256 { get; init; }
    public required string CalibrationFile { get; init; }
    public required string CalibrationSha256 { get; init; }
    public required int Samples { get; init; }
    public required int SeqLen { get; init; }
    public required int Seed { get; init; }
    public required LabelObjective Objective { get; init; }
    /// <summary>Scored tokens summed over samples.</summary>
    public required long Tokens { get; init; }
    public string ToolVersion { get; init; } = ToolInfo.Version;

    public Dictionary<string, string> ToDictionary() => new()
    {
        ["format"] = Format,
        ["version"] = Version.ToString(CultureInfo.InvariantCulture),
        ["tool_version"] = ToolVersion,
        ["model_sha256"] = ModelSha256,
        ["model_hash"] = ModelHash.Description,
        ["calibration_file"] = CalibrationFile,
        ["calibration_sha256"] = CalibrationSha256,
        ["samples"] = Samples.ToString(CultureInfo.InvariantCulture),
        ["seq_len"] = SeqLen.ToString(CultureInfo.InvariantCulture),
        ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
        ["sampler"] = FisherCache.Sampler,
        ["objective"] = LabelObjectives.Name(Objective),
        ["tokens"] = Tokens.ToString(CultureInfo.InvariantCulture),
        ["statistic"] = "F = sqrt(mean over samples of (dL/dW)^2), L = mean token cross-entropy of one sample; " +
                        "*.fisher.rows = mean of F over each row (inputs), *.fisher.cols = mean over each column, *.fisher = F",
    };

    public static FisherMetadata FromDictionary(string path, IReadOnlyDictionary<string, string> m)
    {
        string Get(string k) => m.TryGetValue(k, out var v) ? v : throw new ModelFormatException(path, $"Fisher file metadata lacks '{k}'");
        int Int(string k) => int.TryParse(Get(k), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw new ModelFormatException(path, $"Fisher metadata '{k}' is not an integer");
        if (Get("format") != Format) throw new ModelFormatException(path, $"not a Fisher file (format '{Get("format")}', expected '{Format}')");
        if (Int("version") != Version) throw new ModelFormatException(path, $"Fisher file version {Get("version")} is not supported (expected {Version})");
        return new FisherMetadata
        {
            ModelSha256 = Get("model_sha256"), CalibrationFile = Get("calibration_file"), CalibrationSha256 = Get("calibration_sha256"),
            Samples = Int("samples"), SeqLen = Int("seq_len"), Seed = Int("seed"), Objective = LabelObjectives.Parse(Get("objective")),
            Tokens = long.Parse(Get("tokens"), CultureInfo.InvariantCulture), ToolVersion = Get("tool_version"),
        };
    }
}

/// <summary>
/// Fisher information of every linear weight (ALGORITHMS.md §1.5): F = sqrt(Σ_samples (∂L/∂W)² / n), elementwise.
/// Kept as per-row means [out] and per-column means [in] of F for each of the seven linears of every layer — the
/// row means give every §4.3 group score exactly (a head group is a block of whole rows) — and optionally F itself.
/// Tensors: <c>model.layers.{l}.{module}.fisher.rows</c> [out], <c>….fisher.cols</c> [in], <c>….fisher</c> [out, in].
/// </summary>
public sealed class FisherInfo
{
    public required FisherMetadata Metadata { get; init; }
    public required int Layers { get; init; }
    /// <summary>[layer·7 + kind][out]: mean of F over each row.</summary>
    public required float[][] Rows { get; init; }
    /// <summary>[layer·7 + kind][in]: mean of F over each column.</summary>
    public required float[][] Cols { get; init; }
    /// <summary>[layer·7 + kind][out·in]: F itself, when kept.</summary>
    public float[][]? Full { get; init; }

    static int Index(int layer, LinearKind k) => layer * LinearKinds.All.Length + (int)k;

    public float[] RowMeans(int layer, LinearKind k) => Rows[Index(layer, k)];
    public float[] ColMeans(int layer, LinearKind k) => Cols[Index(layer, k)];

    /// <summary>Mean of F over rows [r0, r1) and all columns: the §4.3 score of a head group.</summary>
    public double BlockMean(int layer, LinearKind k, int r0, int r1)
    {
        var rows = RowMeans(layer, k);
        if (r0 < 0 || r1 > rows.Length || r1 <= r0) throw new ArgumentOutOfRangeException(nameof(r1), $"rows [{r0}, {r1}) outside [0, {rows.Length})");
        double s = 0;
        for (int r = r0; r < r1; r++) s += rows[r];
        return s / (r1 - r0);
    }

    /// <summary>RMS of the accumulated squares: F = sqrt(sums / n), reduced to row and column means (and kept whole if asked).</summary>
    public static FisherInfo FromSums(float[][] sums, TrainingShape shape, int n, FisherMetadata meta, bool keepFull)
    {
        int kinds = LinearKinds.All.Length;
        var rows = new float[sums.Length][];
        var cols = new float[sums.Length][];
        var full = keepFull ? new float[sums.Length][] : null;
        for (int i = 0; i < sums.Length; i++)
        {
            var (m, c) = shape.Dims(LinearKinds.All[i % kinds]);
            var f = keepFull ? new float[m * c] : null;
            var colSum = new double[c];
            rows[i] = new float[m];
            for (int r = 0; r < m; r++)
            {
                double rs = 0;
                for (int j = 0; j < c; j++)
                {
                    float v = MathF.Sqrt(sums[i][r * c + j] / n);
                    rs += v; colSum[j] += v;
                    if (f != null) f[r * c + j] = v;
                }
                rows[i][r] = (float)(rs / c);
            }
            cols[i] = colSum.Select(s => (float)(s / m)).ToArray();
            if (full != null) full[i] = f!;
        }
        return new FisherInfo { Metadata = meta, Layers = sums.Length / kinds, Rows = rows, Cols = cols, Full = full };
    }

    static string Name(int layer, LinearKind k) => LinearKinds.Module(layer, k) + ".fisher";

    /// <summary>Writes the file atomically (temporary file and rename). Same content → same bytes.</summary>
    public void Save(string path)
    {
        var tensors = new List<TensorToWrite>();
        for (int l = 0; l < Layers; l++)
            foreach (var k in LinearKinds.All)
            {
                int i = Index(l, k);
                tensors.Add(TensorToWrite.FromFloats(Name(l, k) + ".rows", Rows[i], [Rows[i].Length]));
                tensors.Add(TensorToWrite.FromFloats(Name(l, k) + ".cols", Cols[i], [Cols[i].Length]));
                if (Full != null) tensors.Add(TensorToWrite.FromFloats(Name(l, k), Full[i], [Rows[i].Length, Cols[i].Length]));
            }
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        SafetensorsWriter.Write(path, tensors, Metadata.ToDictionary());
    }

    /// <param name="loadFull">false: skip the elementwise F even when the file holds it (<see cref="Full"/> stays null).</param>
    public static FisherInfo Load(string path, bool loadFull = true)
    {
        using var f = SafetensorsFile.Open(path);
        var meta = FisherMetadata.FromDictionary(path, f.Metadata);
        int layers = 0;
        while (f.Tensors.ContainsKey(Name(layers, LinearKind.Q) + ".rows")) layers++;
        if (layers == 0) throw new ModelFormatException(path, "Fisher file holds no layers");
        int kinds = LinearKinds.All.Length;
        var rows = new float[layers * kinds][];
        var cols = new float[layers * kinds][];
        bool full = loadFull && f.Tensors.ContainsKey(Name(0, LinearKind.Q));
        var fulls = full ? new float[layers * kinds][] : null;
        for (int l = 0; l < layers; l++)
            foreach (var k in LinearKinds.All)
            {
                int i = Index(l, k);
                rows[i] = f.ReadFloat32(Name(l, k) + ".rows");
                cols[i] = f.ReadFloat32(Name(l, k) + ".cols");
                if (fulls != null) fulls[i] = f.ReadFloat32(Name(l, k));
            }
        return new FisherInfo { Metadata = meta, Layers = layers, Rows = rows, Cols = cols, Full = fulls };
    }
}
