namespace Palu.LinearAlgebra;

/// <summary>
/// Thin (or truncated) singular value decomposition A ≈ U·diag(S)·Vt of an [m, n] matrix.
/// Singular values are non-negative and descending.
/// </summary>
/// <param name="U">[m, k] row-major, orthonormal columns.</param>
/// <param name="S">[k] singular values, descending.</param>
/// <param name="Vt">[k, n] row-major, orthonormal rows.</param>
public sealed record SvdResult<T>(T[] U, T[] S, T[] Vt, int Rows, int Cols, int Rank) where T : unmanaged;

/// <summary>Symmetric eigendecomposition A = V·diag(values)·Vᵀ.</summary>
/// <param name="Values">[n] eigenvalues, ascending.</param>
/// <param name="Vectors">[n, n] row-major; column j is the unit eigenvector of Values[j]. Null when not requested.</param>
public sealed record SymmetricEigenResult(double[] Values, double[]? Vectors, int N);

/// <summary>
/// A whitening factor S with S·Sᵀ = G + Jitter·I (ALGORITHMS.md §1.3).
/// </summary>
/// <param name="S">[n, n] row-major. Lower-triangular for the Cholesky variant; dense (U·Σ^½) for the symmetric square-root variant.</param>
/// <param name="Jitter">The multiple of I added to G before factorising; 0 when the plain factorisation succeeded.</param>
/// <param name="MinEigenvalue">λ_min(G) when it was computed (jitter fallback or square-root variant), otherwise NaN.</param>
/// <param name="Attempts">Number of Cholesky attempts (1 = no jitter needed).</param>
public sealed record WhiteningFactorResult(double[] S, int N, bool IsLowerTriangular, double Jitter, double MinEigenvalue, int Attempts)
{
    public bool UsedJitter => Jitter != 0;
}

/// <summary>A numerical failure (matrix not positive definite, no convergence, singular system).</summary>
public sealed class LinearAlgebraException(string message) : Exception(message);
