using System.Security.Cryptography;

namespace Palu.Tests.CommandLine;

/// <summary>
/// SHA-256 of every input of a CLI run: each argument that names an existing file, and every file below an argument
/// that names a directory, except the values of output options (--out, --samples, cache folders) and what lies below
/// them. <see cref="CliRunner"/> compares them before and after every command it runs.
/// </summary>
public static class InputHashes
{
    static readonly HashSet<string> OutputOptions = ["--out", "-o", "--samples", "--cache-dir", "--fisher-cache"];

    public static Dictionary<string, string> Of(string workDir, IReadOnlyList<string> args)
    {
        var outputs = new List<string>();
        var inputs = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i].StartsWith('-')) continue;
            string full = Path.GetFullPath(Path.Combine(workDir, args[i]));
            if (i > 0 && OutputOptions.Contains(args[i - 1])) outputs.Add(full.TrimEnd('/'));
            else if (args[i].Length > 0 && (File.Exists(full) || Directory.Exists(full))) inputs.Add(full);
        }
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            var files = Directory.Exists(input) ? Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories) : [input];
            foreach (var f in files)
            {
                if (outputs.Any(o => f == o || f.StartsWith(o + "/", StringComparison.Ordinal))) continue;
                using var s = File.OpenRead(f);
                hashes[f] = Convert.ToHexString(SHA256.HashData(s));
            }
        }
        return hashes;
    }

    public static void AssertUnchanged(Dictionary<string, string> before, Dictionary<string, string> after, IReadOnlyList<string> args)
    {
        foreach (var (f, h) in before)
            Assert.True(after.TryGetValue(f, out var h2) && h2 == h,
                $"palu {string.Join(' ', args)} {(after.ContainsKey(f) ? "modified" : "deleted")} its input {f}");
    }
}
