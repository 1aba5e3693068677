namespace Palu.Tests;

/// <summary>Locates the repository root and ../shared (override with PALU_SHARED).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Shared { get; } =
        Environment.GetEnvironmentVariable("PALU_SHARED") is { Length: > 0 } s ? s : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>
    /// A model directory by name: ../shared/models/NAME, or NAME under PALU_EXTRA_MODELS (models trained with the foundry,
    /// e.g. small and gqa, which are too large for ../shared).
    /// </summary>
    public static string Model(string name)
    {
        string shared = Path.Combine(Shared, "models", name);
        if (Directory.Exists(shared)) return shared;
        return Environment.GetEnvironmentVariable("PALU_EXTRA_MODELS") is { Length: > 0 } extra ? Path.Combine(extra, name) : shared;
    }

    /// <summary>Models with goldens: tiny, stories260k, plus every directory with golden/ under PALU_EXTRA_MODELS.</summary>
    public static IEnumerable<string> GoldenModels()
    {
        yield return "tiny";
        yield return "stories260k";
        if (Environment.GetEnvironmentVariable("PALU_EXTRA_MODELS") is { Length: > 0 } extra && Directory.Exists(extra))
            foreach (var d in Directory.GetDirectories(extra).OrderBy(x => x, StringComparer.Ordinal))
                if (Directory.Exists(Path.Combine(d, "golden"))) yield return Path.GetFileName(d);
    }
    public static string Data(string rel) => Path.Combine(Shared, "data", rel);

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Palu.slnx"))) return d.FullName;
        throw new InvalidOperationException("repository root (Palu.slnx) not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A fresh empty temporary directory, deleted when disposed.</summary>
    public static TempDir Temp() => new();
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "palu-test-" + Guid.NewGuid().ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
