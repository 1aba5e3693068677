using System.Text.Json;
using System.Text.RegularExpressions;

namespace Palu.Tests.CommandLine;

/// <summary>
/// Every command as a newcomer runs it: only its required options (plus, where the defaults would take minutes, one option
/// that bounds the work and no other: --max-windows, --limit, --samples, --calib-samples), on every shipped model, from
/// a working directory outside the repository and without $PALU_DATA. Each either works with the defaults derived from
/// the model and the data found beside the tool, or fails with a message that says the fix.
/// </summary>
public partial class NewcomerTests
{
    /// <summary>tiny (MHA, 3 KV heads, context 2048), stories260k (GQA 8/4, context 512), and the extra models if present.</summary>
    public static IEnumerable<string> ModelNames()
    {
        yield return "tiny";
        yield return "stories260k";
        foreach (var extra in new[] { "gqa", "small" })
            if (Directory.Exists(TestPaths.Model(extra))) yield return extra;
    }

    public static TheoryData<string> Models() => new(ModelNames());

    /// <summary>The KV-head count and context of a model, from its config.json.</summary>
    static (int KvHeads, int Context, int HeadDim) Shape(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Model(model), "config.json")));
        var r = doc.RootElement;
        int heads = r.GetProperty("num_attention_heads").GetInt32();
        int kv = r.TryGetProperty("num_key_value_heads", out var k) ? k.GetInt32() : heads;
        int dh = r.TryGetProperty("head_dim", out var d) ? d.GetInt32() : r.GetProperty("hidden_size").GetInt32() / heads;
        return (kv, r.GetProperty("max_position_embeddings").GetInt32(), dh);
    }

    /// <summary>Runs palu from a fresh directory outside the repository, with no $PALU_DATA and a private Fisher cache.</summary>
    static CliRunner.Result Outside(TempDir cwd, params string[] args) =>
        CliRunner.RunIn(cwd.Path, new Dictionary<string, string?> { ["PALU_DATA"] = null, ["PALU_CACHE_DIR"] = cwd.File("cache") }, null, args);

    [Theory]
    [MemberData(nameof(Models))]
    public void Inspect_and_generate_with_the_model_as_argument(string name)
    {
        using var cwd = TestPaths.Temp();
        string model = TestPaths.Model(name);
        var byArg = Outside(cwd, "inspect", model, "--json").Ok().Json();
        var byOption = Outside(cwd, "inspect", "--model", model, "--json").Ok().Json();
        Assert.Equal(byOption.GetRawText(), byArg.GetRawText());
        Assert.Equal(Shape(name).KvHeads, byArg.GetProperty("num_kv_heads").GetInt32());

        var g = Outside(cwd, "generate", model, "--prompt", "Once upon a time", "--json").Ok().Json();
        Assert.True(g.GetProperty("completion_tokens").GetInt32() is > 0 and <= 64);   // default --max-tokens 64
        Assert.True(g.GetProperty("decode_tokens_per_s").GetDouble() > 0);
        Assert.True(g.GetProperty("warmup_seconds").GetDouble() > 0);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Eval_ppl_defaults_to_wikitext_at_a_window_within_the_context(string name)
    {
        using var cwd = TestPaths.Temp();
        var j = Outside(cwd, "eval", "ppl", TestPaths.Model(name), "--max-windows", "2", "--json").Ok().Json();
        int L = Math.Min(1024, Shape(name).Context);
        Assert.Equal(L, j.GetProperty("seq_len").GetInt32());
        Assert.Equal(Path.GetFullPath(TestPaths.Data("wikitext-2-raw/wiki.test.raw")), Path.GetFullPath(j.GetProperty("data").GetString()!));
        Assert.Equal(2 * (L - 1), j.GetProperty("tokens").GetInt64());
        Assert.InRange(j.GetProperty("ppl").GetDouble(), 2, 5000);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Eval_zeroshot_finds_the_task_file(string name)
    {
        using var cwd = TestPaths.Temp();
        foreach (var task in new[] { "hellaswag", "boolq" })
        {
            var j = Outside(cwd, "eval", "zeroshot", TestPaths.Model(name), "--task", task, "--limit", "8", "--json").Ok().Json();
            Assert.Equal(8, j.GetProperty("n").GetInt32());
            Assert.StartsWith(TestPaths.Data("tasks/" + task), Path.GetFullPath(j.GetProperty("data").GetString()!));
            Assert.InRange(j.GetProperty("acc").GetDouble(), 0, 1);
        }
        // WinoGrande is not shipped: the message says how to give it
        var w = Outside(cwd, "eval", "zeroshot", TestPaths.Model(name), "--task", "winogrande");
        Assert.Equal(1, w.ExitCode);
        Assert.Contains("pass --data FILE, or set $PALU_DATA", w.Stderr);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Compress_defaults_come_from_the_model(string name)
    {
        using var cwd = TestPaths.Temp();
        var (kv, ctx, _) = Shape(name);
        var c = Outside(cwd, "compress", TestPaths.Model(name), "--out", "compressed", "--calib-samples", "2", "--json").Ok();
        var m = c.Json();
        int groupSize = Enumerable.Range(1, Math.Min(4, kv)).Last(s => kv % s == 0);
        Assert.Equal(groupSize, m.GetProperty("kv").GetProperty("group_size").GetInt32());
        Assert.Equal(Math.Min(2048, ctx), m.GetProperty("calibration").GetProperty("seq_len").GetInt32());
        Assert.Equal("corpus-train-2M.txt", m.GetProperty("calibration").GetProperty("file").GetString());
        Assert.Equal(0.5, m.GetProperty("kv").GetProperty("realized_keep").GetDouble());
        Assert.True(File.Exists(Path.Combine(cwd.Path, "compressed", "palu.json")));
        Assert.DoesNotContain("warning", c.Stderr);   // 0.5 is achievable at the default group size

        // the compressed model runs with the same defaults
        var e = Outside(cwd, "eval", "ppl", "compressed", "--max-windows", "1", "--json").Ok().Json();
        Assert.Equal("latent", e.GetProperty("kv_cache").GetString());
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Fisher_defaults_to_the_shipped_calibration_text_within_the_context(string name)
    {
        using var cwd = TestPaths.Temp();
        var j = Outside(cwd, "fisher", TestPaths.Model(name), "--out", "f.safetensors", "--samples", "2", "--json").Ok().Json();
        Assert.Equal(Math.Min(1024, Shape(name).Context), j.GetProperty("seq_len").GetInt32());
        Assert.True(new FileInfo(Path.Combine(cwd.Path, "f.safetensors")).Length > 0);
        Assert.StartsWith(cwd.File("cache"), j.GetProperty("cache_file").GetString());
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Eval_suite_from_another_directory_finds_the_shipped_data(string name)
    {
        using var cwd = TestPaths.Temp();
        var r = Outside(cwd, "eval", "suite", TestPaths.Model(name), "--out", "report", "--limit", "4", "--max-windows", "1", "--json").Ok();
        var j = r.Json();
        var tasks = j.GetProperty("model").GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("task").GetString()!).ToArray();
        Assert.Equal(["piqa", "arc-easy", "arc-challenge", "openbookqa", "hellaswag", "boolq"], tasks);
        Assert.Equal(2, j.GetProperty("model").GetProperty("perplexity").GetArrayLength());
        Assert.True(File.Exists(Path.Combine(cwd.Path, "report", "index.html")));
        Assert.Contains("average of 5 of the papers' 6 tasks (without winogrande)", File.ReadAllText(Path.Combine(cwd.Path, "report", "results.md")));
    }

    [Fact]
    public void Defaults_that_cannot_work_say_the_fix()
    {
        using var cwd = TestPaths.Temp();
        string tiny = TestPaths.Model("tiny"), stories = TestPaths.Model("stories260k");
        var noData = CliRunner.RunIn(cwd.Path, new Dictionary<string, string?> { ["PALU_DATA"] = cwd.File("nothing") }, null, "eval", "ppl", tiny);
        Assert.Equal(1, noData.ExitCode);
        Assert.Contains("pass --data FILE, or set $PALU_DATA", noData.Stderr);

        var noSuiteData = CliRunner.RunIn(cwd.Path, new Dictionary<string, string?> { ["PALU_DATA"] = cwd.File("nothing") }, null, "eval", "suite", tiny, "--out", "r");
        Assert.Equal(1, noSuiteData.ExitCode);
        Assert.Contains("pass --data-dir DIR or set $PALU_DATA", noSuiteData.Stderr);
        Assert.False(Directory.Exists(cwd.File("r")));

        var emptyData = CliRunner.RunIn(cwd.Path, null, null, "eval", "suite", tiny, "--out", "r", "--data-dir", cwd.Path);
        Assert.Equal(1, emptyData.ExitCode);
        Assert.Contains("nothing to evaluate", emptyData.Stderr);

        var longCalib = Outside(cwd, "compress", stories, "--out", "x", "--calib-seq-len", "2048");
        Assert.Equal(1, longCalib.ExitCode);
        Assert.Contains("use --calib-seq-len 512 or less", longCalib.Stderr);

        var longPpl = Outside(cwd, "eval", "ppl", stories, "--seq-len", "1024");
        Assert.Contains("use --seq-len 512 or less", longPpl.Stderr);

        var badGroup = Outside(cwd, "compress", tiny, "--out", "x", "--group-size", "4");
        Assert.Equal(1, badGroup.ExitCode);
        Assert.Contains("choose one of 1, 3", badGroup.Stderr);

        var compressed = Outside(cwd, "compress", stories, "--out", "c", "--decomposition", "svd").Ok();
        var again = Outside(cwd, "compress", "c", "--out", "c2", "--decomposition", "svd");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("compress the original checkpoint", again.Stderr);
        Assert.Contains("wrote c:", compressed.Stderr);
    }

    [Fact]
    public void Realised_compression_that_misses_the_request_is_flagged_with_the_achievable_values()
    {
        using var cwd = TestPaths.Temp();
        // stories260k, head_dim 8: groups of one head are a single rank multiple, nothing can be removed
        var none = Outside(cwd, "compress", TestPaths.Model("stories260k"), "--out", "a", "--group-size", "1", "--decomposition", "svd").Ok();
        Assert.Contains("warning: --kv-keep 0.5 requested, but 100.00 % of the KV rank is kept (nothing is compressed)", none.Stderr);
        Assert.Contains("--group-size 2 gives 0.5", none.Stderr);
        // tiny M-LRD: 0.3 × 64 rounds to 16 of 64
        var off = Outside(cwd, "compress", TestPaths.Model("tiny"), "--out", "b", "--group-size", "1", "--kv-keep", "0.3", "--decomposition", "svd", "--json").Ok();
        Assert.Equal(0.25, off.Json().GetProperty("kv").GetProperty("realized_keep").GetDouble());
        Assert.Contains("but 25.00 % of the KV rank is kept", off.Stderr);
        Assert.Contains("Nearest achievable with --group-size 1: 0.25 or 0.375; --group-size 3 gives 0.2917", off.Stderr);
        // an achievable request is not flagged
        var exact = Outside(cwd, "compress", TestPaths.Model("tiny"), "--out", "c", "--kv-keep", "0.25", "--decomposition", "svd").Ok();
        Assert.DoesNotContain("warning", exact.Stderr);
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (.*)$")]
    private static partial Regex TimestampedLine();

    /// <summary>Acceptance: stderr through a pipe holds timestamped progress lines, each whole, and no escape code.</summary>
    [Fact]
    public void Progress_through_a_pipe_is_timestamped_lines_without_escape_codes()
    {
        using var cwd = TestPaths.Temp();
        var r = Outside(cwd, "compress", TestPaths.Model("tiny"), "--out", "o", "--calib-samples", "8", "--calib-seq-len", "512").Ok();
        Assert.DoesNotContain('\x1b', r.Stderr);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var progress = lines.Select(l => TimestampedLine().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal("compress: started", progress[0]);
        Assert.Contains(progress, l => Regex.IsMatch(l, @"^compress: +\d+ % \(calibrating\), [\d.]+ s elapsed"));
        Assert.Contains(progress, l => Regex.IsMatch(l, @"^compress: +\d+ % \(decomposing\)"));
        Assert.Contains(progress, l => Regex.IsMatch(l, @"^compress: +\d+ % \(writing\)"));
        Assert.Matches(@"^compress: done in ([\d.]+ s|\d+ min \d+ s)$", progress[^1]);   // minutes on a loaded machine
        // the summary is one line however long (no hard wrap at 80 columns)
        var summary = Assert.Single(lines, l => l.StartsWith("wrote o:"));
        Assert.Contains("linear algebra:", summary);
        Assert.True(summary.Length > 120);
    }
}
