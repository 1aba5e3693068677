using System.CommandLine;
using System.CommandLine.Invocation;
using System.Text.Json;
using System.Text.RegularExpressions;
using Palu.IO;
using Palu.LinearAlgebra;
using Spectre.Console;

namespace Palu.Cli;

/// <summary>Shared plumbing: parsing and exit codes, short parse errors, JSON on stdout, messages and progress on stderr.</summary>
public static partial class Cli
{
    public const string Description =
        "palu: low-rank compression of the KV cache of Hugging Face Llama-family models (Palu, ReCalKV), with its own inference " +
        "engine (CPU SIMD, NVIDIA CUDA) and evaluation harness. Options can also come from a file: palu compress MODEL @options.txt (written as on the command line; # starts a comment).";

    /// <summary>The root command with every subcommand, the global <c>--threads</c> and <c>palu help</c>.</summary>
    public static RootCommand CreateRoot(params Command[] commands)
    {
        var root = new RootCommand(Description);
        root.Options.Add(CommonOptions.Threads);
        Safety.AddTo(root);
        foreach (var c in commands) root.Subcommands.Add(c);
        var names = new Argument<string[]>("COMMAND") { Arity = ArgumentArity.ZeroOrMore, Description = "the command, e.g. compress or eval ppl" };
        var help = new Command("help", "Show the help of palu or of a command: palu help eval ppl") { names };
        help.SetAction(p => Help(root, p.GetValue(names) ?? []));
        root.Subcommands.Add(help);
        return root;
    }

    /// <summary>Exit codes: 0 ok, 1 user error (bad input or option, unsupported model), 2 runtime failure, 130 cancelled.</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        // Ctrl+C / SIGTERM cancel the command's token; the command has this long to clean up (staging folders) and exit 130
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = TimeSpan.FromSeconds(60) };
        NativeOutput.KeepStdoutClean();
        try
        {
            var parse = root.Parse(args);
            if (parse.Action is ParseErrorAction) return ParseErrors(root, parse);
            CommonOptions.ApplyThreads(parse);
            Safety.Apply(parse);
            return await parse.InvokeAsync(config);
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
            // one line, never a stack trace (unless PALU_DEBUG=1): what failed and where to report it
            var inner = Unwrap(e);
            Console.Error.WriteLine($"internal error: {inner.GetType().Name}: {Friendly(inner.Message)} (a bug in palu: please report it with the command line; " +
                "PALU_DEBUG=1 shows the stack trace)");
            if (Environment.GetEnvironmentVariable("PALU_DEBUG") == "1") Console.Error.WriteLine(inner);
            return 2;
        }
    }

    /// <summary>A bare command group (palu, palu eval) prints its help; anything else prints one line per error and where the help is.</summary>
    static int ParseErrors(RootCommand root, ParseResult parse)
    {
        var path = CommandPath(parse.CommandResult.Command, root);
        if (parse.Errors.All(e => e.Message.StartsWith("Required command was not provided", StringComparison.Ordinal)))
        {
            Help(root, path);
            return 1;
        }
        foreach (var e in parse.Errors) Console.Error.WriteLine("error: " + OptionPrefix(e, Friendly(e.Message)));
        Console.Error.WriteLine($"(palu {string.Join(' ', path.Append("--help"))} lists the options)");
        return 1;
    }

    /// <summary>"--protocol: Argument 'x' not recognized…": the option an error is about, when the message does not say.</summary>
    static string OptionPrefix(System.CommandLine.Parsing.ParseError e, string message)
    {
        string? name = e.SymbolResult switch
        {
            System.CommandLine.Parsing.OptionResult o => o.Option.Name,
            System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult po } => po.Option.Name,
            _ => null,
        };
        return name != null && !message.Contains(name, StringComparison.Ordinal) ? $"{name}: {message}" : message;
    }

    static string[] CommandPath(Command cmd, RootCommand root)
    {
        if (cmd == root) return [];
        foreach (var c in root.Subcommands)
        {
            if (c == cmd) return [c.Name];
            foreach (var s in c.Subcommands)
                if (s == cmd) return [c.Name, s.Name];
        }
        return [cmd.Name];
    }

    static int Help(RootCommand root, string[] path)
    {
        Command cmd = root;
        foreach (var name in path)
        {
            var next = cmd.Subcommands.FirstOrDefault(s => s.Name == name);
            if (next is null)
            {
                Console.Error.WriteLine($"error: no command '{string.Join(' ', path)}'; commands: {string.Join(", ", cmd.Subcommands.Select(s => s.Name))}");
                return 1;
            }
            cmd = next;
        }
        return root.Parse([.. path, "--help"]).Invoke();
    }

    [GeneratedRegex(@"^Cannot parse argument '(.*)' for (option|argument) '(.*)' as expected type '(.*)'\.?$", RegexOptions.Singleline)]
    private static partial Regex TypeError();

    /// <summary>One line, in words: "--limit expects an integer, got 'abc'" instead of .NET type names.</summary>
    public static string Friendly(string message)
    {
        var m = TypeError().Match(message);
        if (m.Success)
        {
            string type = m.Groups[4].Value;
            string what = type.Contains("Int32") || type.Contains("Int64") ? "an integer"
                : type.Contains("Double") || type.Contains("Single") ? "a number"
                : type.Contains("Boolean") ? "true or false" : "a value of another kind";
            return $"{m.Groups[3].Value} expects {what}, got '{m.Groups[1].Value}'";
        }
        return Regex.Replace(message, @"\s*\r?\n\s*", " ").Trim();
    }

    static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerExceptions[0]) : e;

    static bool IsUserError(Exception e) =>
        e is ModelFormatException or ArgumentException or IOException or LinearAlgebraException or InvalidOperationException
            or NotSupportedException or UnauthorizedAccessException or OutOfMemoryException;

    /// <summary>The one wording of every --json option.</summary>
    public const string JsonHelp = "print one JSON object on stdout (messages and progress stay on stderr)";

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Writes one JSON object on stdout (and nothing else goes there in --json mode).</summary>
    public static void WriteJson(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, JsonOptions));

    /// <summary>True when stderr is an interactive terminal: progress bars and colours; otherwise plain lines.</summary>
    public static bool Interactive { get; } = !Console.IsErrorRedirected;

    /// <summary>A console on stderr for tables, status and progress (stdout stays clean for --json); no escape codes unless a terminal.</summary>
    public static IAnsiConsole Err { get; } = CreateConsole(Console.Error, Interactive);

    /// <summary>A console on stdout for tables (inspect): no escape codes when stdout is not a terminal.</summary>
    public static IAnsiConsole Out { get; } = CreateConsole(Console.Out, !Console.IsOutputRedirected);

    static IAnsiConsole CreateConsole(TextWriter writer, bool terminal) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
        ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
    });

    /// <summary>A message on stderr: Spectre markup on a terminal; the plain text on one line otherwise.</summary>
    public static void Info(string markup)
    {
        if (Interactive) Err.MarkupLine(markup);
        else Console.Error.WriteLine(Markup.Remove(markup));
    }

    /// <summary>"warning: …" on stderr (yellow on a terminal).</summary>
    public static void Warn(string text) => Info($"[yellow]warning[/]: {Markup.Escape(text)}");

    /// <summary>Runs <paramref name="work"/> with one progress step (see <see cref="CliProgress"/>).</summary>
    public static T WithProgress<T>(string label, Func<ProgressStep, T> work) => CliProgress.Run(label, work);

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
