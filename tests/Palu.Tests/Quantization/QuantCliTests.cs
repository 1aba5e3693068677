using Palu.Tests.CommandLine;

namespace Palu.Tests.Quantization;

/// <summary>Bad quantisation options are refused before any heavy work, with the option, the value and the fix.</summary>
public class QuantCliTests
{
    static readonly string Tiny = TestPaths.Model("tiny");

    [Fact]
    public void BadOptionsSayWhatToDo()
    {
        var bits = CliRunner.Run("compress", "--model", Tiny, "--out", "/tmp/never-q", "--kv-bits", "5", "--decomposition", "svd");
        Assert.Equal(1, bits.ExitCode);
        Assert.Contains("--kv-bits 5", bits.Stderr);
        Assert.Contains("8, 4, 3, 2", bits.Stderr);

        // tiny, groups of 3 heads, keep 0.5: every rank is 96, which 7 does not divide
        var group = CliRunner.Run("compress", "--model", Tiny, "--out", "/tmp/never-q", "--kv-keep", "0.5", "--kv-bits", "4", "--quant-group", "7", "--decomposition", "svd");
        Assert.Equal(1, group.ExitCode);
        Assert.Contains("--quant-group 7 does not divide the rank 96", group.Stderr);

        var kivi = CliRunner.Run("eval", "ppl", "--model", Tiny, "--kv-quant", "kivi8", "--max-windows", "1");
        Assert.Equal(1, kivi.ExitCode);
        Assert.Contains("kivi2 or kivi4", kivi.Stderr);
    }
}
