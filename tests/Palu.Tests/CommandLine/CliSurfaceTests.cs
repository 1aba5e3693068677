using System.Text.Json;

namespace Palu.Tests.CommandLine;

/// <summary>The command line itself: help, version, parse errors, --threads, prompts from files and stdin, stop strings, penalties.</summary>
public class CliSurfaceTests
{
    static readonly string Tiny = TestPaths.Model("tiny");
    static readonly string Stories = TestPaths.Model("stories260k");

    [Fact]
    public void Version_and_help_command()
    {
        var v = CliRunner.Run("--version").Ok();
        Assert.Matches(@"^\d+\.\d+\.\d+", v.Stdout.Trim());

        var help = CliRunner.Run("help", "eval", "ppl").Ok();
        Assert.Equal(CliRunner.Run("eval", "ppl", "--help").Ok().Stdout, help.Stdout);
        Assert.Contains("--protocol", help.Stdout);
        var unknown = CliRunner.Run("help", "nosuch");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no command 'nosuch'; commands: inspect, generate, eval, compress, fisher", unknown.Stderr);

        // a bare command group prints its help
        var bare = CliRunner.Run("eval");
        Assert.Equal(1, bare.ExitCode);
        Assert.Contains("zeroshot", bare.Stdout);
    }

    [Fact]
    public void Root_help_claims_only_what_exists()
    {
        string help = CliRunner.Run("--help").Ok().Stdout;
        foreach (var absent in new[] { "FLRC", "ALGORITHMS.md" }) Assert.DoesNotContain(absent, help);
        Assert.Contains("ReCalKV", help);   // compress --method recalkv
        Assert.Contains("--weights-keep", CliRunner.Run("compress", "--help").Ok().Stdout);   // SkipCat and SVD-LLM exist
        foreach (var cmd in new[] { "inspect", "generate", "eval", "compress", "fisher" })
        {
            string h = CliRunner.Run(cmd.Split(' ').Append("--help").ToArray()).Ok().Stdout;
            Assert.DoesNotContain("ALGORITHMS.md", h);
            Assert.DoesNotContain("\n  -t, --task", h);
        }
        // the protocol paragraph once per help page
        string ppl = CliRunner.Run("eval", "ppl", "--help").Ok().Stdout;
        Assert.Equal(1, ppl.Split("non-overlapping windows").Length - 1);
        Assert.Equal(0, CliRunner.Run("eval", "suite", "--help").Ok().Stdout.Split("non-overlapping windows").Length - 1);
        // -t is --threads everywhere
        Assert.Contains("-t, --threads <N>", CliRunner.Run("generate", "--help").Ok().Stdout);
        Assert.Contains("-t, --threads <N>", CliRunner.Run("eval", "zeroshot", "--help").Ok().Stdout);
    }

    [Fact]
    public void Parse_errors_are_short_and_name_the_option()
    {
        var r = CliRunner.Run("eval", "zeroshot", Tiny, "--task", "piqa", "--limit", "abc");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("error: --limit expects an integer, got 'abc'\n(palu eval zeroshot --help lists the options)\n", r.Stderr.Replace("\r", ""));
        Assert.Equal("", r.Stdout);

        var keep = CliRunner.Run("compress", Tiny, "--out", "x", "--kv-keep", "half");
        Assert.StartsWith("error: --kv-keep expects a number, got 'half'", keep.Stderr);

        var missing = CliRunner.Run("compress", Tiny);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("--out", missing.Stderr);
        Assert.True(missing.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length <= 3, missing.Stderr);

        var noModel = CliRunner.Run("inspect");
        Assert.Contains("error: no model given: palu inspect DIR (or --model DIR)", noModel.Stderr);
        var two = CliRunner.Run("inspect", Tiny, "--model", Stories);
        Assert.Contains("two models given", two.Stderr);

        var threads = CliRunner.Run("inspect", Tiny, "--threads", "0");
        Assert.Equal(1, threads.ExitCode);
        Assert.Contains("--threads must be in [1, 4096], got 0", threads.Stderr);
    }

    [Fact]
    public void Threads_option_sets_the_kernels_default_and_changes_no_number()
    {
        var one = CliRunner.Run("eval", "ppl", Tiny, "--max-windows", "2", "--seq-len", "256", "--threads", "1", "--json").Ok().Json();
        var two = CliRunner.Run("eval", "ppl", "-t", "2", Tiny, "--max-windows", "2", "--seq-len", "256", "--json").Ok().Json();
        Assert.Equal(1, one.GetProperty("threads").GetInt32());
        Assert.Equal(2, two.GetProperty("threads").GetInt32());
        Assert.Equal(one.GetProperty("nll").GetDouble(), two.GetProperty("nll").GetDouble(), 1e-6);
        var dflt = CliRunner.Run("generate", Tiny, "-p", "Hi", "-n", "2", "--json").Ok().Json();
        Assert.Equal(Environment.ProcessorCount, dflt.GetProperty("threads").GetInt32());
    }

    [Fact]
    public void Prompt_from_file_stdin_or_option_gives_the_same_greedy_text()
    {
        using var tmp = TestPaths.Temp();
        File.WriteAllText(tmp.File("p.txt"), "Once upon a time\n");
        string[] common = ["--max-tokens", "12", "--json"];
        string fromOption = CliRunner.Run(["generate", Stories, "--prompt", "Once upon a time", .. common]).Ok().Json().GetProperty("completion").GetString()!;
        string fromFile = CliRunner.Run(["generate", Stories, "--prompt-file", tmp.File("p.txt"), .. common]).Ok().Json().GetProperty("completion").GetString()!;
        string fromStdin = CliRunner.RunIn(tmp.Path, null, "Once upon a time\n", ["generate", Stories, .. common]).Ok().Json().GetProperty("completion").GetString()!;
        string fromDash = CliRunner.RunIn(tmp.Path, null, "Once upon a time", ["generate", Stories, "-f", "-", .. common]).Ok().Json().GetProperty("completion").GetString()!;
        Assert.False(string.IsNullOrWhiteSpace(fromOption));
        Assert.Equal(fromOption, fromFile);
        Assert.Equal(fromOption, fromStdin);
        Assert.Equal(fromOption, fromDash);

        var both = CliRunner.Run("generate", Stories, "--prompt", "a", "--prompt-file", tmp.File("p.txt"));
        Assert.Contains("not both", both.Stderr);
    }

    [Fact]
    public void Stop_string_ends_the_output_before_it()
    {
        var full = CliRunner.Run("generate", Stories, "-p", "Once upon a time", "-n", "40", "--json").Ok().Json();
        string text = full.GetProperty("completion").GetString()!;
        int dot = text.IndexOf('.');
        Assert.True(dot > 0, text);   // the greedy story has a sentence end within 40 tokens
        var stopped = CliRunner.Run("generate", Stories, "-p", "Once upon a time", "-n", "40", "--stop", ".", "--stop", "zzz", "--json").Ok().Json();
        Assert.Equal(text[..dot], stopped.GetProperty("completion").GetString());
        Assert.Equal("stop", stopped.GetProperty("finish_reason").GetString());
        Assert.Equal(".", stopped.GetProperty("stopped_by").GetString());
        Assert.True(stopped.GetProperty("completion_tokens").GetInt32() < full.GetProperty("completion_tokens").GetInt32());

        // streamed to stdout: the prompt, the text up to the stop string, a newline
        var streamed = CliRunner.Run("generate", Stories, "-p", "Once upon a time", "-n", "40", "--stop", ".").Ok();
        Assert.Equal("Once upon a time" + text[..dot] + "\n", streamed.Stdout.Replace("\r", ""));
        Assert.Contains("stop string \".\"", streamed.Stderr);
    }

    [Fact]
    public void Repetition_penalty_changes_a_repetitive_greedy_continuation()
    {
        string Completion(params string[] extra) =>
            CliRunner.Run(["generate", Tiny, "-p", "Once upon a time", "-n", "24", "--json", .. extra]).Ok().Json().GetProperty("completion").GetString()!;
        string plain = Completion(), penalised = Completion("--repetition-penalty", "1.5");
        // tiny's greedy text loops on "the time of the time"; the penalty breaks the loop
        int Repeats(string s) => s.Split("the time").Length - 1;
        Assert.True(Repeats(plain) >= 3, plain);
        Assert.True(Repeats(penalised) < Repeats(plain), penalised);
        Assert.NotEqual(plain, Completion("--frequency-penalty", "1", "--presence-penalty", "0.5"));
        Assert.Contains("--repetition-penalty must be > 0", CliRunner.Run("generate", Tiny, "-p", "x", "--repetition-penalty", "0").Stderr);
    }

    [Fact]
    public void Options_can_come_from_a_response_file()
    {
        using var tmp = TestPaths.Temp();
        File.WriteAllLines(tmp.File("opts.rsp"), ["--max-windows 1", "# a comment", "--seq-len", "128", "--json"]);
        var j = CliRunner.Run("eval", "ppl", Tiny, "@" + tmp.File("opts.rsp")).Ok().Json();
        Assert.Equal(128, j.GetProperty("seq_len").GetInt32());
        Assert.Equal(1, j.GetProperty("windows").GetInt32());
    }
}
