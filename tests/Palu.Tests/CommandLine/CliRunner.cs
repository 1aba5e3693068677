using System.Diagnostics;
using System.Text.Json;

namespace Palu.Tests.CommandLine;

/// <summary>Runs the built palu CLI (Palu.Cli.dll next to the tests) as a child process.</summary>
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
    }

    public static Result Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Palu.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return new Result(p.ExitCode, stdout, err.Result);
    }
}
