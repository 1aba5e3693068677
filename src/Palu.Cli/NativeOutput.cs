using System.Runtime.InteropServices;

namespace Palu.Cli;

/// <summary>
/// Native libraries (LAPACK's xerbla, OpenBLAS) print on file descriptor 1, which would break <c>--json</c> output.
/// At start-up .NET's Console.Out is bound to a duplicate of the real stdout, then descriptor 1 is pointed at stderr:
/// our own output still reaches stdout, anything a native library prints goes to stderr.
/// </summary>
public static class NativeOutput
{
    static bool _done;

    public static void KeepStdoutClean()
    {
        if (_done || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return;
        _done = true;
        // both are cached on first use: evaluate them while descriptor 1 is still the real stdout
        _ = Console.IsOutputRedirected;
        _ = Cli.Out;
        Console.Out.Flush();   // .NET opens its stdout stream on a dup() of descriptor 1 on first use
        try { if (dup2(2, 1) < 0) return; }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [DllImport("libc", SetLastError = true)] static extern int dup2(int oldfd, int newfd);
}
