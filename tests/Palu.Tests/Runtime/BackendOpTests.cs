using Palu.Runtime;
using Xunit.Abstractions;

namespace Palu.Tests.Runtime;

/// <summary>
/// One table of op cases run on every backend, compared with the reference backend by normalised mean squared error
/// NMSE = Σ(y − y_ref)² / Σ y_ref² (llama.cpp's test-backend-ops). Shapes include odd sizes, GQA ratios, head_dim
/// 32/64/128, short and long T, every weight and cache dtype. The table, with each op's NMSE per backend, is written
/// to the test output and to TestResults/op-table.txt (test.sh prints it). A GPU backend joins by being listed in
/// <see cref="Candidates"/>.
/// </summary>
public class BackendOpTests(ITestOutputHelper output)
{
    /// <summary>Backends compared with the reference: every one this machine can run.</summary>
    static IEnumerable<Backend> Candidates() => [Backends.Get("cpu")];

    /// <summary>Largest NMSE accepted for an f32 backend (the reference accumulates in double).</summary>
    const double F32Bound = 1e-10;

    [Fact]
    public void EveryOpOnEveryBackendMatchesTheReference()
    {
        var reference = Backends.Get("cpu-reference");
        var candidates = Candidates().ToArray();
        var lines = new List<string> { $"{"op",-24} {"shape",-58} " + string.Join(" ", candidates.Select(c => $"{"NMSE " + c.Name,14}")) };
        var failures = new List<string>();
        int cases = 0;
        foreach (var c in OpCases.All().Concat(PackedOpCases.All()))   // packed latents: CPU backends only for now
        {
            cases++;
            var want = c.Run(reference);
            var cells = new List<string>();
            foreach (var be in candidates)
            {
                double e = OpCases.Nmse(c.Run(be), want);
                cells.Add($"{e,14:E2}");
                if (!(e <= F32Bound)) failures.Add($"{c.Op} {c.Shape} on {be.Name}: NMSE {e:E2} > {F32Bound:E0}");
            }
            lines.Add($"{c.Op,-24} {c.Shape,-58} {string.Join(" ", cells)}");
        }
        lines.Add($"{cases} cases; bound NMSE ≤ {F32Bound:E0} for f32 compute (bf16/f16 inputs are exact in f32)");
        foreach (var l in lines) output.WriteLine(l);
        Directory.CreateDirectory(Path.Combine(TestPaths.RepoRoot, "TestResults"));
        File.WriteAllLines(Path.Combine(TestPaths.RepoRoot, "TestResults", "op-table.txt"), lines);
        Assert.True(cases >= 40, $"only {cases} op cases");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Every backend named on the command line is either built or refused with a message naming the choices.</summary>
    [Fact]
    public void BackendNamesResolveOrExplain()
    {
        Assert.Equal("cpu", Backends.Get("cpu").Name);
        Assert.Equal("cpu-reference", Backends.Get("cpu-reference").Name);
        var e = Assert.Throws<ArgumentException>(() => Backends.Get("tpu"));
        Assert.Contains("cpu, cpu-reference, cuda", e.Message);
        // without an NVIDIA driver (CI), --device cuda says so and names the way out
        if (Palu.Runtime.Cuda.CudaBackend.Unavailable() is string why)
        {
            var n = Assert.Throws<NotSupportedException>(() => Backends.Get("cuda"));
            Assert.Contains(why, n.Message);
            Assert.Contains("use --device cpu", n.Message);
        }
        else Assert.Equal("cuda", Backends.Get("cuda").Name);
    }
}
