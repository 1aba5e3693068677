using System.Runtime.InteropServices;

namespace Palu.LinearAlgebra;

/// <summary>
/// Function pointers into LAPACKE (row-major C interface to LAPACK) and CBLAS, resolved at run time with
/// <see cref="NativeLibrary"/> (no DllImport resolver, so nothing global is registered). LP64 (32-bit lapack_int).
/// </summary>
internal sealed unsafe class NativeLapack
{
    public const int RowMajor = 101;                                  // LAPACK_ROW_MAJOR, CblasRowMajor
    public const int NoTrans = 111, Trans = 112;                      // CBLAS_TRANSPOSE
    public const int Upper = 121, Lower = 122;                        // CBLAS_UPLO
    public const int NonUnit = 131;                                   // CBLAS_DIAG
    public const int Left = 141, Right = 142;                         // CBLAS_SIDE

    /// <summary>Libraries probed for LAPACKE_* (first hit wins).</summary>
    public static readonly string[] LapackeCandidates =
        ["liblapacke.so.3", "liblapacke.so", "libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"];

    /// <summary>
    /// Libraries probed for cblas_* (first hit wins). The reference libblas.so.3 is deliberately not probed: its GEMM
    /// is slower than our managed kernel, so without an optimised BLAS the managed GEMM and TRSM are used.
    /// </summary>
    public static readonly string[] CblasCandidates =
        ["libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
         "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0", "libcblas.so.3"];

    public required string LapackeLibrary { get; init; }
    public string? CblasLibrary { get; init; }

    // LAPACKE (lapack_int LAPACKE_x(int matrix_layout, ...)); char arguments are passed as bytes.
    public delegate* unmanaged[Cdecl]<int, byte, int, double*, int, int> dpotrf;
    public delegate* unmanaged[Cdecl]<int, byte, byte, int, double*, int, int> dtrtri;
    public delegate* unmanaged[Cdecl]<int, byte, byte, int, double*, int, double*, int> dsyevd;
    public delegate* unmanaged[Cdecl]<int, byte, int, int, double*, int, double*, double*, int, double*, int, int> dgesdd;
    public delegate* unmanaged[Cdecl]<int, byte, int, int, float*, int, float*, float*, int, float*, int, int> sgesdd;
    public delegate* unmanaged[Cdecl]<int, byte, byte, int, int, double*, int, double*, double*, int, double*, int, double*, int> dgesvd;
    public delegate* unmanaged[Cdecl]<int, byte, byte, int, int, float*, int, float*, float*, int, float*, int, float*, int> sgesvd;
    public delegate* unmanaged[Cdecl]<int, int, int, double*, int, double*, int> dgeqrf;
    public delegate* unmanaged[Cdecl]<int, int, int, float*, int, float*, int> sgeqrf;
    public delegate* unmanaged[Cdecl]<int, int, int, int, double*, int, double*, int> dorgqr;
    public delegate* unmanaged[Cdecl]<int, int, int, int, float*, int, float*, int> sorgqr;
    public delegate* unmanaged[Cdecl]<int, byte, int, int, int, double*, int, double*, int, int> dgels;

    // CBLAS (null when no optimised CBLAS was found).
    public delegate* unmanaged[Cdecl]<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> cblas_dgemm;
    public delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> cblas_sgemm;
    public delegate* unmanaged[Cdecl]<int, int, int, int, int, int, int, double, double*, int, double*, int, void> cblas_dtrsm;

    public bool HasCblas => cblas_dgemm != null;

    static readonly Lazy<(NativeLapack? Lib, string Error)> s_instance = new(Load);

    /// <summary>The loaded libraries, or null with a reason.</summary>
    public static NativeLapack? TryGet(out string error)
    {
        var (lib, err) = s_instance.Value;
        error = err;
        return lib;
    }

    static (NativeLapack?, string) Load()
    {
        nint lapacke = 0;
        string? lapackeName = null;
        foreach (var name in LapackeCandidates)
        {
            if (!NativeLibrary.TryLoad(name, out var h)) continue;
            if (NativeLibrary.TryGetExport(h, "LAPACKE_dgesdd", out _)) { lapacke = h; lapackeName = name; break; }
            NativeLibrary.Free(h);
        }
        if (lapacke == 0)
            return (null, $"LAPACKE not found (tried {string.Join(", ", LapackeCandidates)}). " +
                          $"On Debian/Ubuntu install it with: {LinearAlgebraProvider.InstallHint}");

        nint cblas = 0;
        string? cblasName = null;
        foreach (var name in CblasCandidates)
        {
            if (!NativeLibrary.TryLoad(name, out var h)) continue;
            if (NativeLibrary.TryGetExport(h, "cblas_dgemm", out _)) { cblas = h; cblasName = name; break; }
            NativeLibrary.Free(h);
        }

        try
        {
            var lib = new NativeLapack { LapackeLibrary = lapackeName!, CblasLibrary = cblasName };
            lib.dpotrf = (delegate* unmanaged[Cdecl]<int, byte, int, double*, int, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dpotrf");
            lib.dtrtri = (delegate* unmanaged[Cdecl]<int, byte, byte, int, double*, int, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dtrtri");
            lib.dsyevd = (delegate* unmanaged[Cdecl]<int, byte, byte, int, double*, int, double*, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dsyevd");
            lib.dgesdd = (delegate* unmanaged[Cdecl]<int, byte, int, int, double*, int, double*, double*, int, double*, int, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dgesdd");
            lib.sgesdd = (delegate* unmanaged[Cdecl]<int, byte, int, int, float*, int, float*, float*, int, float*, int, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_sgesdd");
            lib.dgesvd = (delegate* unmanaged[Cdecl]<int, byte, byte, int, int, double*, int, double*, double*, int, double*, int, double*, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dgesvd");
            lib.sgesvd = (delegate* unmanaged[Cdecl]<int, byte, byte, int, int, float*, int, float*, float*, int, float*, int, float*, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_sgesvd");
            lib.dgeqrf = (delegate* unmanaged[Cdecl]<int, int, int, double*, int, double*, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dgeqrf");
            lib.sgeqrf = (delegate* unmanaged[Cdecl]<int, int, int, float*, int, float*, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_sgeqrf");
            lib.dorgqr = (delegate* unmanaged[Cdecl]<int, int, int, int, double*, int, double*, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dorgqr");
            lib.sorgqr = (delegate* unmanaged[Cdecl]<int, int, int, int, float*, int, float*, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_sorgqr");
            lib.dgels = (delegate* unmanaged[Cdecl]<int, byte, int, int, int, double*, int, double*, int, int>)NativeLibrary.GetExport(lapacke, "LAPACKE_dgels");
            if (cblas != 0)
            {
                lib.cblas_dgemm = (delegate* unmanaged[Cdecl]<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)NativeLibrary.GetExport(cblas, "cblas_dgemm");
                lib.cblas_sgemm = (delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(cblas, "cblas_sgemm");
                lib.cblas_dtrsm = (delegate* unmanaged[Cdecl]<int, int, int, int, int, int, int, double, double*, int, double*, int, void>)NativeLibrary.GetExport(cblas, "cblas_dtrsm");
            }
            return (lib, "");
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"{lapackeName} is missing a LAPACKE/CBLAS entry point ({e.Message}). " +
                          $"On Debian/Ubuntu install: {LinearAlgebraProvider.InstallHint}");
        }
    }
}
