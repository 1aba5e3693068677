using System.CommandLine;
using Palu.IO;
using Palu.Text;

namespace Palu.Cli;

/// <summary>
/// The global switches of the input checks, on every command: <c>--no-check-weights</c> (skip the NaN/Inf and dtype
/// scan of the weights at load) and <c>--allow-invalid-text</c> (use text inputs that are not clean UTF-8, with a
/// warning that counts the bad bytes).
/// </summary>
public static class Safety
{
    public static readonly Option<bool> NoCheckWeights = new("--no-check-weights")
    {
        Description = "do not scan the weights for NaN/Inf and mislabelled dtypes at load (the scan reads every weight once)",
        Recursive = true,
    };

    public static readonly Option<bool> AllowInvalidText = new("--allow-invalid-text")
    {
        Description = "use text inputs (--calib, --data, --prompt-file) that are not clean UTF-8: a warning counts the bad bytes, which read as U+FFFD",
        Recursive = true,
    };

    public static void AddTo(RootCommand root)
    {
        root.Options.Add(NoCheckWeights);
        root.Options.Add(AllowInvalidText);
    }

    /// <summary>Applies both from a parse result; called once before the command runs.</summary>
    public static void Apply(ParseResult parse)
    {
        WeightCheck.Enabled = !parse.GetValue(NoCheckWeights);
        TextInput.AllowInvalid = parse.GetValue(AllowInvalidText);
        TextInput.Warn = Cli.Warn;
    }
}
