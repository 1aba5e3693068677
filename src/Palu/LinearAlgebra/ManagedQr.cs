using System.Numerics.Tensors;

namespace Palu.LinearAlgebra;

/// <summary>
/// Blocked Householder QR in C# (double). Works on the transpose (column j of A = row j of At) so that reflectors
/// inside a panel of NB columns are contiguous dot + axpy; each finished panel is applied to the rest as a compact-WY
/// block reflector I − V·T·Vᵀ with three <see cref="ManagedGemm"/> calls.
/// </summary>
internal static unsafe class ManagedQr
{
    const int NB = 32; // panel width
    /// <summary>Factored form of A [m, n] = Q·R, m ≥ n.</summary>
    /// <param name="At">[n, m] row-major. Row k, entries [k, m): Householder vector v_k (H_k = I − tau_k·v_k·v_kᵀ).
    /// Row j, entries [0, j): R[0..j, j] (the strict upper part of R, stored by columns).</param>
    /// <param name="Tau">[n] reflector scales (0 = identity).</param>
    /// <param name="RDiag">[n] diagonal of R.</param>
    internal sealed record Factored(double[] At, double[] Tau, double[] RDiag, int M, int N)
    {
        /// <summary>R [n, n] upper-triangular, row-major; or Rᵀ (lower-triangular) when <paramref name="transposed"/>.</summary>
        public double[] R(bool transposed = false)
        {
            var r = new double[(long)N * N]; // [n, n]
            for (int k = 0; k < N; k++)
            {
                r[(long)k * N + k] = RDiag[k];
                for (int j = k + 1; j < N; j++) r[transposed ? (long)j * N + k : (long)k * N + j] = At[(long)j * M + k];
            }
            return r;
        }
    }

    public static Factored Factor(ReadOnlySpan<double> a, int m, int n)
    {
        CheckTall(m, n);
        return FactorInPlace(Dense.Transpose(a, m, n), m, n);
    }

    /// <summary>QR of A [m, n] given as its transpose <paramref name="at"/> [n, m] row-major (for a wide B [n, m]: the QR of Bᵀ, no transpose).</summary>
    public static Factored FactorTransposed(ReadOnlySpan<double> at, int m, int n)
    {
        CheckTall(m, n);
        Dense.CheckShape(at.Length, n, m, nameof(at));
        return FactorInPlace(at[..(n * m)].ToArray(), m, n);
    }

    static void CheckTall(int m, int n)
    {
        if (m < n) throw new ArgumentException($"QR needs m >= n, got [{m}, {n}]");
    }

    /// <summary>Factors in place <paramref name="at"/> = Aᵀ [n, m] (becomes <see cref="Factored.At"/>).</summary>
    static Factored FactorInPlace(double[] at, int m, int n)
    {
        var tau = new double[n];           // [n]
        var rdiag = new double[n];         // [n]
        for (int k0 = 0; k0 < n; k0 += NB)
        {
            int kb = Math.Min(NB, n - k0);
            for (int k = k0; k < k0 + kb; k++)
            {
                var v = at.AsSpan(k * m + k, m - k);
                double norm = TensorPrimitives.Norm(v);
                if (norm == 0) continue; // zero column: H_k = I, R[k, k] = 0
                double alpha = v[0] > 0 ? -norm : norm;
                v[0] -= alpha;
                tau[k] = 2 / TensorPrimitives.SumOfSquares(v);
                rdiag[k] = alpha;
                ApplyReflector(at, m, k, tau[k], at, m, k + 1, k0 + kb); // rest of the panel
            }
            ApplyBlock(at, m, k0, kb, tau, at, m, k0 + kb, n, transposeT: false); // Qᵀ_panel on the trailing columns
        }
        return new Factored(at, tau, rdiag, m, n);
    }

    /// <summary>Thin Q [m, n] of a factored QR.</summary>
    public static double[] FormQ(Factored f) => Dense.Transpose<double>(FormQt(f), f.N, f.M);

    /// <summary>Qᵀ [n, m] of a factored QR (row j = column j of the thin Q).</summary>
    public static double[] FormQt(Factored f)
    {
        int m = f.M, n = f.N;
        var qt = new double[(long)n * m]; // [n, m], row j = column j of Q
        for (int j = 0; j < n; j++) qt[(long)j * m + j] = 1;
        // Q·E = B_0·B_1·…·E with panel reflectors B = I − V·T·Vᵀ; columns j < k0 are untouched by panel k0.
        for (int k0 = (n - 1) / NB * NB; k0 >= 0; k0 -= NB)
            ApplyBlock(f.At, m, k0, Math.Min(NB, n - k0), f.Tau, qt, m, k0, n, transposeT: true);
        return qt;
    }

    /// <summary>Applies Qᵀ to every row of Bt [rows, m] (each row is one right-hand side).</summary>
    public static void ApplyQt(Factored f, double[] bt, int rows)
    {
        for (int k0 = 0; k0 < f.N; k0 += NB)
            ApplyBlock(f.At, f.M, k0, Math.Min(NB, f.N - k0), f.Tau, bt, f.M, 0, rows, transposeT: false);
    }

    /// <summary>
    /// Rows [r0, r1) of X [*, m] (as row vectors x, entries [k0, m)) ← x·(I − V·T·Vᵀ) (transposeT false: applies
    /// Bᵀ = H_{k0+kb−1}⋯H_{k0} to the column xᵀ) or x·(I − V·Tᵀ·Vᵀ) (true: applies B = H_{k0}⋯H_{k0+kb−1}).
    /// V [m − k0, kb] holds reflectors k0..k0+kb−1 of <paramref name="at"/>; T is the compact-WY factor (LAPACK dlarft).
    /// </summary>
    static void ApplyBlock(double[] at, int m, int k0, int kb, double[] tau, double[] x, int ldx, int r0, int r1, bool transposeT)
    {
        int rows = r1 - r0, len = m - k0;
        if (rows <= 0 || kb <= 0) return;
        var vt = new double[(long)kb * len]; // [kb, len]: row i = v_{k0+i}, zero before its pivot
        for (int i = 0; i < kb; i++) at.AsSpan((k0 + i) * m + k0 + i, len - i).CopyTo(vt.AsSpan(i * len + i));
        var t = new double[kb * kb]; // [kb, kb] upper: B = I − V·T·Vᵀ
        Span<double> w = stackalloc double[kb]; // [kb] w_j = v_jᵀ·v_i
        for (int i = 0; i < kb; i++)
        {
            double ti = tau[k0 + i];
            t[i * kb + i] = ti;
            if (ti == 0) continue;
            for (int j = 0; j < i; j++) w[j] = TensorPrimitives.Dot(vt.AsSpan(j * len + i, len - i), vt.AsSpan(i * len + i, len - i));
            for (int r = 0; r < i; r++)
            {
                double s = 0;
                for (int j = r; j < i; j++) s += t[r * kb + j] * w[j];
                t[r * kb + i] = -ti * s;
            }
        }
        var xv = new double[(long)rows * kb];  // [rows, kb] = X·V
        var xvt = new double[(long)rows * kb]; // [rows, kb] = X·V·op(T)
        fixed (double* px = x) fixed (double* pv = vt) fixed (double* pt = t) fixed (double* pxv = xv) fixed (double* pxvt = xvt)
        {
            double* xs = px + (long)r0 * ldx + k0;
            ManagedGemm.Gemm(false, true, rows, kb, len, 1.0, xs, ldx, pv, len, 0.0, pxv, kb);
            ManagedGemm.Gemm(false, transposeT, rows, kb, kb, 1.0, pxv, kb, pt, kb, 0.0, pxvt, kb);
            ManagedGemm.Gemm(false, false, rows, len, kb, -1.0, pxvt, kb, pv, len, 1.0, xs, ldx);
        }
    }

    /// <summary>x ← (I − tau·v·vᵀ)·x on entries [k, len) of rows [r0, r1) of X [*, len]; v = row k of V, entries [k, len).</summary>
    static void ApplyReflector(double[] v, int len, int k, double tau, double[] x, int ldx, int r0, int r1)
    {
        if (r1 <= r0) return;
        ManagedParallel.Rows(r1 - r0, len - k, i =>
        {
            int j = r0 + i;
            var vk = new ReadOnlySpan<double>(v, k * len + k, len - k);
            var xj = x.AsSpan(j * ldx + k, len - k);
            double w = tau * TensorPrimitives.Dot(vk, xj);
            TensorPrimitives.MultiplyAdd(vk, -w, xj, xj);
        });
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
