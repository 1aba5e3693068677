using System.Security.Cryptography;
using System.Text;

namespace Palu.Training;

/// <summary>
/// A content hash of a model directory for cache keys: sha256 over config.json's bytes and, for every
/// <c>*.safetensors</c> file in name order, its name, its length and its contents — the whole file up to
/// <see cref="FullHashLimit"/>, beyond that the first MiB (header and first tensors) plus <see cref="Samples"/>
/// evenly spaced 1-MiB blocks. No timestamps: a copied model keeps its hash; any change of the weights of a model
/// up to 256 MiB per file changes it, and any retraining or requantisation of a larger one in practice.
/// </summary>
public static class ModelHash
{
    public const long FullHashLimit = 256L << 20;
    const int Block = 1 << 20, Samples = 64;

    public const string Description = "sha256(config.json, then per *.safetensors file in name order: name, length, contents; " +
                                      "files over 256 MiB: first MiB plus 64 evenly spaced 1-MiB blocks)";

    public static string Compute(string modelDir)
    {
        string config = Path.Combine(modelDir, "config.json");
        if (!File.Exists(config)) throw new IO.ModelFormatException(modelDir, "config.json not found");
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(File.ReadAllBytes(config));
        var files = Directory.GetFiles(modelDir, "*.safetensors").OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal);
        var buf = new byte[Block];
        foreach (var file in files)
        {
            using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            long length = fs.Length;   // the target's length when the file is a symbolic link
            h.AppendData(Encoding.UTF8.GetBytes($"\n{Path.GetFileName(file)}\n{length}\n"));
            if (length <= FullHashLimit)
            {
                int n;
                while ((n = fs.Read(buf, 0, buf.Length)) > 0) h.AppendData(buf, 0, n);
                continue;
            }
            for (int i = 0; i <= Samples; i++)
            {
                long at = i == 0 ? 0 : (length - Block) / Samples * i;
                fs.Position = at;
                int n = fs.ReadAtLeast(buf, Block, throwOnEndOfStream: false);
                h.AppendData(buf, 0, n);
            }
        }
        return Convert.ToHexString(h.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>sha256 of a file's contents (calibration text).</summary>
    public static string FileSha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f)).ToLowerInvariant();
    }
}
