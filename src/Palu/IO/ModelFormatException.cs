namespace Palu.IO;

/// <summary>
/// A model, checkpoint or data file that we cannot use as given. The message names the file, the problem and,
/// where there is one, the fix. The CLI prints it without a stack trace and exits with code 1.
/// </summary>
public sealed class ModelFormatException(string path, string problem, Exception? inner = null)
    : Exception($"{path}: {problem}", inner)
{
    public string FilePath { get; } = path;
}
