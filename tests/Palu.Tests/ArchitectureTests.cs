using System.Text.RegularExpressions;

namespace Palu.Tests;

/// <summary>The library's layers (ARCHITECTURE.md) import only layers below them: no cycles, no back edges.</summary>
public class ArchitectureTests
{
    /// <summary>Bottom to top; a folder may use any folder before it, none after it.</summary>
    static readonly string[] Layers =
        ["Tensors", "IO", "Text", "Kernels", "LinearAlgebra", "Runtime", "Cache", "Models", "Training", "Compression", "Evaluation", "Generation"];

    [Fact]
    public void LayersImportOnlyLayersBelowThem()
    {
        string src = Path.Combine(TestPaths.RepoRoot, "src", "Palu");
        var reference = new Regex(@"\bPalu\.(" + string.Join("|", Layers) + @")\b");
        var violations = new List<string>();
        foreach (var file in Directory.GetFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(src, file);
            if (rel.StartsWith("obj") || rel.StartsWith("bin")) continue;
            int own = Array.IndexOf(Layers, rel.Split(Path.DirectorySeparatorChar)[0]);
            Assert.True(own >= 0, $"{rel} is outside the known layers; add its folder to ARCHITECTURE.md and this test");
            foreach (var (line, n) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
            {
                if (line.TrimStart().StartsWith("///") || line.TrimStart().StartsWith("//")) continue;
                foreach (Match m in reference.Matches(line))
                    if (Array.IndexOf(Layers, m.Groups[1].Value) > own)
                        violations.Add($"{rel}:{n} ({Layers[own]}) uses {m.Value}");
            }
        }
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }
}
