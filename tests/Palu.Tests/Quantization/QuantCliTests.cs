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

    [Fact]
    public void InspectCountsEveryStoredByteAndThePapersAccountingBeside()
    {
        using var tmp = TestPaths.Temp();
        string dir = tmp.File("q3");
        CliRunner.Run("compress", "--model", Tiny, "--out", dir, "--kv-keep", "0.5", "--kv-bits", "3", "--hadamard", "--decomposition", "svd").Ok();
        var j = CliRunner.Run("inspect", "--model", dir, "--json").Json();
        Assert.Equal(3, j.GetProperty("kv_bits").GetInt32());
        Assert.True(j.GetProperty("hadamard").GetBoolean());
        Assert.StartsWith("hadamard Paley I (q = 11)", j.GetProperty("rotations")[0].GetString());   // r = 96 = 12·8
        // tiny: 4 layers × (K, V) × one group of rank 96: 96·3/8 = 36 code bytes + f16 scale + f16 zero-point
        Assert.Equal(4 * 2 * (36 + 4), j.GetProperty("kv_bytes_per_token").GetInt64());
        Assert.Equal(1 - 320.0 / 3072, j.GetProperty("kv_compression_stored_vs_fp16").GetDouble(), 5);
        Assert.Equal(1 - 0.5 * 3 / 16, j.GetProperty("kv_compression_paper").GetDouble(), 5);
        var e = CliRunner.Run("eval", "ppl", "--model", dir, "--max-windows", "1", "--seq-len", "128", "--json").Json();
        Assert.Equal("latent-packed", e.GetProperty("kv_cache").GetString());
        Assert.Equal(320, e.GetProperty("kv_bytes_per_token").GetInt64());
    }
}
