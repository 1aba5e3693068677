using System.Numerics.Tensors;

namespace Palu.LinearAlgebra;

/// <summary>
/// Householder QR in C# (double). Works on the transpose (column j of A = row j of At) so that every reflector
/// application is a contiguous dot + axpy; the columns right of the pivot are updated in parallel.
/// </summary>
internal static class ManagedQr
{
    /// <summary>Factored form of A [m, n] = Q·R, m ≥ n.</summary>
    /// <param name="At">[n, m] row-major. Row k, entries [k, m): Householder vector v_k (H_k = I − tau_k·v_k·v_kᵀ).
    /// Row j, entries [0, j): R[0..j, j] (the strict upper part of R, stored by columns).</param>
    /// <param name="Tau">[n] reflector scales (0 = identity).</param>
    /// <param name="RDiag">[n] diagonal of R.</param>
    internal sealed record Factored(double[] At, double[] Tau, double[] RDiag, int M, int N)
    {
        /// <summary>R [n, n] upper-triangular, row-major.</summary>
        public double[] R()
        {
            var r = new double[(long)N * N]; // [n, n]
            for (int k = 0; k < N; k++)
            {
                r[(long)k * N + k] = RDiag[k];
                for (int j = k + 1; j < N; j++) r[(long)k * N + j] = At[(long)j * M + k];
            }
            return r;
        }
    }

    public static Factored Factor(ReadOnlySpan<double> a, int m, int n)
    {
        if (m < n) throw new ArgumentException($"QR needs m >= n, got [{m}, {n}]");
        var at = Dense.Transpose(a, m, n); // [n, m]
        var tau = new double[n];           // [n]
        var rdiag = new double[n];         // [n]
        for (int k = 0; k < n; k++)
        {
            var v = at.AsSpan(k * m + k, m - k);
            double norm = TensorPrimitives.Norm(v);
            if (norm == 0) continue; // zero column: H_k = I, R[k, k] = 0
            double alpha = v[0] > 0 ? -norm : norm;
            v[0] -= alpha;
            tau[k] = 2 / TensorPrimitives.SumOfSquares(v);
            rdiag[k] = alpha;
            ApplyReflector(at, m, k, tau[k], at, m, k + 1, n);
        }
        return new Factored(at, tau, rdiag, m, n);
    }

    /// <summary>Thin Q [m, n] of a factored QR.</summary>
    public static double[] FormQ(Factored f)
    {
        int m = f.M, n = f.N;
        var qt = new double[(long)n * m]; // [n, m], row j = column j of Q
        for (int j = 0; j < n; j++) qt[(long)j * m + j] = 1;
        // Q·E = H_0·H_1·…·H_{n−1}·E; column j is untouched by H_k for k > j.
        for (int k = n - 1; k >= 0; k--)
            if (f.Tau[k] != 0) ApplyReflector(f.At, m, k, f.Tau[k], qt, m, k, n);
        return Dense.Transpose<double>(qt, n, m);
    }

    /// <summary>Applies Qᵀ = H_{n−1}·…·H_0 to every row of Bt [rows, m] (each row is one right-hand side).</summary>
    public static void ApplyQt(Factored f, double[] bt, int rows)
    {
        for (int k = 0; k < f.N; k++)
            if (f.Tau[k] != 0) ApplyReflector(f.At, f.M, k, f.Tau[k], bt, f.M, 0, rows);
    }

    /// <summary>x ← (I − tau·v·vᵀ)·x on entries [k, len) of rows [r0, r1) of X [*, len]; v = row k of V, entries [k, len).</summary>
    static void ApplyReflector(double[] v, int len, int k, double tau, double[] x, int ldx, int r0, int r1)
    {
        if (r1 <= r0) return;
        void Row(int j)
        {
            var vk = new ReadOnlySpan<double>(v, k * len + k, len - k);
            var xj = x.AsSpan(j * ldx + k, len - k);
            double w = tau * TensorPrimitives.Dot(vk, xj);
            TensorPrimitives.MultiplyAdd(vk, -w, xj, xj);
        }
        if ((long)(r1 - r0) * (len - k) < 65536) for (int j = r0; j < r1; j++) Row(j);
        else Parallel.For(r0, r1, Row);
    }

    /// <summary>min ‖A·X − B‖_F for A [m, n] (m ≥ n, full column rank), B [m, nrhs]. Returns X [n, nrhs].</summary>
    public static double[] LeastSquares(ReadOnlySpan<double> a, int m, int n, ReadOnlySpan<double> b, int nrhs)
    {
        var f = Factor(a, m, n);
        for (int k = 0; k < n; k++)
            if (f.RDiag[k] == 0) throw new LinearAlgebraException($"least squares: matrix [{m}, {n}] is rank deficient (R[{k},{k}] = 0)");
        var bt = Dense.Transpose(b, m, nrhs); // [nrhs, m]
        ApplyQt(f, bt, nrhs);
        var x = new double[(long)n * nrhs]; // [n, nrhs]
        for (int k = 0; k < n; k++)
            for (int r = 0; r < nrhs; r++) x[(long)k * nrhs + r] = bt[(long)r * m + k];
        ManagedTriangular.SolveUpperLeft(f.R(), n, x, nrhs);
        return x;
    }
}
