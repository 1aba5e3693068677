using System.Text;

namespace Palu.IO;

/// <summary>Whole-file writes through a temporary file and a rename, so a reader never sees half a file.</summary>
public static class AtomicFile
{
    /// <summary>
    /// <paramref name="write"/> fills a temporary file next to <paramref name="path"/>, which is flushed to disk and
    /// renamed over <paramref name="path"/>; if anything fails the temporary file is removed.
    /// </summary>
    public static void Write(string path, Action<FileStream> write)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, fs => fs.Write(new UTF8Encoding(false).GetBytes(text)));
}
