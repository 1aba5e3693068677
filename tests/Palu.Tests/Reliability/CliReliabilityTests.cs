using System.Text.Json.Nodes;
using Palu.Tests.CommandLine;

namespace Palu.Tests.Reliability;

/// <summary>
/// The CLI side of issue 13: outputs never overlap inputs, stale staging folders go, non-finite models exit 1 with
/// clean stdout, doctor's table and exit code. CliRunner also checks that no input file changed in any of these runs.
/// </summary>
public class CliReliabilityTests
{
    /// <summary>A writable copy of tiny (the shared one is read-only by convention).</summary>
    static string TinyCopy(TempDir tmp)
    {
        string dst = tmp.File("m");
        Directory.CreateDirectory(dst);
        foreach (var f in Directory.GetFiles(TestPaths.Model("tiny")))
            File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        return dst;
    }

    static void AssertOneLineError(CliRunner.Result r, params string[] expected)
    {
        Assert.Equal(1, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.Single(lines);
        Assert.DoesNotContain("   at ", r.Stderr);
        foreach (var e in expected) Assert.Contains(e, lines[0]);
    }

    [Theory]
    [InlineData("{M}", "is the input")]
    [InlineData("{T}/link", "is the input")]
    [InlineData("{T}/sub/../m", "is the input")]
    [InlineData("{M}/inside", "lies inside the input")]
    [InlineData("{T}", "is a parent of the input")]
    public void CompressOutOverlappingTheModelIsRefusedBeforeWork(string outTemplate, string why)
    {
        using var tmp = TestPaths.Temp();
        string m = TinyCopy(tmp);
        Directory.CreateSymbolicLink(tmp.File("link"), m);
        Directory.CreateDirectory(tmp.File("sub"));
        string o = outTemplate.Replace("{M}", m).Replace("{T}", tmp.Path);
        var r = CliRunner.Run("compress", m, "--out", o, "--overwrite", "--decomposition", "svd");
        AssertOneLineError(r, "--out", why, "fix:");
    }

    [Fact]
    public void FisherOutIsNotTheModelOrTheCalibrationText()
    {
        using var tmp = TestPaths.Temp();
        string m = TinyCopy(tmp), calib = tmp.File("calib.txt");
        File.WriteAllText(calib, string.Concat(Enumerable.Repeat("Once upon a time there was a cat. ", 400)));
        AssertOneLineError(CliRunner.Run("fisher", m, "--out", Path.Combine(m, "model.safetensors"), "--calib", calib, "--samples", "1", "--seq-len", "16"), "--out");
        AssertOneLineError(CliRunner.Run("fisher", m, "--out", calib, "--calib", calib, "--samples", "1", "--seq-len", "16"), "--out", "is the input");
    }

    [Fact]
    public void StaleStagingFolderOfADeadRunIsRemovedAndALiveOneKept()
    {
        using var tmp = TestPaths.Temp();
        string m = TinyCopy(tmp);
        string dead = tmp.File(".out.staging-999999-deadbeef"), live = tmp.File($".out.staging-{Environment.ProcessId}-deadbeef");
        foreach (var d in new[] { dead, live })
        {
            Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(d, Palu.IO.StagingFolders.Marker), "x");
        }
        CliRunner.Run("compress", m, "--out", tmp.File("out"), "--decomposition", "svd").Ok();
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(live));
        Assert.True(File.Exists(Path.Combine(tmp.File("out"), "palu.json")));
    }

    [Fact]
    public void NanWeightsExitOneWithCleanStdout()
    {
        using var tmp = TestPaths.Temp();
        string m = TinyCopy(tmp);
        InputValidationTests.Poke(m, "model.layers.0.self_attn.q_proj.weight", 0x7FC0);
        string wiki = TestPaths.Data("wikitext-2-raw/wiki.test.raw");
        var r = CliRunner.Run("eval", "ppl", m, "--data", wiki, "--seq-len", "64", "--max-windows", "1", "--json");
        AssertOneLineError(r, "model.layers.0.self_attn.q_proj.weight", "non-finite");
        Assert.Equal("", r.Stdout);
        var g = CliRunner.Run("generate", m, "--prompt", "Once", "--max-tokens", "4", "--no-warmup", "--no-check-weights");
        AssertOneLineError(g, "non-finite logits", "layer 0");
        var d = CliRunner.Run("doctor", m, "--json");
        Assert.Equal(1, d.ExitCode);
        var checks = d.Json().GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("check").GetString()!, c => c.GetProperty("ok").GetBoolean());
        Assert.False(checks["weights finite"]);
        Assert.True(checks["config.json"]);
    }

    [Fact]
    public void DoctorPassesAHealthyModel()
    {
        var r = CliRunner.Run("doctor", TestPaths.Model("tiny"), "--json").Ok();
        var j = r.Json();
        Assert.True(j.GetProperty("ok").GetBoolean());
        Assert.Equal(7, j.GetProperty("checks").GetArrayLength());
    }

    [Fact]
    public void BadConfigValueIsOneLineNamingTheField()
    {
        using var tmp = TestPaths.Temp();
        string m = TinyCopy(tmp);
        string cfg = Path.Combine(m, "config.json");
        var o = JsonNode.Parse(File.ReadAllText(cfg))!.AsObject();
        o["num_hidden_layers"] = -1;
        File.WriteAllText(cfg, o.ToJsonString());
        AssertOneLineError(CliRunner.Run("generate", m, "--prompt", "x", "--max-tokens", "1"), "config.json", "num_hidden_layers", "-1");
    }
}
