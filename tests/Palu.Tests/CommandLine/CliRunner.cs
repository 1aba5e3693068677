using System.Diagnostics;
using System.Text.Json;

namespace Palu.Tests.CommandLine;

/// <summary>Runs the built palu CLI (Palu.Cli.dll next to the tests) as a child process, stdout and stderr through pipes.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        /// <summary>Stdout parsed as exactly one JSON object (fails if anything else is there).</summary>
        public JsonElement Json()
        {
            using var doc = JsonDocument.Parse(Stdout);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
            return doc.RootElement.Clone();
        }

        /// <summary>Fails with the command's stderr when it did not exit 0.</summary>
        public Result Ok()
        {
            Assert.True(ExitCode == 0, $"exit {ExitCode}; stderr:\n{Stderr}");
            return this;
        }
    }

    /// <summary>Runs palu in the repository root with the test's environment; stdin is empty.</summary>
    public static Result Run(params string[] args) => RunIn(TestPaths.RepoRoot, null, null, args);

    /// <summary>
    /// Runs palu in <paramref name="workDir"/>; <paramref name="env"/> sets (or, with a null value, removes) environment
    /// variables; <paramref name="stdin"/> is written to its standard input (empty when null).
    /// </summary>
    public static Result RunIn(string workDir, IReadOnlyDictionary<string, string?>? env, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, WorkingDirectory = workDir,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Palu.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string?>())
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        var inputs = InputHashes.Of(workDir, args);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEndAsync();
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        p.WaitForExit();
        // no command may modify or delete a user's input file (issue 13): every file named on the command line, and
        // every file under a directory named there, hashes the same after the run (outputs excepted)
        InputHashes.AssertUnchanged(inputs, InputHashes.Of(workDir, args), args);
        return new Result(p.ExitCode, output.Result, err.Result);
    }
}
