using System.Text;
using System.Text.RegularExpressions;
using Palu.Runtime.Cuda;

namespace Palu.Tests.Runtime;

/// <summary>
/// The CUDA kernels without a GPU: every kernel the backend launches by name is defined in the sources, and the
/// sources compile with NVRTC (which needs no GPU or driver) for Ampere and Hopper with the backend's options, every
/// launched kernel present in the result. Skipped where no NVRTC library loads (./setup.sh unpacks one into
/// .tools/nvrtc).
/// </summary>
public class CudaKernelCompileTests
{
    static readonly string Source = CudaBackend.KernelSource();

    /// <summary>Kernel names as the backend launches them (CudaBackend*.cs; names built from a dtype, width or row count
    /// expanded by hand).</summary>
    static IEnumerable<string> Launched()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "src", "Palu", "Runtime", "Cuda");
        var code = string.Concat(Directory.GetFiles(dir, "CudaBackend*.cs").Select(File.ReadAllText));
        var literal = new Regex("Launch(?:WithShared)?\\(\"([a-z0-9_]+)\"");
        var names = literal.Matches(code).Select(m => m.Groups[1].Value).Where(n => !n.EndsWith('_')).ToHashSet();
        foreach (var m in new Regex("\"(gemv[sm]2x_bf16)\"").Matches(code).Cast<Match>()) names.Add(m.Groups[1].Value);
        foreach (var dt in new[] { "f32", "bf16", "f16" })
            foreach (var prefix in new[] { "attn_", "attn_split_", "embed_", "gemv_", "store_", "store4_", "store_seqs_", "rows_" }) names.Add(prefix + dt);
        foreach (int d in new[] { 64, 128 })
            foreach (var kind in new[] { "", "m", "c", "mc" }) names.Add($"attn_decode{kind}{d}_bf16");
        foreach (int d in new[] { 32, 64, 128 }) { names.Add($"flash{d}_bf16"); names.Add($"flash_seqs{d}_bf16"); }
        foreach (int r in new[] { 1, 2, 4 }) { names.Add($"gemvt{r}_bf16"); names.Add($"gemvt{r}_swiglu"); }
        foreach (int r in new[] { 2, 4 }) names.Add($"gemvt{r}_glu");
        names.Add("gemvq2_bf16"); names.Add("gemvq2_swiglu"); names.Add("gemvq2_glu");
        // a gemvt or gemvq name built in code (such as $"gemvt{R}_glu") that no line above covers fails here, so
        // that the list cannot fall behind the launches
        foreach (var m in new Regex("\\$\"(gemv[tq][a-z0-9_{}]*)\"|\"(gemvt[a-z0-9_]*_)\" \\+").Matches(code).Cast<Match>())
        {
            string built = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value + "{dtype}";
            string pattern = "^" + Regex.Replace(built, "\\{[^}]*\\}", "[a-z0-9]+") + "$";
            Assert.True(names.Any(n => Regex.IsMatch(n, pattern)), $"the kernel name {built} is launched but not listed in CudaKernelCompileTests.Launched");
        }
        return names.Order();
    }

    [Fact]
    public void EveryLaunchedKernelIsDefined()
    {
        var defined = new Regex("extern \"C\" __global__ void ([a-z0-9_]+)\\(").Matches(Source).Select(m => m.Groups[1].Value).ToHashSet();
        var launched = Launched().ToList();
        Assert.True(launched.Count > 40, $"only {launched.Count} launched kernel names found");
        var missing = launched.Where(n => !defined.Contains(n)).ToList();
        Assert.True(missing.Count == 0, "launched but not defined in Kernels/*.cu: " + string.Join(", ", missing));
    }

    [NvrtcTheory]
    [InlineData(80)]
    [InlineData(90)]
    public void TheKernelsCompile(int arch)
    {
        byte[] cubin = Nvrtc.CompileUncached(Source, "palu.cu", arch);
        string symbols = Encoding.ASCII.GetString(cubin);   // an ELF: the kernel names are in its string table
        var missing = Launched().Where(n => !symbols.Contains(n + "\0")).ToList();
        Assert.True(missing.Count == 0, $"not in the sm_{arch} CUBIN: " + string.Join(", ", missing));
    }

    [NvrtcFact]
    public void ABrokenKernelIsReportedWithNvrtcsLog()
    {
        var e = Assert.Throws<CudaException>(() => Nvrtc.CompileUncached(Source + "\nextern \"C\" __global__ void broken() { int x = ; }\n", "palu.cu", 90));
        Assert.Contains("NVRTC could not compile palu.cu for sm_90", e.Message);
        Assert.Contains("expected an expression", e.Message);
    }
}

/// <summary>NVRTC from ./setup.sh's .tools/nvrtc when PALU_NVRTC_DIR is not set, and whether one loads.</summary>
static class NvrtcForTests
{
    public static readonly string? Missing = Find();

    static string? Find()
    {
        string local = Path.Combine(TestPaths.RepoRoot, ".tools", "nvrtc");
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PALU_NVRTC_DIR")) && Directory.Exists(local))
            Environment.SetEnvironmentVariable("PALU_NVRTC_DIR", local);
        return Nvrtc.Available() ? null : "no NVRTC library loads (./setup.sh unpacks one into .tools/nvrtc; or set PALU_NVRTC_DIR)";
    }
}

/// <summary>A Fact skipped, with the reason, where no NVRTC library loads.</summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute() { if (NvrtcForTests.Missing is { } m) Skip = m; }
}

/// <summary>The Theory form of <see cref="NvrtcFactAttribute"/>.</summary>
public sealed class NvrtcTheoryAttribute : TheoryAttribute
{
    public NvrtcTheoryAttribute() { if (NvrtcForTests.Missing is { } m) Skip = m; }
}
