namespace Palu.LinearAlgebra;

/// <summary>
/// Native provider: LAPACKE (row-major) for factorisations, CBLAS for GEMM/TRSM. Without an optimised CBLAS
/// (OpenBLAS, ATLAS) GEMM and TRSM fall back to the managed kernels. Obtain it through
/// <see cref="LinearAlgebraProvider.Lapack"/> or <see cref="TryCreate"/>.
/// </summary>
public sealed unsafe class LapackLinearAlgebra : ILinearAlgebra
{
    const byte L = (byte)'L', N = (byte)'N', V = (byte)'V', S = (byte)'S';
    readonly NativeLapack _lib;
    readonly ManagedLinearAlgebra _managed = new();

    LapackLinearAlgebra(NativeLapack lib) => _lib = lib;

    /// <summary>Loads LAPACKE/CBLAS; returns null (and why) when LAPACKE is missing.</summary>
    public static LapackLinearAlgebra? TryCreate(out string error)
    {
        var lib = NativeLapack.TryGet(out error);
        return lib is null ? null : new LapackLinearAlgebra(lib);
    }

    public string Name => $"lapack ({_lib.LapackeLibrary}, cblas: {_lib.CblasLibrary ?? "none, managed GEMM"})";
    public bool IsNative => true;

    public void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, ReadOnlySpan<double> b, double beta, Span<double> c)
    {
        if (!_lib.HasCblas || m == 0 || n == 0) { _managed.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c); return; }
        Checks.Gemm(a.Length, b.Length, c.Length, m, n, k);
        fixed (double* pa = a) fixed (double* pb = b) fixed (double* pc = c)
            _lib.cblas_dgemm(NativeLapack.RowMajor, transA ? NativeLapack.Trans : NativeLapack.NoTrans, transB ? NativeLapack.Trans : NativeLapack.NoTrans,
                m, n, k, alpha, pa, Math.Max(1, transA ? m : k), pb, Math.Max(1, transB ? k : n), beta, pc, n);
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
    {
        if (!_lib.HasCblas || m == 0 || n == 0) { _managed.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c); return; }
        Checks.Gemm(a.Length, b.Length, c.Length, m, n, k);
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            _lib.cblas_sgemm(NativeLapack.RowMajor, transA ? NativeLapack.Trans : NativeLapack.NoTrans, transB ? NativeLapack.Trans : NativeLapack.NoTrans,
                m, n, k, alpha, pa, Math.Max(1, transA ? m : k), pb, Math.Max(1, transB ? k : n), beta, pc, n);
    }

    public bool TryCholesky(Span<double> a, int n)
    {
        Dense.CheckShape(a.Length, n, n, nameof(a));
        if (n == 0) return true;
        int info;
        fixed (double* pa = a) info = _lib.dpotrf(NativeLapack.RowMajor, L, n, pa, n);
        Info("dpotrf", info, allowPositive: true);
        if (info > 0) return false;
        Dense.ZeroStrictUpper(a, n);
        return true;
    }

    public void SolveTriangular(ReadOnlySpan<double> t, int n, bool lower, bool transpose, bool left, Span<double> b, int nrhs)
    {
        Dense.CheckShape(t.Length, n, n, nameof(t));
        Dense.CheckShape(b.Length, n, nrhs, nameof(b));
        if (!_lib.HasCblas) { _managed.SolveTriangular(t, n, lower, transpose, left, b, nrhs); return; }
        if (n == 0 || nrhs == 0) return;
        int rows = left ? n : nrhs, cols = left ? nrhs : n; // B is [rows, cols]
        fixed (double* pt = t) fixed (double* pb = b)
            _lib.cblas_dtrsm(NativeLapack.RowMajor, left ? NativeLapack.Left : NativeLapack.Right, lower ? NativeLapack.Lower : NativeLapack.Upper,
                transpose ? NativeLapack.Trans : NativeLapack.NoTrans, NativeLapack.NonUnit, rows, cols, 1.0, pt, n, pb, cols);
    }

    public void InvertLowerTriangular(Span<double> l, int n)
    {
        Dense.CheckShape(l.Length, n, n, nameof(l));
        if (n == 0) return;
        int info;
        fixed (double* pl = l) info = _lib.dtrtri(NativeLapack.RowMajor, L, N, n, pl, n);
        if (info > 0) throw new LinearAlgebraException($"triangular inverse: L[{info - 1},{info - 1}] = 0 (singular)");
        Info("dtrtri", info);
        Dense.ZeroStrictUpper(l, n);
    }

    public SymmetricEigenResult SymmetricEigen(ReadOnlySpan<double> a, int n, bool computeVectors = true)
    {
        Dense.CheckShape(a.Length, n, n, nameof(a));
        var work = a[..(n * n)].ToArray(); // [n, n], becomes the eigenvectors (columns)
        var w = new double[n];             // [n] ascending
        if (n == 0) return new SymmetricEigenResult(w, computeVectors ? work : null, 0);
        int info;
        fixed (double* pa = work) fixed (double* pw = w) info = _lib.dsyevd(NativeLapack.RowMajor, computeVectors ? V : N, L, n, pa, n, pw);
        if (info > 0) throw new LinearAlgebraException($"dsyevd: eigensolver did not converge (info {info}) for a [{n}, {n}] matrix");
        Info("dsyevd", info);
        return new SymmetricEigenResult(w, computeVectors ? work : null, n);
    }

    public SvdResult<double> Svd(ReadOnlySpan<double> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        int k = Math.Min(m, n);
        var s = new double[k];                 // [k]
        var u = new double[(long)m * k];       // [m, k]
        var vt = new double[(long)k * n];      // [k, n]
        if (k == 0) return new SvdResult<double>(u, s, vt, m, n, 0);
        var work = a[..(m * n)].ToArray();     // [m, n], destroyed
        int info;
        fixed (double* pa = work) fixed (double* ps = s) fixed (double* pu = u) fixed (double* pv = vt)
            info = _lib.dgesdd(NativeLapack.RowMajor, S, m, n, pa, n, ps, pu, k, pv, n);
        if (info > 0)
        {
            // Divide and conquer failed to converge: retry with the QR-iteration driver.
            a[..(m * n)].CopyTo(work);
            var superb = new double[Math.Max(1, k - 1)]; // [k − 1] unconverged superdiagonal
            fixed (double* pa = work) fixed (double* ps = s) fixed (double* pu = u) fixed (double* pv = vt) fixed (double* pw = superb)
                info = _lib.dgesvd(NativeLapack.RowMajor, S, S, m, n, pa, n, ps, pu, k, pv, n, pw);
            if (info > 0) throw new LinearAlgebraException($"dgesvd: SVD of a [{m}, {n}] matrix did not converge (info {info})");
        }
        Info("dgesdd/dgesvd", info);
        return new SvdResult<double>(u, s, vt, m, n, k);
    }

    public SvdResult<float> Svd(ReadOnlySpan<float> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        int k = Math.Min(m, n);
        var s = new float[k];                  // [k]
        var u = new float[(long)m * k];        // [m, k]
        var vt = new float[(long)k * n];       // [k, n]
        if (k == 0) return new SvdResult<float>(u, s, vt, m, n, 0);
        var work = a[..(m * n)].ToArray();     // [m, n], destroyed
        int info;
        fixed (float* pa = work) fixed (float* ps = s) fixed (float* pu = u) fixed (float* pv = vt)
            info = _lib.sgesdd(NativeLapack.RowMajor, S, m, n, pa, n, ps, pu, k, pv, n);
        if (info > 0)
        {
            a[..(m * n)].CopyTo(work);
            var superb = new float[Math.Max(1, k - 1)]; // [k − 1] unconverged superdiagonal
            fixed (float* pa = work) fixed (float* ps = s) fixed (float* pu = u) fixed (float* pv = vt) fixed (float* pw = superb)
                info = _lib.sgesvd(NativeLapack.RowMajor, S, S, m, n, pa, n, ps, pu, k, pv, n, pw);
            if (info > 0) throw new LinearAlgebraException($"sgesvd: SVD of a [{m}, {n}] matrix did not converge (info {info})");
        }
        Info("sgesdd/sgesvd", info);
        return new SvdResult<float>(u, s, vt, m, n, k);
    }

    public void OrthonormalizeColumns(Span<double> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        if (m < n) throw new ArgumentException($"QR needs m >= n, got [{m}, {n}]");
        if (n == 0) return;
        var tau = new double[n]; // [n]
        fixed (double* pa = a) fixed (double* pt = tau)
        {
            Info("dgeqrf", _lib.dgeqrf(NativeLapack.RowMajor, m, n, pa, n, pt));
            Info("dorgqr", _lib.dorgqr(NativeLapack.RowMajor, m, n, n, pa, n, pt));
        }
    }

    public void OrthonormalizeColumns(Span<float> a, int m, int n)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        if (m < n) throw new ArgumentException($"QR needs m >= n, got [{m}, {n}]");
        if (n == 0) return;
        var tau = new float[n]; // [n]
        fixed (float* pa = a) fixed (float* pt = tau)
        {
            Info("sgeqrf", _lib.sgeqrf(NativeLapack.RowMajor, m, n, pa, n, pt));
            Info("sorgqr", _lib.sorgqr(NativeLapack.RowMajor, m, n, n, pa, n, pt));
        }
    }

    public double[] LeastSquares(ReadOnlySpan<double> a, int m, int n, ReadOnlySpan<double> b, int nrhs)
    {
        Dense.CheckShape(a.Length, m, n, nameof(a));
        Dense.CheckShape(b.Length, m, nrhs, nameof(b));
        if (m < n) throw new ArgumentException($"least squares needs m >= n, got [{m}, {n}]");
        var x = new double[(long)n * nrhs]; // [n, nrhs]
        if (n == 0 || nrhs == 0) return x;
        var work = a[..(m * n)].ToArray();      // [m, n], destroyed
        var rhs = b[..(m * nrhs)].ToArray();    // [m, nrhs], first n rows become X
        int info;
        fixed (double* pa = work) fixed (double* pb = rhs) info = _lib.dgels(NativeLapack.RowMajor, N, m, n, nrhs, pa, n, pb, nrhs);
        if (info > 0) throw new LinearAlgebraException($"least squares: matrix [{m}, {n}] is rank deficient (R[{info - 1},{info - 1}] = 0)");
        Info("dgels", info);
        rhs.AsSpan(0, n * nrhs).CopyTo(x);
        return x;
    }

    static void Info(string routine, int info, bool allowPositive = false)
    {
        if (info < 0) throw new ArgumentException($"{routine}: argument {-info} had an illegal value");
        if (info > 0 && !allowPositive) throw new LinearAlgebraException($"{routine} failed (info {info})");
    }
}
