using System.CommandLine;
using System.Text.Json;
using Palu.IO;
using Palu.LinearAlgebra;
using Spectre.Console;

namespace Palu.Cli;

/// <summary>Shared plumbing: error handling and exit codes, JSON on stdout, progress on stderr.</summary>
public static class Cli
{
    /// <summary>Exit codes: 0 ok, 1 user error (bad input, unsupported model), 2 runtime failure, 130 cancelled.</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        try
        {
            return await root.Parse(args).InvokeAsync(config);
        }
        catch (Exception e) when (Unwrap(e) is var inner && IsUserError(inner))
        {
            Console.Error.WriteLine($"error: {inner.Message}");
            return 1;
        }
        catch (Exception e) when (Unwrap(e) is OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"internal error: {Unwrap(e)}");
            return 2;
        }
    }

    static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerExceptions[0]) : e;

    static bool IsUserError(Exception e) =>
        e is ModelFormatException or ArgumentException or IOException or LinearAlgebraException or InvalidOperationException
            or NotSupportedException;

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Writes one JSON object on stdout (and nothing else goes there in --json mode).</summary>
    public static void WriteJson(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, JsonOptions));

    /// <summary>A console on stderr for tables, status and progress (stdout stays clean for --json).</summary>
    public static IAnsiConsole Err { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>True when stderr is an interactive terminal (progress bars); otherwise progress is silent.</summary>
    public static bool Interactive => !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/> with a progress reporter: a Spectre bar on a terminal, nothing otherwise.</summary>
    public static T WithProgress<T>(string description, Func<IProgress<double>, T> work) => WithSteps(step => work(step(description)));

    /// <summary>
    /// Runs <paramref name="work"/> with a factory of progress reporters, one per step (its label): a Spectre bar per
    /// step on a terminal; otherwise silent reporters, and the label on a stderr line when <paramref name="echoSteps"/>.
    /// </summary>
    public static T WithSteps<T>(Func<Func<string, IProgress<double>>, T> work, bool echoSteps = false)
    {
        if (!Interactive)
            return work(label =>
            {
                if (echoSteps) Console.Error.WriteLine(label);
                return new SyncProgress<double>(_ => { });
            });
        T result = default!;
        Err.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                result = work(label =>
                {
                    var task = ctx.AddTask(label, maxValue: 1.0);
                    return new SyncProgress<double>(v => task.Value = v);
                });
            });
        return result;
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
