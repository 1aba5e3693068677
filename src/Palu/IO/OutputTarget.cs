using System.Runtime.InteropServices;

namespace Palu.IO;

/// <summary>
/// Checks an output path before any work starts (so a bad --out fails in a second, not after hours of calibration):
/// it is not an input, not inside an input, not a parent of one (symbolic links and ../ resolved), and its folder is
/// writable. Stale staging folders of killed runs next to it are removed (<see cref="StagingFolders"/>).
/// </summary>
public static class OutputTarget
{
    /// <summary>An output directory (compress, suite) that must not overlap any of <paramref name="inputs"/>.</summary>
    public static void CheckDirectory(string outDir, string option, bool overwrite, params string?[] inputs)
    {
        RequireNonEmpty(outDir, option);
        string full = Resolve(outDir);
        if (File.Exists(full))
            throw InputError.Option(option, outDir, "is a file, not a directory", "choose a directory path (it is created)");
        CheckOverlap(outDir, full, option, inputs);
        AtomicDirectory.CheckTarget(outDir, overwrite);
        CheckWritable(full, option, outDir);
        StagingFolders.CleanStale(full);
    }

    /// <summary>An output file (fisher) that must not be an input, nor lie inside an input directory.</summary>
    public static void CheckFile(string outFile, string option, params string?[] inputs)
    {
        RequireNonEmpty(outFile, option);
        string full = Resolve(outFile);
        if (Directory.Exists(full))
            throw InputError.Option(option, outFile, "is a directory, not a file", "give a file path such as fisher.safetensors");
        CheckOverlap(outFile, full, option, inputs);
        CheckWritable(full, option, outFile);
        StagingFolders.CleanStaleFiles(full);
    }

    /// <summary>A folder of inputs (--data-dir) that the output may lie inside of, but must not be nor contain.</summary>
    public static void CheckNotSameOrParent(string path, string option, string? input)
    {
        if (string.IsNullOrEmpty(input) || !Directory.Exists(input)) return;
        string full = Resolve(path), inp = Resolve(input);
        if (SamePath(full, inp) || IsInside(inp, full))
            throw InputError.Option(option, path, $"is {(SamePath(full, inp) ? "" : "a parent of ")}the input {input} (resolved: {inp}); replacing it would delete the input",
                "choose a path that does not contain the input");
    }

    /// <summary>A folder we write into (a cache) that must not be or lie inside an input, nor contain one.</summary>
    public static void CheckNotInput(string path, string option, params string?[] inputs) => CheckOverlap(path, Resolve(path), option, inputs);

    static void RequireNonEmpty(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw InputError.Option(option, "''", "is empty", "give a path");
    }

    static void CheckOverlap(string given, string full, string option, string?[] inputs)
    {
        foreach (var input in inputs)
        {
            if (string.IsNullOrEmpty(input) || !(Directory.Exists(input) || File.Exists(input))) continue;
            string inp = Resolve(input);
            if (SamePath(full, inp))
                throw InputError.Option(option, given, $"is the input {input} itself (resolved: {inp}); writing it would destroy the input",
                    "choose a new path for the output");
            if (IsInside(full, inp))
                throw InputError.Option(option, given, $"lies inside the input {input} (resolved: {inp}); writing it would modify the input",
                    "choose a path outside the input");
            if (IsInside(inp, full))
                throw InputError.Option(option, given, $"is a parent of the input {input} (resolved: {inp}); replacing it would delete the input",
                    "choose a path that does not contain the input");
        }
    }

    /// <summary>Nearest existing folder above (or at) <paramref name="full"/> must accept a new entry.</summary>
    static void CheckWritable(string full, string option, string given)
    {
        string? dir = Path.GetDirectoryName(full);
        while (dir != null && !Directory.Exists(dir))
        {
            if (File.Exists(dir))
                throw InputError.Option(option, given, $"lies below {dir}, which is a file, not a folder", "choose a path whose parent folders are folders");
            dir = Path.GetDirectoryName(dir);
        }
        if (dir == null) return;
        string probe = Path.Combine(dir, $".palu-write-probe-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw InputError.Option(option, given, $"cannot be written: the folder {dir} does not accept new files ({e.Message})",
                "choose a writable location or change the folder's permissions");
        }
    }

    static bool SamePath(string a, string b) => string.Equals(a.TrimEnd('/'), b.TrimEnd('/'), StringComparison.Ordinal);

    /// <summary>True when <paramref name="path"/> lies strictly inside <paramref name="dir"/>.</summary>
    public static bool IsInside(string path, string dir)
    {
        string d = dir.TrimEnd('/') + "/";
        return path.StartsWith(d, StringComparison.Ordinal) && path.Length > d.Length;
    }

    /// <summary>
    /// The absolute path with ../ and every symbolic link resolved: the longest existing prefix through realpath, the
    /// rest appended (the output need not exist yet).
    /// </summary>
    public static string Resolve(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        if (full.Length == 0) return "/";
        string existing = full, rest = "";
        while (!Directory.Exists(existing) && !File.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
        {
            rest = rest.Length == 0 ? Path.GetFileName(existing) : Path.Combine(Path.GetFileName(existing), rest);
            existing = parent;
        }
        string real = RealPath(existing) ?? existing;
        return rest.Length == 0 ? real : Path.Combine(real, rest);
    }

    static string? RealPath(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return Path.GetFullPath(path);
        IntPtr p = realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { free(p); }
    }

    [DllImport("libc", CharSet = CharSet.Ansi)] static extern IntPtr realpath(string path, IntPtr resolved);
    [DllImport("libc")] static extern void free(IntPtr p);
}
