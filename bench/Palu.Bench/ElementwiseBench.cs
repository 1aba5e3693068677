using Palu.Kernels.Cpu;
using static Palu.Bench.Harness;

namespace Palu.Bench;

/// <summary>RmsNorm, Softmax, LogSumExp, SwiGlu, AddBias, Rope: reference vs SIMD; GB/s counts each input and output once.</summary>
public static class ElementwiseBench
{
    public static void Run(bool quick)
    {
        double budget = quick ? 0.2 : 0.6;
        Console.WriteLine();
        Console.WriteLine("Elementwise (Gelem/s = elements / time; GB/s = bytes read + written once / time)");
        Console.WriteLine($"{"kernel",-9} {"shape",-21} | {"ref ms",9} {"simd 1T ms",10} {"simd ms",9} | {"Gelem/s",8} {"GB/s",7} | {"vs ref",7} {"vs 1T",6}");

        foreach (var (T, n) in new[] { (1, 4096), (64, 4096), (1024, 192), (512, 4096) })
        {
            var x = KernelBench.Random(1, T * n); var w = KernelBench.Random(2, n); var y = new float[T * n];   // [T, n], [n], [T, n]
            Row("RmsNorm", $"T={T} n={n}", T * n, 8.0 * T * n + 4.0 * n, budget,
                () => ReferenceKernels.RmsNorm(x, w, y, T, 1e-5f), () => SimdKernels.RmsNorm(x, w, y, T, 1e-5f));
        }
        foreach (int n in new[] { 1024, 32768 })
        {
            var src = KernelBench.Random(3, n); var x = new float[n];   // [n]
            Row("Softmax", $"n={n}", n, 8.0 * n, budget,
                () => { src.CopyTo(x, 0); ReferenceKernels.Softmax(x); }, () => { src.CopyTo(x, 0); SimdKernels.Softmax(x); });
        }
        foreach (int n in new[] { 4096, 151_936 })
        {
            var x = KernelBench.Random(9, n);   // [n] logits
            double sink = 0;
            Row("LogSumExp", $"n={n}", n, 4.0 * n, budget,
                () => sink += ReferenceKernels.LogSumExp(x), () => sink += SimdKernels.LogSumExp(x));
        }
        foreach (var (T, f) in new[] { (1, 11008), (64, 512), (1024, 512), (512, 11008) })
        {
            var g0 = KernelBench.Random(4, T * f); var u = KernelBench.Random(5, T * f); var g = new float[T * f];   // [T, f]
            Row("SwiGlu", $"T={T} f={f}", T * f, 12.0 * T * f, budget,
                () => { g0.CopyTo(g, 0); ReferenceKernels.SwiGlu(g, u); }, () => { g0.CopyTo(g, 0); SimdKernels.SwiGlu(g, u); });
        }
        foreach (var (T, m) in new[] { (1, 4096), (64, 4096) })
        {
            var y = KernelBench.Random(6, T * m); var b = KernelBench.Random(7, m);   // [T, m], [m]
            Row("AddBias", $"T={T} m={m}", T * m, 8.0 * T * m + 4.0 * m, budget,
                () => ReferenceKernels.AddBias(y, b, T), () => SimdKernels.AddBias(y, b, T));
        }
        foreach (var (T, heads, d) in new[] { (1, 32, 128), (64, 32, 128), (1024, 3, 64), (1024, 8, 8), (512, 32, 128) })
        {
            var table = new RopeTable(d, 2048, 10000.0);
            var x = KernelBench.Random(8, T * heads * d);   // [T, heads, d]
            Row("Rope", $"T={T} heads={heads} d={d}", T * heads * d, 8.0 * T * heads * d + 4.0 * T * d, budget,
                () => ReferenceKernels.Rope(x, T, heads, 0, table), () => SimdKernels.Rope(x, T, heads, 0, table));
        }
    }

    static void Row(string kernel, string shape, double elements, double bytes, double budget, Action reference, Action simd)
    {
        var t = CompareThreads(budget, simd, reference);
        Console.WriteLine($"{kernel,-9} {shape,-21} | {Ms(t[2]),9} {Ms(t[1]),10} {Ms(t[0]),9} | {Rate(elements, t[0]),8} {Rate(bytes, t[0]),7} | {Ratio(t[2], t[0]),7} {Ratio(t[1], t[0]),6}");
    }
}
