using System.Diagnostics;
using Palu.Kernels.Cpu;
using Palu.LinearAlgebra;

namespace Palu.Bench;

/// <summary>
/// <c>linalg</c> command: dense linear algebra timings, managed vs LAPACK, and randomized-SVD accuracy.
/// <code>
/// dotnet run -c Release --project bench/Palu.Bench -- linalg [--sizes 512,1024,2048] [--with-4096]
///     [--providers managed,lapack] [--ops chol,trinv,eig,svd,svd64,rsvd,gemm32,gemm64] [--reps N]
///     [--accuracy | --accuracy-only] [--threads N]
/// </code>
/// Each cell is the best of --reps calls (default 3 for n ≤ 1024, else 1) after a warm-up at n = 64; providers are
/// timed alternately, op by op, so background load hits both alike. Times exclude input generation.
/// </summary>
public static class LinalgBench
{
    static readonly string[] DefaultOps = ["chol", "trinv", "eig", "svd", "rsvd", "gemm32", "gemm64"];

    public static int Run(string[] args)
    {
        var sizes = new List<int> { 512, 1024, 2048 };
        var providers = new List<string> { "managed", "lapack" };
        var ops = DefaultOps.ToList();
        bool accuracy = false, timings = true;
        int? reps = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--sizes": sizes = args[++i].Split(',').Select(int.Parse).ToList(); break;
                case "--with-4096": if (!sizes.Contains(4096)) sizes.Add(4096); break;
                case "--providers": providers = args[++i].Split(',').ToList(); break;
                case "--ops": ops = args[++i].Split(',').ToList(); break;
                case "--reps": reps = int.Parse(args[++i]); break;
                case "--accuracy": accuracy = true; break;
                case "--accuracy-only": accuracy = true; timings = false; break;
                case "--threads": Parallelism.SetDefaultThreads(int.Parse(args[++i])); break;
                default: Console.Error.WriteLine($"linalg: unknown option '{args[i]}'"); return 2;
            }
        }

        var las = new List<ILinearAlgebra>();
        foreach (var p in providers)
        {
            try { las.Add(LinearAlgebraProvider.Create(p)); }
            catch (DllNotFoundException e) { Console.WriteLine($"skipping {p}: {e.Message}"); }
        }
        Console.WriteLine($"cores {Environment.ProcessorCount}, managed threads {Parallelism.Threads}");
        foreach (var la in las) Console.WriteLine($"provider: {la.Name}");
        if (timings) Timings(las, sizes, ops, reps);
        if (accuracy) RandomizedAccuracy(las.First(l => l.IsNative || las.Count == 1), sizes.Where(n => n >= 1024).DefaultIfEmpty(1024).ToList());
        return 0;
    }

    // ---------------------------------------------------------------- timings

    static void Timings(List<ILinearAlgebra> las, List<int> sizes, List<string> ops, int? reps)
    {
        foreach (var la in las) foreach (var op in ops) Time(la, op, 64); // warm-up (JIT, library init)
        Console.WriteLine();
        Console.WriteLine($"| op | n | {string.Join(" | ", las.Select(Short))} |{(las.Count == 2 ? " managed/lapack |" : "")}");
        Console.WriteLine($"|---|---:|{string.Concat(las.Select(_ => "---:|"))}{(las.Count == 2 ? "---:|" : "")}");
        foreach (int n in sizes)
            foreach (var op in ops)
            {
                var secs = Best(las, op, n, reps ?? (n <= 1024 ? 3 : 1));
                string cells = string.Join(" | ", secs.Select(s => Format(op, n, s)));
                string ratio = las.Count == 2 ? $" {secs[0] / secs[1]:F1}× |" : "";
                Console.WriteLine($"| {Label(op, n)} | {n} | {cells} |{ratio}");
            }
    }

    static string Short(ILinearAlgebra la) => la.IsNative ? "lapack s" : "managed s";

    static string Label(string op, int n) => op switch
    {
        "chol" => "Cholesky f64",
        "trinv" => "triangular inverse f64",
        "eig" => "symmetric eigen f64 (vectors)",
        "svd" => "thin SVD f32",
        "svd64" => "thin SVD f64",
        "rsvd" => $"randomized SVD f32 r={n / 4} (p={Math.Max(10, n / 40)}, q=2)",
        "gemm32" => "GEMM f32 n³",
        "gemm64" => "GEMM f64 n³",
        _ => op,
    };

    static string Format(string op, int n, double s) => op.StartsWith("gemm")
        ? $"{s:F3} ({2.0 * n * n * n / s / 1e9:F0} GFLOP/s)"
        : $"{s:F3}";

    /// <summary>Best of reps calls per provider, the providers taking turns.</summary>
    static double[] Best(List<ILinearAlgebra> las, string op, int n, int reps)
    {
        var best = Enumerable.Repeat(double.MaxValue, las.Count).ToArray();
        for (int r = 0; r < reps; r++)
            for (int p = 0; p < las.Count; p++) best[p] = Math.Min(best[p], Time(las[p], op, n));
        return best;
    }

    /// <summary>Seconds for one call of op at size n (inputs generated outside the timed region).</summary>
    static double Time(ILinearAlgebra la, string op, int n)
    {
        var g = new Gaussian((ulong)n);
        var sw = new Stopwatch();
        switch (op)
        {
            case "chol" or "trinv":
            {
                var x = g.Matrix(n, n);
                var spd = la.MatMul(x, x, n, n, n, transA: true); // [n, n]
                for (int i = 0; i < n; i++) spd[i * n + i] += n;
                if (op == "trinv") { la.TryCholesky(spd, n); sw.Start(); la.InvertLowerTriangular(spd, n); }
                else { sw.Start(); la.TryCholesky(spd, n); }
                break;
            }
            case "eig":
            {
                var x = g.Matrix(n, n);
                var spd = la.MatMul(x, x, n, n, n, transA: true);
                sw.Start(); la.SymmetricEigen(spd, n);
                break;
            }
            case "svd": { var a = Dense.ToSingle(g.Matrix(n, n)); sw.Start(); la.Svd(a, n, n); break; }
            case "svd64": { var a = g.Matrix(n, n); sw.Start(); la.Svd(a, n, n); break; }
            case "rsvd": { var a = Dense.ToSingle(g.Matrix(n, n)); sw.Start(); la.RandomizedSvd(a, n, n, n / 4); break; }
            case "gemm32":
            {
                var a = Dense.ToSingle(g.Matrix(n, n)); var b = Dense.ToSingle(g.Matrix(n, n)); var c = new float[n * n];
                sw.Start(); la.Gemm(false, false, n, n, n, 1f, a, b, 0f, c);
                break;
            }
            case "gemm64":
            {
                var a = g.Matrix(n, n); var b = g.Matrix(n, n); var c = new double[n * n];
                sw.Start(); la.Gemm(false, false, n, n, n, 1.0, a, b, 0.0, c);
                break;
            }
            default: throw new ArgumentException($"unknown op '{op}'");
        }
        return sw.Elapsed.TotalSeconds;
    }

    // ---------------------------------------------------------------- randomized SVD accuracy

    static void RandomizedAccuracy(ILinearAlgebra la, List<int> sizes)
    {
        Console.WriteLine();
        Console.WriteLine($"Randomized SVD accuracy (f32 input, provider {la.Name}); A = U·diag(σ)·Vᵀ with Haar U, V; r = n/4.");
        Console.WriteLine("residual ratio = ‖A − U_r·Σ_r·V_rᵀ‖_F / sqrt(Σ_{i≥r} σ_i²) (1 = optimal); σ err = max_{i<r} |σ̃_i − σ_i|/σ_i; top-half σ err = same over i < r/2.");
        Console.WriteLine();
        Console.WriteLine("| n | spectrum σ_i | p | q | residual ratio | max σ err | top-half σ err | time s |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|---:|");
        var spectra = new (string Name, Func<int, int, double> Sigma)[]
        {
            ("(1+i)^-0.5 (slow, LLM-like)", (i, n) => 1 / Math.Sqrt(1 + i)),
            ("(1+i)^-1", (i, n) => 1.0 / (1 + i)),
            ("exp(-8i/n)", (i, n) => Math.Exp(-8.0 * i / n)),
        };
        foreach (int n in sizes)
        {
            int r = n / 4;
            var u = Orthogonal(la, n, 1);
            var v = Orthogonal(la, n, 2);
            foreach (var (name, sigmaOf) in spectra)
            {
                var sigma = Enumerable.Range(0, n).Select(i => sigmaOf(i, n)).ToArray();
                var us = (double[])u.Clone();
                for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) us[i * n + j] *= sigma[j];
                var a = Dense.ToSingle(la.MatMul(us, v, n, n, n, transB: true)); // [n, n]
                double optimal = Math.Sqrt(sigma.Skip(r).Sum(s => s * s));
                foreach (var (p, q) in new[] { (10, 0), (10, 1), (10, 2), (Math.Max(10, r / 10), 1), (Math.Max(10, r / 10), 2), (Math.Max(10, r / 10), 4), (r / 2, 1), (r / 2, 2) })
                {
                    var sw = Stopwatch.StartNew();
                    var s = la.RandomizedSvd(a, n, n, r, new RandomizedSvdOptions { Oversampling = p, PowerIterations = q });
                    double secs = sw.Elapsed.TotalSeconds;
                    double residual = Residual(la, a, s, n);
                    double maxErr = 0;
                    for (int i = 0; i < r; i++) maxErr = Math.Max(maxErr, Math.Abs(s.S[i] - sigma[i]) / sigma[i]);
                    double headErr = 0;
                    for (int i = 0; i < r / 2; i++) headErr = Math.Max(headErr, Math.Abs(s.S[i] - sigma[i]) / sigma[i]);
                    Console.WriteLine($"| {n} | {name} | {p} | {q} | {residual / optimal:F4} | {maxErr:E1} | {headErr:E1} | {secs:F2} |");
                }
            }
        }
    }

    static double[] Orthogonal(ILinearAlgebra la, int n, ulong seed)
    {
        var q = new Gaussian(seed).Matrix(n, n);
        la.OrthonormalizeColumns(q, n, n);
        return q;
    }

    /// <summary>‖A − U·diag(S)·Vt‖_F, accumulated in double.</summary>
    static double Residual(ILinearAlgebra la, float[] a, SvdResult<float> s, int n)
    {
        int r = s.Rank;
        var us = (float[])s.U.Clone();
        for (int i = 0; i < n; i++) for (int j = 0; j < r; j++) us[i * r + j] *= s.S[j];
        var approx = la.MatMul(us, s.Vt, n, n, r);
        double sum = 0;
        for (int i = 0; i < a.Length; i++) { double d = (double)a[i] - approx[i]; sum += d * d; }
        return Math.Sqrt(sum);
    }
}
