using System.Text.Json;
using Palu.Text;

namespace Palu.Tests.CommandLine;

public class CliTests
{
    static readonly string Tiny = TestPaths.Model("tiny");
    static readonly string Wiki = TestPaths.Data("wikitext-2-raw/wiki.test.raw");

    [Fact]
    public void InspectJson()
    {
        var r = CliRunner.Run("inspect", "--model", Tiny, "--json");
        Assert.Equal(0, r.ExitCode);
        var j = r.Json();
        Assert.Equal("LlamaForCausalLM", j.GetProperty("architecture").GetString());
        Assert.Equal(192, j.GetProperty("hidden_size").GetInt32());
        Assert.Equal(2557632, j.GetProperty("parameters").GetInt64());
        Assert.Equal(2557632, j.GetProperty("dtypes").GetProperty("BF16").GetInt64());
        Assert.Equal(2 * 4 * 192 * 4, j.GetProperty("kv_bytes_per_token").GetInt64());
        Assert.Equal(2 * 4 * 192 * 4, j.GetProperty("kv_bytes_per_token_dense").GetInt64());
        Assert.Equal("byte-level BPE", j.GetProperty("tokenizer").GetString());
    }

    [Fact]
    public void GenerateGreedyJsonMatchesGoldenContinuation()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Tiny, "golden", "prompts.json")));
        string prompt = doc.RootElement.GetProperty("prompts")[0].GetString()!;
        var cont = doc.RootElement.GetProperty("per_prompt")[0].GetProperty("greedy_continuation_32").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var r = CliRunner.Run("generate", "--model", Tiny, "--prompt", prompt, "--max-tokens", "32", "--json");
        Assert.Equal(0, r.ExitCode);
        var j = r.Json();
        Assert.Equal(Tokenizer.FromDirectory(Tiny).Decode(cont, skipSpecialTokens: true), j.GetProperty("completion").GetString());
        Assert.Equal(32, j.GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", j.GetProperty("finish_reason").GetString());
    }

    /// <summary>Acceptance: the whole WikiText-2 test file at seq-len 1024 equals golden/perplexity.json within 0.5 %.</summary>
    [Fact]
    public void EvalPplFullWikiTextMatchesGolden()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Tiny, "golden", "perplexity.json")));
        var g = doc.RootElement.GetProperty("wikitext2_test");
        var r = CliRunner.Run("eval", "ppl", "--model", Tiny, "--data", Wiki, "--seq-len", "1024", "--json");
        Assert.Equal(0, r.ExitCode);
        var j = r.Json();
        foreach (var key in new[] { "model", "data", "seq_len", "windows", "tokens", "nll", "ppl", "seconds" }) Assert.True(j.TryGetProperty(key, out _), key);
        Assert.Equal(g.GetProperty("windows").GetInt32(), j.GetProperty("windows").GetInt32());
        Assert.Equal(g.GetProperty("tokens_scored").GetInt64(), j.GetProperty("tokens").GetInt64());
        double want = g.GetProperty("ppl").GetDouble(), got = j.GetProperty("ppl").GetDouble();
        Assert.True(Math.Abs(got / want - 1) < 0.005, $"ppl {got} vs golden {want}");
        Assert.True(Math.Abs(j.GetProperty("nll").GetDouble() - g.GetProperty("mean_nll").GetDouble()) < 1e-4);
    }

    [Fact]
    public void StrideProtocolDropsPartialWindowAndScoresAllButFirst()
    {
        var r = CliRunner.Run("eval", "ppl", "--model", Tiny, "--data", Wiki, "--seq-len", "512", "--protocol", "stride", "--max-windows", "2", "--json");
        Assert.Equal(0, r.ExitCode);
        var j = r.Json();
        Assert.Equal(2, j.GetProperty("windows").GetInt32());
        Assert.Equal(2 * 511, j.GetProperty("tokens").GetInt64());
    }

    [Fact]
    public void CompressThenInspectAndEvaluate()
    {
        using var tmp = TestPaths.Temp();
        string outDir = tmp.File("tiny-palu");
        var c = CliRunner.Run("compress", "--model", Tiny, "--out", outDir, "--kv-keep", "0.5", "--group-size", "1",
            "--calib", TestPaths.Data("calib/corpus-train-2M.txt"), "--calib-samples", "4", "--calib-seq-len", "256", "--json");
        Assert.Equal(0, c.ExitCode);
        Assert.Equal(0.5, c.Json().GetProperty("kv").GetProperty("realized_keep").GetDouble());
        var i = CliRunner.Run("inspect", "--model", outDir, "--json").Json();
        Assert.Equal(2 * 4 * 192 * 4 / 2, i.GetProperty("kv_bytes_per_token").GetInt64());
        Assert.Equal(2 * 4 * 192 * 4, i.GetProperty("kv_bytes_per_token_dense").GetInt64());
        var layer0 = i.GetProperty("palu").GetProperty("layers")[0];
        Assert.Equal([32, 32, 32], layer0.GetProperty("k_ranks").EnumerateArray().Select(e => e.GetInt32()));
        var e = CliRunner.Run("eval", "ppl", "--model", outDir, "--data", Wiki, "--seq-len", "256", "--max-windows", "2", "--json");
        Assert.Equal(0, e.ExitCode);
        Assert.Equal("latent", e.Json().GetProperty("kv_cache").GetString());
        // the CLI reports exactly what the library computes on the compressed model
        using var lm = Palu.Models.CausalLM.Load(outDir);
        var want = Palu.Evaluation.Perplexity.EvaluateText(lm, Palu.Text.Tokenizer.FromDirectory(outDir), File.ReadAllText(Wiki), 256,
            Palu.Evaluation.PerplexityProtocol.BosWindows, 2);
        Assert.Equal(want.Ppl, e.Json().GetProperty("ppl").GetDouble(), 12);
        Assert.Equal(want.Tokens, e.Json().GetProperty("tokens").GetInt64());
    }

    [Fact]
    public void UserErrorsExitOneWithTheFileNamed()
    {
        var missing = CliRunner.Run("eval", "ppl", "--model", Tiny, "--data", "/nonexistent/wiki.txt", "--json");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("/nonexistent/wiki.txt", missing.Stderr);
        Assert.Equal("", missing.Stdout);

        var noModel = CliRunner.Run("inspect", "--model", "/nonexistent/model");
        Assert.Equal(1, noModel.ExitCode);
        Assert.Contains("/nonexistent/model", noModel.Stderr);

        var tooLong = CliRunner.Run("generate", "--model", Tiny, "--prompt", "hello", "--max-tokens", "5000");
        Assert.Equal(1, tooLong.ExitCode);
        Assert.Contains("context of 2048", tooLong.Stderr);

        var badKeep = CliRunner.Run("compress", "--model", Tiny, "--out", "/tmp/never", "--kv-keep", "1.5", "--decomposition", "svd");
        Assert.Equal(1, badKeep.ExitCode);
        Assert.Contains("--kv-keep", badKeep.Stderr);
    }

    /// <summary>
    /// Acceptance: eval suite on tiny reports the papers' six tasks (WinoGrande from a given file, HellaSwag from the shipped
    /// llama.cpp text file) plus BoolQ, and the six-task average excludes BoolQ.
    /// </summary>
    [Fact]
    public void SuiteOnTinyReportsThePapersSixTasksPlusBoolQ()
    {
        using var tmp = TestPaths.Temp();
        string wino = Path.Combine(TestPaths.RepoRoot, "tests", "Palu.Tests", "Evaluation", "Fixtures", "winogrande-dev.jsonl");
        var j = CliRunner.Run("eval", "suite", Tiny, "--out", tmp.File("r"), "--limit", "12", "--max-windows", "1",
            "--task-file", "winogrande=" + wino, "--json").Ok().Json();
        var model = j.GetProperty("model");
        var tasks = model.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("task").GetString()!);
        Assert.Equal(["piqa", "arc-easy", "arc-challenge", "openbookqa", "hellaswag", "winogrande", "boolq"], tasks.Keys);
        Assert.EndsWith("tasks/hellaswag/hellaswag_val_full.txt.bz2", tasks["hellaswag"].GetProperty("source").GetString());
        Assert.Equal(12, tasks["hellaswag"].GetProperty("n").GetInt32());
        string[] accNorm = ["arc-challenge", "openbookqa", "hellaswag"];
        double six = new[] { "piqa", "arc-easy", "arc-challenge", "openbookqa", "hellaswag", "winogrande" }
            .Average(t => tasks[t].GetProperty(accNorm.Contains(t) ? "acc_norm" : "acc").GetDouble());
        Assert.Equal(six, model.GetProperty("paper_average").GetDouble(), 12);
        Assert.Equal(6, model.GetProperty("paper_average_tasks").GetArrayLength());
        Assert.Contains("| average of the papers' 6 tasks |", File.ReadAllText(Path.Combine(tmp.File("r"), "results.md")));

        // the same HellaSwag items scored alone give the same accuracy
        var alone = CliRunner.Run("eval", "zeroshot", Tiny, "--task", "hellaswag", "--limit", "12", "--json").Ok().Json();
        Assert.Equal(tasks["hellaswag"].GetProperty("acc_norm").GetDouble(), alone.GetProperty("acc_norm").GetDouble());
    }
}
