namespace Palu.IO;

/// <summary>
/// The one style of every bad-input error: the file (or option), the field, the value, why it is wrong, and the fix.
/// A file problem is a <see cref="ModelFormatException"/>, an option problem an <see cref="ArgumentException"/>; the CLI
/// prints either on one line and exits 1.
/// </summary>
public static class InputError
{
    /// <summary>"FILE: field 'F' = V: why; fix: how".</summary>
    public static ModelFormatException Field(string file, string field, string value, string why, string fix) =>
        new(file, $"field '{field}' = {value}: {why}; fix: {fix}");

    /// <summary>"FILE: why; fix: how" (a problem of the whole file).</summary>
    public static ModelFormatException File(string file, string why, string fix, Exception? inner = null) =>
        new(file, $"{why}; fix: {fix}", inner);

    /// <summary>"--option V: why; fix: how".</summary>
    public static ArgumentException Option(string option, string value, string why, string fix) =>
        new($"{option} {value}: {why}; fix: {fix}");

    /// <summary>A value as it is quoted in messages (strings in quotes, long ones cut).</summary>
    public static string Quote(string s) => s.Length > 80 ? $"'{s[..77]}...'" : $"'{s}'";
}
