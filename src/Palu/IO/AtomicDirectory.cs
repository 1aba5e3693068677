namespace Palu.IO;

/// <summary>
/// Builds an output directory in a sibling staging folder and renames it into place on <see cref="Commit"/>, so an
/// interrupted run never leaves a half-written checkpoint at the destination. Disposing without committing deletes
/// the staging folder.
/// </summary>
public sealed class AtomicDirectory : IDisposable
{
    readonly string _dest;
    readonly bool _overwrite;
    bool _committed;

    public string Path { get; }

    public AtomicDirectory(string dest, bool overwrite)
    {
        _dest = System.IO.Path.GetFullPath(dest.TrimEnd('/', '\\'));
        _overwrite = overwrite;
        CheckTarget(_dest, overwrite);
        if (File.Exists(_dest)) throw new IOException($"{_dest}: a file is in the way of the output directory");
        string parent = System.IO.Path.GetDirectoryName(_dest)!;
        Directory.CreateDirectory(parent);
        StagingFolders.CleanStale(_dest);
        Path = System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(_dest)}.staging-{Environment.ProcessId}-{Guid.NewGuid():N}"[..^24]);
        Directory.CreateDirectory(Path);
        // marks the folder as ours: a later run removes it if this process is killed before Commit or Dispose
        File.WriteAllText(System.IO.Path.Combine(Path, StagingFolders.Marker), Environment.ProcessId.ToString());
    }

    /// <summary>
    /// Throws unless <paramref name="dest"/> may be written: missing, empty, or <paramref name="overwrite"/> is set.
    /// For commands that check before long work; the message names <paramref name="dest"/> as given.
    /// </summary>
    public static void CheckTarget(string dest, bool overwrite)
    {
        if (Directory.Exists(dest) && Directory.EnumerateFileSystemEntries(dest).Any() && !overwrite)
            throw new IOException($"{dest}: output directory exists and is not empty; pass --overwrite to replace it");
    }

    public void Commit()
    {
        File.Delete(System.IO.Path.Combine(Path, StagingFolders.Marker));
        if (Directory.Exists(_dest))
        {
            if (!_overwrite && Directory.EnumerateFileSystemEntries(_dest).Any())
                throw new IOException($"{_dest}: output directory appeared while writing; not replacing it");
            string old = _dest + ".old-" + Environment.ProcessId;
            Directory.Move(_dest, old);
            Directory.Move(Path, _dest);
            Directory.Delete(old, true);
        }
        else Directory.Move(Path, _dest);
        _committed = true;
    }

    public void Dispose()
    {
        if (!_committed && Directory.Exists(Path))
            try { Directory.Delete(Path, true); } catch (IOException) { }
    }
}
