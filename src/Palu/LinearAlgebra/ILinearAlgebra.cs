namespace Palu.LinearAlgebra;

/// <summary>
/// Dense linear algebra primitives on row-major arrays (element (i, j) of an [m, n] matrix at i·n + j).
/// Shapes are always passed explicitly; inputs are never modified unless the method says "in place".
/// Implementations: <see cref="LapackLinearAlgebra"/> (LAPACKE + CBLAS) and <see cref="ManagedLinearAlgebra"/>
/// (pure C#; the test oracle). Pick one with <see cref="LinearAlgebraProvider.Default"/>.
/// Higher-level operations (whitening, truncated / randomized SVD, pinv) are in <see cref="Factorizations"/>.
/// </summary>
public interface ILinearAlgebra
{
    /// <summary>Human-readable description, e.g. "lapack (liblapacke.so.3, cblas: libopenblas.so.0)".</summary>
    string Name { get; }

    /// <summary>True when backed by native LAPACK.</summary>
    bool IsNative { get; }

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C. op(A) is [m, k]: A is stored [m, k], or [k, m] when <paramref name="transA"/>.
    /// op(B) is [k, n]: B is stored [k, n], or [n, k] when <paramref name="transB"/>. C is [m, n].
    /// When beta is 0, C is overwritten (its old contents may be NaN).
    /// </summary>
    void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, ReadOnlySpan<double> b, double beta, Span<double> c);

    /// <inheritdoc cref="Gemm(bool, bool, int, int, int, double, ReadOnlySpan{double}, ReadOnlySpan{double}, double, Span{double})"/>
    void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c);

    /// <summary>
    /// In place Cholesky factorisation of a symmetric positive definite A [n, n] (only the lower triangle is read):
    /// on success A holds L (lower) with A = L·Lᵀ and its strict upper triangle is zeroed.
    /// Returns false when A is not numerically positive definite; A's contents are then unspecified.
    /// </summary>
    bool TryCholesky(Span<double> a, int n);

    /// <summary>
    /// Solves op(T)·X = B (<paramref name="left"/>) or X·op(T) = B (right) in place in B, where T [n, n] is lower
    /// or upper triangular with a non-zero diagonal (the other triangle is ignored) and op(T) = T or Tᵀ.
    /// B is [n, nrhs] when left, [nrhs, n] when right.
    /// </summary>
    void SolveTriangular(ReadOnlySpan<double> t, int n, bool lower, bool transpose, bool left, Span<double> b, int nrhs);

    /// <summary>In place inverse of a lower-triangular L [n, n]; the strict upper triangle is ignored and set to 0.</summary>
    void InvertLowerTriangular(Span<double> l, int n);

    /// <summary>Eigendecomposition of a symmetric A [n, n] (lower triangle read). Eigenvalues ascending.</summary>
    SymmetricEigenResult SymmetricEigen(ReadOnlySpan<double> a, int n, bool computeVectors = true);

    /// <summary>Thin SVD of A [m, n]: U [m, k], S [k] descending, Vt [k, n], k = min(m, n).</summary>
    SvdResult<double> Svd(ReadOnlySpan<double> a, int m, int n);

    /// <inheritdoc cref="Svd(ReadOnlySpan{double}, int, int)"/>
    SvdResult<float> Svd(ReadOnlySpan<float> a, int m, int n);

    /// <summary>In place: replaces A [m, n] (m ≥ n) by the Q factor of its thin QR decomposition (orthonormal columns).</summary>
    void OrthonormalizeColumns(Span<double> a, int m, int n);

    /// <inheritdoc cref="OrthonormalizeColumns(Span{double}, int, int)"/>
    void OrthonormalizeColumns(Span<float> a, int m, int n);

    /// <summary>
    /// Least squares min ‖A·X − B‖_F by Householder QR, A [m, n] with m ≥ n and full column rank, B [m, nrhs].
    /// Returns X [n, nrhs].
    /// </summary>
    double[] LeastSquares(ReadOnlySpan<double> a, int m, int n, ReadOnlySpan<double> b, int nrhs);
}
