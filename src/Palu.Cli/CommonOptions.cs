using System.CommandLine;
using System.CommandLine.Parsing;
using Palu.IO;

namespace Palu.Cli;

/// <summary>
/// Options shared by the commands: the model (positional or <c>--model</c>), <c>--threads</c>, and the defaults that come
/// from the model (sequence lengths clamped to its context). Options that every command running a model gets belong here.
/// </summary>
public static class CommonOptions
{
    /// <summary>
    /// <c>-t, --threads N</c> on every command: kernel threads, set once at start-up through
    /// <see cref="Kernels.Cpu.Parallelism.SetDefaultThreads"/> (the only place that sets it).
    /// </summary>
    public static readonly Option<int?> Threads = CreateThreads();

    static Option<int?> CreateThreads()
    {
        var o = new Option<int?>("--threads", "-t")
        {
            Description = $"threads the kernels use [default: all {Environment.ProcessorCount} cores]",
            HelpName = "N",
            Recursive = true,
        };
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is int n && (n < 1 || n > 4096)) r.AddError($"--threads must be in [1, 4096], got {n}");
        });
        return o;
    }

    /// <summary>Applies <see cref="Threads"/> from a parse result; called once before the command runs.</summary>
    public static void ApplyThreads(ParseResult parse)
    {
        if (parse.GetValue(Threads) is int n) Kernels.Cpu.Parallelism.SetDefaultThreads(n);
    }

    /// <summary>min(<paramref name="preferred"/>, the model's max_position_embeddings): the default of every sequence length.</summary>
    public static int ClampToContext(int preferred, ModelConfig c) => Math.Min(preferred, c.MaxPositionEmbeddings);

    /// <summary>
    /// <paramref name="given"/> if set (checked against the context, with the fix in the message), else
    /// min(<paramref name="preferred"/>, context).
    /// </summary>
    public static int SeqLen(int? given, int preferred, ModelConfig c, string option, int min = 2)
    {
        if (given is not int n) return ClampToContext(preferred, c);
        if (n < min) throw new ArgumentException($"{option} must be ≥ {min}, got {n}");
        if (n > c.MaxPositionEmbeddings)
            throw new ArgumentException($"{option} {n} exceeds the model's context (max_position_embeddings {c.MaxPositionEmbeddings}): " +
                $"use {option} {c.MaxPositionEmbeddings} or less, or leave it out (default min({preferred}, context))");
        return n;
    }

    /// <summary>The help text of a sequence length whose default is clamped to the model's context.</summary>
    public static string ContextDefault(int preferred) => $"[default: min({preferred}, max_position_embeddings)]";

    /// <summary>config.json of a model directory (its own errors name the file).</summary>
    public static ModelConfig Config(string modelDir) => ModelConfig.Load(Path.Combine(modelDir, "config.json"));
}

/// <summary>
/// The model a command runs on: <c>palu CMD DIR</c> or <c>palu CMD --model DIR</c> (one of the two).
/// </summary>
public sealed class ModelInput
{
    public const string Wording = "model directory (Hugging Face layout: config.json, *.safetensors, tokenizer.json)";

    readonly Argument<string?> _argument;
    readonly Option<string?> _option;

    /// <param name="which">what kind of model the command takes, appended to the shared wording (e.g. "dense or Palu-compressed")</param>
    public ModelInput(string which)
    {
        string description = $"{Wording}, {which}";
        _argument = new Argument<string?>("MODEL") { Description = description + "; or --model DIR", Arity = ArgumentArity.ZeroOrOne };
        _option = new Option<string?>("--model", "-m") { Description = description + "; or the MODEL argument", HelpName = "DIR" };
    }

    /// <summary>Adds the argument, the option and the check that exactly one of them names the model.</summary>
    public void AddTo(Command cmd)
    {
        cmd.Arguments.Add(_argument);
        cmd.Options.Insert(0, _option);
        cmd.Validators.Add(r =>
        {
            string? a = r.GetValue(_argument), o = r.GetValue(_option);
            if (a is null && o is null) r.AddError($"no model given: palu {CommandPath(r)} DIR (or --model DIR)");
            else if (a is not null && o is not null && a != o) r.AddError($"two models given ('{a}' and --model '{o}'): give one");
        });
    }

    public string Get(ParseResult p) => p.GetValue(_option) ?? p.GetValue(_argument)
        ?? throw new ArgumentException("no model given (MODEL or --model DIR)");

    static string CommandPath(CommandResult r)
    {
        var names = new List<string>();
        for (SymbolResult? s = r; s is CommandResult c && c.Parent is not null; s = c.Parent) names.Insert(0, c.Command.Name);
        return string.Join(' ', names);
    }
}

/// <summary>
/// Where the evaluation data lives: <c>$PALU_DATA</c> if set, else <c>../shared/data</c> beside the checkout that holds
/// this build of palu (found by walking up from the tool to Palu.slnx). Calibration text and task files default to it.
/// </summary>
public static class DataPaths
{
    public const string EnvVar = "PALU_DATA";
    public const string CalibrationFile = "calib/corpus-train-2M.txt";
    public const string PerplexityFile = "wikitext-2-raw/wiki.test.raw";

    /// <summary>The data directory (may not exist), and how it was found.</summary>
    public static (string Dir, string How) Default { get; } = Find();

    static (string, string) Find()
    {
        if (Environment.GetEnvironmentVariable(EnvVar) is { Length: > 0 } env) return (Path.GetFullPath(env), "$" + EnvVar);
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Palu.slnx")))
                return (Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "data")), "../shared/data beside the palu checkout");
        return (Path.GetFullPath(Path.Combine("..", "shared", "data")), "../shared/data (no checkout found above the tool; set $" + EnvVar + ")");
    }

    /// <summary>Help text: where a default file is looked for.</summary>
    public static string Help(string relative) =>
        $"[default: {relative} under ${EnvVar}, else under ../shared/data beside the palu checkout; now {Path.Combine(Default.Dir, relative)}]";

    /// <summary>
    /// <paramref name="given"/> if set, else <paramref name="relative"/> under the data directory; an error that says how
    /// to fix it when that default does not exist.
    /// </summary>
    public static string FileOrDefault(string? given, string relative, string option)
    {
        if (given is not null) return given;
        string f = Path.Combine(Default.Dir, relative);
        if (File.Exists(f)) return f;
        throw new ArgumentException($"no {option} given and the default {f} does not exist ({Default.How}): " +
            $"pass {option} FILE, or set ${EnvVar} to a folder that holds {relative}");
    }
}
