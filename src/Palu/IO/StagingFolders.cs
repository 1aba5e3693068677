namespace Palu.IO;

/// <summary>
/// Leftovers of killed runs next to an output: staging folders <c>.NAME.staging-PID-…</c> (and temporary files
/// <c>NAME.tmp-PID</c>) whose process no longer runs are deleted; a <c>NAME.old-PID</c> folder (the previous output,
/// moved aside while the new one was renamed into place) is moved back when NAME is missing, else deleted. Only our own
/// names with a dead pid are touched; a live pid (another run writing now) is left alone.
/// </summary>
public static class StagingFolders
{
    /// <summary>The marker file every staging folder holds (its pid), so only folders we made are removed.</summary>
    public const string Marker = ".palu-staging";

    public static void CleanStale(string dest)
    {
        string? parent = Path.GetDirectoryName(dest);
        if (parent == null || !Directory.Exists(parent)) return;
        string name = Path.GetFileName(dest);
        foreach (var dir in SafeEnumerate(() => Directory.EnumerateDirectories(parent, $".{name}.staging-*")))
            if (PidOf(Path.GetFileName(dir), $".{name}.staging-") is int pid && !Running(pid) && File.Exists(Path.Combine(dir, Marker)))
                TryDelete(dir);
        foreach (var old in SafeEnumerate(() => Directory.EnumerateDirectories(parent, $"{name}.old-*")))
        {
            if (PidOf(Path.GetFileName(old), $"{name}.old-") is not int pid || Running(pid)) continue;
            try
            {
                if (!Directory.Exists(dest)) Directory.Move(old, dest);
                else TryDelete(old);
            }
            catch (IOException) { }
        }
    }

    public static void CleanStaleFiles(string dest)
    {
        string? parent = Path.GetDirectoryName(dest);
        if (parent == null || !Directory.Exists(parent)) return;
        string name = Path.GetFileName(dest);
        foreach (var f in SafeEnumerate(() => Directory.EnumerateFiles(parent, $"{name}.tmp-*")))
            if (PidOf(Path.GetFileName(f), $"{name}.tmp-") is int pid && !Running(pid))
                try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The pid after <paramref name="prefix"/> (digits up to '-' or the end), or null.</summary>
    static int? PidOf(string entry, string prefix)
    {
        if (!entry.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var rest = entry.AsSpan(prefix.Length);
        int dash = rest.IndexOf('-');
        if (dash >= 0) rest = rest[..dash];
        return int.TryParse(rest, out int pid) && pid > 0 ? pid : null;
    }

    /// <summary>Whether a process with this id runs now (on Linux: /proc/PID exists).</summary>
    public static bool Running(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        if (Directory.Exists("/proc/self")) return Directory.Exists($"/proc/{pid}");
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static IEnumerable<string> SafeEnumerate(Func<IEnumerable<string>> list)
    {
        try { return list().ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
